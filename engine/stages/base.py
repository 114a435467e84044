"""The stage contract.

A stage is built once per worker (``setup`` loads models), then ``process`` is called
with one Arrow table of documents (:data:`engine.core.records.DOC_SCHEMA`, all from one
source) and a :class:`SourceContext`.  It returns the documents that go on, the
documents it dropped (each a :class:`~engine.core.records.Drop` with its bucket and
reason), and counters for the ledger (e.g. ``phi:PERSON``).  Running a stage twice on
the same input gives the same output (retry safety).  Stages know nothing about Ray.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from engine.core.records import Drop


@dataclass
class SourceContext:
    """What a stage knows about the source of the batch it is processing."""

    name: str
    config: object  # engine.core.manifest.SourceConfig
    manifest: object  # engine.core.manifest.Manifest
    placeholder: str | None = None  # regex of the source's own de-id placeholders
    deid_policy: str = "verify"


@dataclass(frozen=True)
class Resources:
    """What a stage needs per worker; the executor sizes its workers from the largest need."""

    num_cpus: float = 1.0
    #: memory a worker should have for the stage's models (None: no stated need)
    memory_mb: int | None = None

    @staticmethod
    def largest(needs: "list[Resources]") -> "Resources":
        cpus = max((r.num_cpus for r in needs), default=1.0)
        mems = [r.memory_mb for r in needs if r.memory_mb is not None]
        return Resources(cpus, max(mems) if mems else None)


@dataclass
class StageResult:
    table: pa.Table
    drops: list[Drop] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


class Stage:
    name: ClassVar[str] = "stage"
    #: CPUs the stage wants per worker (see :meth:`resources`)
    num_cpus: ClassVar[float] = 1.0
    #: memory the stage's models take per worker, when it matters
    memory_mb: ClassVar[int | None] = None

    @classmethod
    def resources(cls) -> Resources:
        """What the executor reserves per worker for this stage (``resources.cpus_per_worker`` overrides)."""
        return Resources(cls.num_cpus, cls.memory_mb)

    @classmethod
    def wanted(cls, manifest) -> bool:
        """Whether the stage has anything to do for this manifest (e.g. de-id when every source skips it: no)."""
        return True

    def __init__(self, manifest) -> None:
        self.manifest = manifest

    def setup(self) -> None:
        """Load models / compile patterns; called once per worker before the first batch."""

    def process(self, table: pa.Table, ctx: SourceContext) -> StageResult:  # pragma: no cover - interface
        raise NotImplementedError

    def teardown(self) -> None:
        """Release what ``setup`` loaded; called once per worker when the build's executor closes."""

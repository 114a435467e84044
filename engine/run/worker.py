"""The per-process state the build steps run with: built once per worker process, torn down at the end.

A :class:`Worker` holds what is costly to load and the same for every task: the manifest's
stages (``setup`` once, ``teardown`` when the executor closes), the tokenizer, the connectors
and the near-dedup mapper.  The steps themselves are plain functions in :mod:`engine.steps`;
the executors (:mod:`engine.run.local`, :mod:`engine.run.ray_executor`) build one ``Worker``
per process from a picklable :class:`WorkerSpec` and call steps with it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from connectors import registry as connectors
from engine.core.layout import Layout
from engine.stages import registry as stages
from engine.stages.base import SourceContext


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to build its :class:`Worker` (an executor's ``worker_factory``)."""

    manifest: object
    out: str
    tokenizer_spec: str

    def __call__(self) -> "Worker":
        return Worker(self.manifest, self.out, self.tokenizer_spec)


class Worker:
    """Stages, tokenizer, connectors and near-dedup mapper of one worker process.

    ``setup_seconds`` says what building it cost (``setup.<stage>``, ``setup.near_map``; the
    tokenizer loads in milliseconds, on first use); the first unit the worker reads reports them with its own timings
    (:meth:`take_setup_seconds`), so the build's timings show every worker's start-up.
    """

    def __init__(self, manifest, out: str, tokenizer_spec: str | None = None) -> None:
        self.manifest = manifest
        self.layout = Layout(out)
        self._tok_spec = tokenizer_spec or manifest.tokenizer
        self._tok = None
        self._connectors: dict[str, object] = {}
        self.setup_seconds: dict[str, float] = {}
        self.stages = stages.build_stages(manifest)
        for s in self.stages:
            t0 = time.perf_counter()
            s.setup()
            self.setup_seconds[f"setup.{s.name}"] = time.perf_counter() - t0
        self.near = None
        if manifest.dedup.near is not None and manifest.dedup.near.enabled:
            from engine.dedup.near_map import NearDedupMapper

            t0 = time.perf_counter()
            self.near = NearDedupMapper(manifest)
            self.setup_seconds["setup.near_map"] = time.perf_counter() - t0

    def take_setup_seconds(self) -> dict[str, float]:
        """The set-up timings, once (the first unit read on this worker reports them)."""
        out, self.setup_seconds = self.setup_seconds, {}
        return {k: round(v, 4) for k, v in out.items()}

    @property
    def tokenizer(self):
        if self._tok is None:
            from engine.tokenizer import load_tokenizer

            self._tok = load_tokenizer(self._tok_spec)
        return self._tok

    def connector(self, source: str):
        if source not in self._connectors:
            cfg = self.manifest.source(source)
            self._connectors[source] = connectors.get(cfg.connector)(cfg, self.manifest)
        return self._connectors[source]

    def context(self, source: str) -> SourceContext:
        cfg = self.manifest.source(source)
        conn = self.connector(source)
        return SourceContext(source, cfg, self.manifest, getattr(conn, "placeholder", None), self.manifest.deid_policy(cfg))

    def teardown(self) -> None:
        for s in self.stages:
            s.teardown()

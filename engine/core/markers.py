"""Progress markers: what each build step leaves under ``OUT/_staging`` when it is done.

A marker is written atomically after its step's files, so its presence means "this step of
this unit (or pack group) is finished" and a resumed build reads it back instead of redoing
the work.  Per-unit markers and their files are written without an fsync; ``files`` records the
size and hash of every file a marker vouches for, and a resumed build redoes a unit whose marker
does not parse or whose files do not match (:func:`engine.core.stamps.stamps_match`).  The driver aggregates markers into the ledger (:mod:`engine.output.ledger`), whose
per-source fields the ``counts`` keys are named after (``written``, ``chars_written``,
``tokens``, bucket names, ``phi:<ENTITY>`` ...).  Markers hold ids, counts, reasons with
numbers folded, and seconds: never document text.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Marker:
    """Fields every marker has; ``to_json`` / ``from_json`` are its on-disk form."""

    unit_id: str
    source: str
    #: ledger counters of this step (bucket counts, tokens, ``phi:<ENTITY>`` ...)
    counts: dict[str, int] = field(default_factory=dict)
    #: per bucket: reason (numbers folded) -> documents
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the step's quarantine file, relative to the output folder
    quarantine_file: str | None = None
    #: seconds per part of the step, and ``total``
    seconds: dict[str, float] = field(default_factory=dict)
    #: the step's files, relative to the output folder -> ``[size, xxh3-64 hex]`` (:func:`engine.core.fsio.stamp`)
    files: dict[str, list] = field(default_factory=dict)

    kind: ClassVar[str] = "marker"

    def to_json(self) -> dict[str, Any]:
        # one level deep (every field is a scalar or a dict of scalars / one-level dicts): no deep copy per unit
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: ({a: (dict(b) if isinstance(b, dict) else b) for a, b in v.items()} if isinstance(v, dict) else v)
                for k, v in out.items()} | {"kind": self.kind}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Marker":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ReadDone(Marker):
    """The read step finished a unit: its surviving documents, dedup keys and quarantine are staged."""

    location: str = ""
    read: int = 0
    bytes_read: int = 0
    kept: int = 0
    kept_chars: int = 0
    #: some document of the unit carries a version key ("latest version wins" applies)
    keyed: bool = False
    #: the unit has a near-dedup staging file
    near: bool = False

    kind: ClassVar[str] = "read"


@dataclass
class ReadFailed(Marker):
    """The unit's reader failed midway: the whole unit is one quarantined record (no documents staged)."""

    location: str = ""
    bytes_read: int = 0

    kind: ClassVar[str] = "read_failed"
    read: ClassVar[int] = 1
    kept: ClassVar[int] = 0
    kept_chars: ClassVar[int] = 0
    keyed: ClassVar[bool] = False
    near: ClassVar[bool] = False

    def to_json(self) -> dict[str, Any]:
        return super().to_json() | {"read": 1}


@dataclass
class TokenizeDone(Marker):
    """The tokenize step finished a unit: its surviving documents are token windows; dedup drops applied."""

    kind: ClassVar[str] = "tokenize"


@dataclass
class TempShard:
    """A shard written by a pack task under staging, not yet committed."""

    path: str
    rows: int
    tokens: int
    segments: int
    bytes: int
    sha256: str


@dataclass
class PackDone:
    """A pack task's result: the temporary shards of one pack group, in order."""

    source: str
    group: int
    units: list[str]
    temp_shards: list[TempShard]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class GroupCommitted:
    """A pack group whose shards were renamed into place (``shards``: ledger entries, in order)."""

    source: str
    group: int
    units: list[str]
    shards: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "GroupCommitted":
        return cls(**{k: d[k] for k in ("source", "group", "units", "shards", "seconds") if k in d})


def read_marker(d: dict[str, Any]) -> ReadDone | ReadFailed:
    """A read marker from its JSON form."""
    return ReadFailed.from_json(d) if d.get("kind") == ReadFailed.kind else ReadDone.from_json(d)

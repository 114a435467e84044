"""The records that flow between connectors, stages and the driver.

A connector's ``read`` yields :class:`Doc`, :class:`Drop` and :class:`Tombstone`
objects; the unit processor batches documents into Arrow tables with
:data:`DOC_SCHEMA` before any stage sees them.  Every document read ends in
exactly one of :data:`BUCKETS`; a :class:`Drop` says which bucket and why.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

#: Where a document read can end.  ``read = sum of all buckets``.
BUCKETS = ("written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined")
DROP_BUCKETS = BUCKETS[1:]

#: Document batches between stages (one source per batch).
DOC_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("meta", pa.string()),  # compact JSON object, may be null
        # optional global "latest version wins" key (e.g. pubmed PMID) and its rank
        pa.field("key", pa.string()),
        pa.field("rank", pa.int64()),
    ]
)

#: One record per dropped document: quarantine/<source>/*.parquet and the dedup drop tables.
DROP_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("bucket", pa.string(), nullable=False),  # one of DROP_BUCKETS
        pa.field("stage", pa.string(), nullable=False),  # reader, normalize, deid, filter, exact_dedup, near_dedup, supersede, tokenize
        pa.field("reason", pa.string(), nullable=False),  # short, never contains document text
        pa.field("location", pa.string()),  # file / member / byte offset / row, for a person to find the record
        pa.field("dup_of", pa.string()),  # keeper doc_id for duplicates
        pa.field("unit_id", pa.string()),
        pa.field("text", pa.large_string()),  # kept only for quarantined records (never logged); deid_rejected: none
        pa.field("phi_spans", pa.string()),  # deid_rejected: JSON [[start, end, TYPE], ...] (offsets, no values)
    ]
)


@dataclass(slots=True)
class Doc:
    """A document as a connector produces it."""

    doc_id: str
    text: str
    meta: dict[str, Any] | None = None
    #: latest-version-wins key across the whole source (e.g. ``pubmed:12345``), or None
    key: str | None = None
    #: rank within ``key``: the highest rank is kept, the rest are ``filtered`` as superseded
    rank: int = 0


@dataclass(slots=True)
class Drop:
    """A record the connector could not turn into a document, or chose to drop.

    Counts as one document read.  ``bucket`` is ``quarantined`` (unreadable, malformed)
    or ``filtered`` (a source rule, e.g. MIMIC-III ISERROR=1).  ``reason`` must never
    carry document text: ids, offsets, exception class names only.
    """

    doc_id: str
    bucket: str
    reason: str
    location: str | None = None
    text: str | None = None
    stage: str = "reader"
    #: deid_rejected: the PHI hits as JSON ``[[start, end, TYPE], ...]`` (offsets and types only)
    spans: str | None = None


@dataclass(slots=True)
class Tombstone:
    """A deletion of every document with ``key`` whose rank is lower than ``rank``
    (e.g. PubMed ``DeleteCitation``).  Not a document: it is not counted as read;
    the documents it removes are counted as ``filtered`` with ``reason``."""

    key: str
    rank: int
    reason: str = "deleted upstream"


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """A piece of input small enough to retry: a file, an archive member group, or a byte range.

    ``unit_id`` is derived from the input identity (path, size, mtime/etag, range), so a
    resumed build recognises finished units.
    """

    source: str
    path: str  # fsspec URI of the file (or archive)
    size: int = 0
    version: str = ""  # mtime or etag
    start: int = 0  # byte offset (range units) or 0
    end: int = -1  # byte offset (exclusive) or -1 for the whole file
    members: tuple[str, ...] = ()  # archive members for member-group units
    unit_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.unit_id:
            h = hashlib.sha1(
                "\x1f".join(
                    [self.source, self.path, str(self.size), self.version, str(self.start), str(self.end), *self.members]
                ).encode()
            ).hexdigest()[:16]
            object.__setattr__(self, "unit_id", h)

    @property
    def location(self) -> str:
        loc = self.path
        if self.end >= 0:
            loc += f"[{self.start}:{self.end}]"
        if self.members:
            loc += f"::{self.members[0]}" + (f"..(+{len(self.members) - 1})" if len(self.members) > 1 else "")
        return loc


def safe_reason(exc: BaseException, context: str = "") -> str:
    """An exception rendered without any payload text.

    Parsers put the offending input into their messages (polars, lxml, json echo the
    line); a reason carries the exception class and numeric positions only.
    """
    name = type(exc).__name__
    pos = []
    for attr in ("lineno", "colno", "pos", "position", "offset"):
        v = getattr(exc, attr, None)
        if isinstance(v, int):
            pos.append(f"{attr}={v}")
        elif isinstance(v, tuple) and all(isinstance(x, int) for x in v):
            pos.append(f"{attr}={v}")
    out = name + (f" ({', '.join(pos)})" if pos else "")
    return f"{context}: {out}" if context else out

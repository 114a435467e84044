"""The connector contract.

A connector turns a manifest source's ``uri`` into work units (:meth:`Connector.discover`)
and a work unit into a stream of :class:`~engine.records.Doc` /
:class:`~engine.records.Drop` / :class:`~engine.records.Tombstone` records
(:meth:`Connector.read`).  It never holds a whole file in memory, never raises for
bad records (it yields a ``Drop`` with a reason and goes on), and never puts
document text into a reason or a log line.

Class attributes describe the source's conventions for later stages:

* ``placeholder``: regex of the source's own de-identification placeholders
  (MIMIC-III ``[**...**]``, MIMIC-IV ``___``), or None for literature.
* ``language``: default language recorded in meta when the source does not say.
* ``splittable``: whether big uncompressed files may be cut into byte ranges.
"""
from __future__ import annotations

import re
from typing import ClassVar, Iterator

from engine import fsio
from engine.records import Doc, Drop, Tombstone, WorkUnit

Record = Doc | Drop | Tombstone

#: placeholder conventions the normalize and de-id stages understand
PLACEHOLDER_MIMIC_III = r"\[\*\*[^\]\n]{0,120}?\*\*\]"
PLACEHOLDER_MIMIC_IV = r"_{3,}"
PLACEHOLDER_XXXX = r"\bX{4,}\b"

_COMPRESSED = re.compile(r"\.(gz|bz2|xz|zst|zstd|lz4|zip|tar)$", re.I)


class Connector:
    name: ClassVar[str] = ""
    placeholder: ClassVar[str | None] = None
    language: ClassVar[str] = "en"
    splittable: ClassVar[bool] = False

    def __init__(self, source, manifest=None):
        #: the manifest's SourceConfig for this source
        self.source = source
        self.manifest = manifest
        self.options = dict(getattr(source, "options", {}) or {})

    # -- discovery ---------------------------------------------------------------------------------
    def discover(self) -> list[WorkUnit]:
        """Work units for every file the source's ``uri`` matches, in a deterministic order.

        Raises ``FileNotFoundError`` naming the source when a URI matches nothing.
        """
        units: list[WorkUnit] = []
        unit_bytes = self.manifest.resources.unit_bytes if self.manifest is not None else 256 << 20
        for uri in self.source.uris:
            files = fsio.expand(uri)
            if not files:
                raise FileNotFoundError(f"source {self.source.name!r}: no input matches {uri}")
            for f in files:
                units.extend(self.units_for_file(f, unit_bytes))
        return units

    def units_for_file(self, uri: str, unit_bytes: int) -> list[WorkUnit]:
        size, version = fsio.identity(uri)
        if self.splittable and size > unit_bytes and not _COMPRESSED.search(uri):
            return [
                WorkUnit(self.source.name, uri, size, version, start, min(start + unit_bytes, size))
                for start in range(0, size, unit_bytes)
            ]
        return [WorkUnit(self.source.name, uri, size, version)]

    # -- reading -----------------------------------------------------------------------------------
    def read(self, unit: WorkUnit) -> Iterator[Record]:  # pragma: no cover - interface
        raise NotImplementedError

    # -- helpers for subclasses -----------------------------------------------------------------------
    def doc_id(self, local_id: str) -> str:
        """``<source>:<local id>``: stable across runs and machines."""
        return f"{self.source.name}:{local_id}"

    def meta(self, **kw) -> dict:
        out = {k: v for k, v in kw.items() if v is not None and v != ""}
        out.setdefault("language", self.source.language or self.language)
        return out

    def max_doc_chars(self) -> int:
        return self.manifest.filters.max_doc_chars if self.manifest is not None else 20_000_000

    def checked(self, doc_id: str, text: str | None, location: str, **meta) -> Doc | Drop:
        """A ``Doc``, or a ``Drop`` when the text is missing or larger than ``filters.max_doc_chars``."""
        if text is None:
            return Drop(doc_id, "filtered", "no text field", location)
        if len(text) > self.max_doc_chars():
            return Drop(doc_id, "quarantined", f"document too large ({len(text)} chars > max_doc_chars)", location)
        return Doc(doc_id, text, self.meta(**meta))

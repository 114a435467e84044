"""The connector contract.

A connector turns a manifest source's ``uri`` into work units (:meth:`Connector.discover`)
and a work unit into a stream of :class:`~engine.core.records.Doc` /
:class:`~engine.core.records.Drop` / :class:`~engine.core.records.Tombstone` records
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

from engine.core import fsio
from engine.core.records import Doc, Drop, Tombstone, WorkUnit, safe_reason  # noqa: F401

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


class RecordConnector(Connector):
    """Shared logic of table-like readers (jsonl, csv, parquet): a record becomes one document
    per text field.

    Options (manifest ``options:``):

    * ``text_field``: column holding the text (default ``text``), or a list of columns, each
      becoming its own document with id suffix ``#<column>``.  Names match case-insensitively
      (MIMIC-III releases differ in header case).
    * ``id_field``: column holding a stable record id; without it the id is ``<file>@<row/offset>``.
    * ``meta_fields``: columns copied into ``meta``.
    """

    def _opt_list(self, key: str, default) -> list[str]:
        v = self.options.get(key, default)
        if v is None:
            return []
        return [v] if isinstance(v, str) else list(v)

    @property
    def text_fields(self) -> list[str]:
        return self._opt_list("text_field", "text")

    @property
    def id_field(self) -> str | None:
        return self.options.get("id_field")

    @property
    def meta_fields(self) -> list[str]:
        return self._opt_list("meta_fields", [])

    @staticmethod
    def field_map(names) -> dict[str, str]:
        """lower-case name -> actual column name."""
        return {n.lower(): n for n in names}

    def docs_from_record(self, rec: dict, fallback_id: str, location: str) -> list:
        """Documents (or drops) for one record whose keys are lower-cased column names."""
        rid = rec.get(self.id_field.lower()) if self.id_field else None
        local = str(rid) if rid not in (None, "") else fallback_id
        meta = {m: rec.get(m.lower()) for m in self.meta_fields}
        out = []
        fields = self.text_fields
        for tf in fields:
            did = self.doc_id(local if len(fields) == 1 else f"{local}#{tf}")
            text = rec.get(tf.lower())
            if text is not None and not isinstance(text, str):
                out.append(Drop(did, "quarantined", f"text field {tf!r} is {type(text).__name__}, not a string", location))
                continue
            out.append(self.checked(did, text, location, **meta))
        return out

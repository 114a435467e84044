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
* ``Options``: the pydantic model of the source's ``options:`` (:mod:`connectors.options`).
"""
from __future__ import annotations

import logging
import os
import re
import stat
from typing import ClassVar, Iterator

from connectors.options import NoOptions, RecordOptions
from engine.core import fsio
from engine.core.records import Doc, Drop, Tombstone, WorkUnit, safe_reason  # noqa: F401

Record = Doc | Drop | Tombstone
log = logging.getLogger("connectors")

#: placeholder conventions the normalize and de-id stages understand
PLACEHOLDER_MIMIC_III = r"\[\*\*[^\]\n]{0,120}?\*\*\]"
PLACEHOLDER_MIMIC_IV = r"_{3,}"
PLACEHOLDER_XXXX = r"\bX{4,}\b"

#: WorkUnit.version prefix of an input that is not a regular file
NOT_REGULAR = "not-regular:"


def file_kind(uri: str) -> str:
    """``file`` for a regular file; otherwise what it is (``fifo``, ``socket``, ``device``, ``broken link``).
    Object stores hold regular files only."""
    fs, path = fsio.fs_and_path(uri)
    if not fsio.is_local(fs):
        return "file"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "broken link" if os.path.islink(path) else "unreadable entry"
    if stat.S_ISREG(mode):
        return "file"
    return "fifo" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "directory" if stat.S_ISDIR(mode) else "device"


def unencodable_at(text: str) -> int | None:
    """Index of the first lone surrogate (text that cannot be written as UTF-8), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


_COMPRESSED = re.compile(r"\.(gz|bz2|xz|zst|zstd|lz4|zip|tar)$", re.I)


class Connector:
    name: ClassVar[str] = ""
    #: the manifest ``options:`` this connector accepts (checked when the manifest is loaded)
    Options: ClassVar[type] = NoOptions
    placeholder: ClassVar[str | None] = None
    language: ClassVar[str] = "en"
    splittable: ClassVar[bool] = False

    def __init__(self, source, manifest=None):
        #: the manifest's SourceConfig for this source
        self.source = source
        self.manifest = manifest
        self.options = dict(getattr(source, "options", {}) or {})
        self._files: list[str] | None = None  # the source's input files, listed once per instance
        self._common: str | None = None

    # -- discovery ---------------------------------------------------------------------------------
    def input_files(self) -> list[str]:
        """Every file the source's URIs match, each once (a file matched by two URIs is read once),
        in URI order.  Raises ``FileNotFoundError`` naming the source when a URI matches nothing."""
        seen: set[str] = set()
        out: list[str] = []
        for uri in self.source.uris:
            files = self.expand(uri)
            if not files:
                raise FileNotFoundError(f"source {self.source.name!r}: no input matches {uri}")
            for f in files:
                if f not in seen:
                    seen.add(f)
                    out.append(f)
        return out

    def expand(self, uri: str) -> list[str]:
        """The files a URI matches, less anything inside the build's own output (an output folder
        placed inside an input folder must never feed the build its own files)."""
        files = fsio.expand(uri)
        out_dir = getattr(self.manifest, "output", None)
        if not out_dir:
            return files
        prefix = fsio.full_uri(*fsio.fs_and_path(out_dir)).rstrip("/") + "/"
        kept = [f for f in files if not f.startswith(prefix)]
        if len(kept) < len(files):
            log.warning("source %s: %d file(s) inside the build output skipped", self.source.name, len(files) - len(kept))
        return kept

    def file_label(self, path: str) -> str:
        """How a file is named inside document ids: its base name when the source reads one file,
        else its path below the folder all the source's files share (so two files with the same
        record ids, or the same base name in two folders, never give one id twice)."""
        if self._files is None:
            self._files = self.input_files()
        if len(self._files) <= 1:
            return os.path.basename(path)
        if self._common is None:
            self._common = os.path.commonpath([f.split("://", 1)[-1] for f in self._files]) if len(self._files) > 1 else ""
            if self._common in self._files:
                self._common = os.path.dirname(self._common)
        rel = path.split("://", 1)[-1]
        return rel[len(self._common):].lstrip("/") if self._common and rel.startswith(self._common) else rel

    def scoped(self, path: str, record_id: str) -> str:
        """A record's own id, prefixed with its file when the source reads several files."""
        if self._files is None:
            self._files = self.input_files()
        return record_id if len(self._files) <= 1 else f"{self.file_label(path)}/{record_id}"

    def discover(self) -> list[WorkUnit]:
        """Work units for every file the source's ``uri`` matches, in a deterministic order."""
        units: list[WorkUnit] = []
        unit_bytes = self.manifest.resources.unit_bytes if self.manifest is not None else 256 << 20
        files = self._files = self.input_files()
        for f in files:
            units.extend(self.units_for_file(f, unit_bytes))
        return units

    def units_for_file(self, uri: str, unit_bytes: int) -> list[WorkUnit]:
        kind = file_kind(uri)
        if kind != "file":  # a FIFO, socket, device or broken link: never opened (a FIFO would block)
            return [WorkUnit(self.source.name, uri, 0, f"{NOT_REGULAR}{kind}")]
        size, version = fsio.identity(uri)
        if self.splittable and size > unit_bytes and not _COMPRESSED.search(uri):
            return [
                WorkUnit(self.source.name, uri, size, version, start, min(start + unit_bytes, size))
                for start in range(0, size, unit_bytes)
            ]
        return [WorkUnit(self.source.name, uri, size, version)]

    # -- reading -----------------------------------------------------------------------------------
    def records(self, unit: WorkUnit) -> Iterator[Record]:
        """What the build reads from a unit: :meth:`read`, except for an input that is not a
        regular file, which becomes one quarantined record without being opened."""
        if unit.version.startswith(NOT_REGULAR):
            yield Drop(self.doc_id(f"{unit.path.rsplit('/', 1)[-1]}@input"), "quarantined",
                       f"not a regular file ({unit.version[len(NOT_REGULAR):]})", unit.location)
            return
        yield from self.read(unit)

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
        bad = unencodable_at(text)
        if bad is not None:
            return Drop(doc_id, "quarantined", f"text is not valid Unicode (lone surrogate at char {bad})", location)
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

    Options = RecordOptions

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

    def docs_from_record(self, rec: dict, fallback_id: str, location: str, path: str | None = None) -> list:
        """Documents (or drops) for one record whose keys are lower-cased column names; ``path`` is
        the file it came from (record ids are scoped by file when the source has several)."""
        rid = rec.get(self.id_field.lower()) if self.id_field else None
        if isinstance(rid, (dict, list)):  # not an id: a structure (possibly content) never becomes one
            rid = None
        local = (self.scoped(path, str(rid)) if path else str(rid)) if rid not in (None, "") else fallback_id
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

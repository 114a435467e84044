"""Generic text-file reader (``connector: text_files``): one document per file, from a folder
tree or from the members of a ``.zip`` / ``.tar(.gz)`` archive, read through fsspec without
unpacking to disk.

Many small files are grouped into work units of up to ``files_per_unit`` files and up to
``unit_bytes`` bytes (uncompressed member sizes for archives), so tasks stay coarse enough
without one unit growing past the size a task should hold.  Options:

* ``pattern``: glob (``fnmatch``) the file or member names must match (default ``*.txt``), or a
  list of globs (a name matching any of them is read).
* ``files_per_unit``: most files per work unit (default 512).
* ``unit_bytes``: most bytes per work unit (default: the manifest's ``resources.unit_bytes``).
* ``encoding``: default ``utf-8``; bytes that do not decode quarantine the file.

The document id is the path relative to the URI's fixed prefix (or the archive member name);
a member that is not text (NUL bytes) is quarantined with the reason.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import tarfile
import zipfile
from typing import Iterator

from connectors.base import Connector, Drop, Record, WorkUnit, file_kind, safe_reason
from connectors.registry import register
from engine.core import fsio
from connectors.options import TextFileOptions

_ARCHIVE = (".zip", ".tar", ".tar.gz", ".tgz")


def _fixed_prefix(uri: str) -> str:
    cut = min([uri.find(c) for c in "*?[" if c in uri] or [len(uri)])
    return uri[:cut].rsplit("/", 1)[0] + "/" if cut < len(uri) else uri.rstrip("/") + "/"


def is_archive(path: str) -> bool:
    return path.lower().endswith(_ARCHIVE)


def member_sizes(uri: str) -> list[tuple[str, int]]:
    """``(name, uncompressed size)`` of the regular-file members of a zip or tar archive, in archive order."""
    with fsio.open_input(uri, "rb", compression=None) as f:
        if uri.lower().endswith(".zip"):
            with zipfile.ZipFile(f) as z:
                return [(i.filename, i.file_size) for i in z.infolist() if not i.is_dir()]
        mode = "r:gz" if uri.lower().endswith((".gz", ".tgz")) else "r:"
        with tarfile.open(fileobj=f, mode=mode) as t:
            return [(m.name, m.size) for m in t.getmembers() if m.isfile()]


def list_members(uri: str) -> list[str]:
    """Regular-file member names of a zip or tar archive, in archive order."""
    return [name for name, _ in member_sizes(uri)]


def runs(items: list[tuple[object, int]], max_files: int, max_bytes: int) -> list[list]:
    """Consecutive ``(item, size)`` runs of at most ``max_files`` items and ``max_bytes`` bytes (an item
    larger than ``max_bytes`` is a run of its own)."""
    out: list[list] = []
    cur: list = []
    size = 0
    for item, n in items:
        if cur and (len(cur) >= max_files or size + n > max_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(item)
        size += n
    if cur:
        out.append(cur)
    return out


def iter_members(uri: str, names: set[str], max_bytes: int) -> Iterator[tuple[str, bytes | Exception]]:
    """``(member name, bytes)`` for the wanted members, streaming one member at a time.  A member
    whose header says it is larger than ``max_bytes`` is never decompressed (a ``MemberTooLarge``
    in its place), and a member is read at most ``max_bytes + 1`` bytes whatever its header says."""
    with fsio.open_input(uri, "rb", compression=None) as f:
        if uri.lower().endswith(".zip"):
            with zipfile.ZipFile(f) as z:
                for info in z.infolist():
                    if info.filename in names:
                        if info.file_size > max_bytes:
                            yield info.filename, MemberTooLarge(info.file_size)
                            continue
                        try:
                            with z.open(info) as fh:
                                yield info.filename, _capped(fh, max_bytes)
                        except Exception as e:  # bad CRC, unsupported compression
                            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                                raise
                            yield info.filename, e
            return
        mode = "r|gz" if uri.lower().endswith((".gz", ".tgz")) else "r|"
        with tarfile.open(fileobj=f, mode=mode) as t:
            for m in t:
                if m.isfile() and m.name in names:
                    if m.size > max_bytes:
                        yield m.name, MemberTooLarge(m.size)
                        continue
                    fh = t.extractfile(m)
                    yield m.name, _capped(fh, max_bytes) if fh else b""


class MemberTooLarge(ValueError):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _capped(fh, max_bytes: int) -> bytes | Exception:
    data = fh.read(max_bytes + 1)
    return MemberTooLarge(len(data)) if len(data) > max_bytes else data


def _identity(uri: str) -> tuple[int, str]:
    """Size and version of a listed file; an entry that cannot be stat'ed (a broken link) counts as
    empty here and is quarantined when read."""
    if file_kind(uri) != "file":
        return 0, "not-regular"
    return fsio.identity(uri)


@register("text_files")
class TextFilesConnector(Connector):
    Options = TextFileOptions

    def _pattern(self) -> str | list[str]:
        return self.options.get("pattern", "*.txt")

    def matches(self, name: str) -> bool:
        """Whether a file / member name (or its base name) matches the ``pattern`` option."""
        pats = self._pattern()
        pats = [pats] if isinstance(pats, str) else list(pats)
        base = os.path.basename(name)
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(base, p) for p in pats)

    def discover(self) -> list[WorkUnit]:
        per = int(self.options.get("files_per_unit", 512))
        most = int(self.options.get("unit_bytes") or (self.manifest.resources.unit_bytes if self.manifest is not None else 256 << 20))
        units: list[WorkUnit] = []
        seen: set[str] = set()
        for uri in self.source.uris:
            files = self.expand(uri)
            if not files:
                raise FileNotFoundError(f"source {self.source.name!r}: no input matches {uri}")
            files = [f for f in files if not (f in seen or seen.add(f))]
            plain = []
            for f in files:
                if is_archive(f):
                    size, version = fsio.identity(f)
                    members = [(m, n) for m, n in member_sizes(f) if self.matches(m)]
                    for run in runs(members, per, most):
                        units.append(WorkUnit(self.source.name, f, size, version, members=tuple(run)))
                elif self.matches(os.path.basename(f)):
                    plain.append(f)
            prefix = _fixed_prefix(uri)
            ident = {g: _identity(g) for g in plain}
            for group in runs([(g, ident[g][0]) for g in plain], per, most):
                version = hashlib.sha1("|".join(f"{ident[g][0]}:{ident[g][1]}" for g in group).encode()).hexdigest()[:16]
                rel = tuple(g[len(prefix):] if g.startswith(prefix) else g for g in group)
                units.append(WorkUnit(self.source.name, prefix, sum(ident[g][0] for g in group), version, members=rel))
        return units

    def read(self, unit: WorkUnit) -> Iterator[Record]:
        if is_archive(unit.path):
            wanted = set(unit.members)
            seen = set()
            try:
                for name, data in iter_members(unit.path, wanted, self.max_doc_bytes()):
                    seen.add(name)
                    yield from self.records_for(name, data, f"{unit.path}::{name}")
            except Exception as e:
                if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                    raise
                for name in unit.members:
                    if name not in seen:
                        yield Drop(self.doc_id(name), "quarantined", safe_reason(e, "unreadable archive"), f"{unit.path}::{name}")
                return
            for name in unit.members:
                if name not in seen:
                    yield Drop(self.doc_id(name), "quarantined", "archive member missing", f"{unit.path}::{name}")
            return
        for rel in unit.members:
            uri = unit.path + rel if not rel.startswith(("/", unit.path)) and "://" not in rel else rel
            kind = file_kind(uri)
            if kind != "file":  # a FIFO would block the reader forever: never opened
                yield Drop(self.doc_id(rel), "quarantined", f"not a regular file ({kind})", uri)
                continue
            try:
                size = fsio.identity(uri)[0]
                if size > self.max_doc_bytes():
                    yield Drop(self.doc_id(rel), "quarantined", f"file too large ({size} bytes > max_doc_chars x 4)", uri)
                    continue
                data = fsio.read_bytes(uri)
            except Exception as e:
                if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                    raise
                yield Drop(self.doc_id(rel), "quarantined", safe_reason(e, "unreadable file"), uri)
                continue
            yield from self.records_for(rel, data, uri)

    def records_for(self, name: str, data: bytes | Exception, location: str) -> Iterator[Record]:
        """Records of one file or member; one document per file by default.  Subclasses whose
        files hold several documents (MedQuAD QA pairs, one JSON study) override this."""
        yield self._doc(name, data, location)

    def max_doc_bytes(self) -> int:
        return 4 * self.max_doc_chars()

    def _doc(self, name: str, data: bytes | Exception, location: str) -> Record:
        did = self.doc_id(name)
        if isinstance(data, MemberTooLarge):
            return Drop(did, "quarantined", f"archive member too large ({data.size} bytes > max_doc_chars x 4)", location)
        if isinstance(data, Exception):
            return Drop(did, "quarantined", safe_reason(data, "unreadable member"), location)
        if b"\x00" in data[:65536]:
            return Drop(did, "quarantined", "not a text file (NUL bytes)", location)
        try:
            text = data.decode(self.options.get("encoding", "utf-8"))
        except UnicodeDecodeError as e:
            return Drop(did, "quarantined", f"invalid {self.options.get('encoding', 'utf-8')} at byte {e.start}", location)
        return self.checked(did, text.lstrip("\ufeff"), location, file=name)

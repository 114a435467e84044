"""fsspec helpers: every path the engine touches goes through here (local, s3://, gs://, memory://).

Storage operations are retried when they fail with a *transient* error (connection refused or
reset, timeouts, HTTP 5xx / throttling from an object store) with exponential backoff and
jitter (:mod:`engine.core.retry`, ``ENGINE_IO_RETRIES`` / ``ENGINE_IO_BACKOFF`` /
``ENGINE_IO_BACKOFF_MAX``), then fail with :class:`StorageError`, whose message names the
operation and the URI (never credentials).  ``ENGINE_IO_DELAY`` (seconds, tests only) slows
every write down, to give fault-injection tests a window.  Parquet files (staging, drop tables,
shuffles) are read and written with the helpers at the end.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import time
import uuid
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pyarrow.parquet as pq
import xxhash
from fsspec.core import url_to_fs
from fsspec.utils import get_protocol

# the retry policy is part of this module's API (fsio.StorageError, fsio.is_transient, ...)
from engine.core.retry import StorageError, is_transient, retry_settings, retrying  # noqa: F401


def is_local(fs_or_uri) -> bool:
    """Whether a filesystem, or the store a URI or path names, is this machine's disk (no filesystem is created)."""
    proto = get_protocol(fs_or_uri) if isinstance(fs_or_uri, str) else protocol_of(fs_or_uri)
    return proto in ("file", "local")


def _needs_dirs(fs) -> bool:
    """Stores with real folders, which must exist before a file is written into them."""
    return protocol_of(fs) in ("file", "local", "memory")


def _fresh(fs, path: str) -> None:
    """Forget cached listings of ``path`` (other processes write to the same store)."""
    if not is_local(fs):
        try:
            fs.invalidate_cache(path)
        except Exception:
            pass


def _test_delay() -> None:
    d = os.environ.get("ENGINE_IO_DELAY")
    if d:
        time.sleep(float(d))


_LOCAL_FS = None


def fs_and_path(uri: str):
    """``(filesystem, path)`` for a URI or local path (plain local paths skip fsspec's URL parsing)."""
    global _LOCAL_FS
    if "://" not in uri and "::" not in uri:
        if _LOCAL_FS is None:
            _LOCAL_FS = fsspec.filesystem("file")
        return _LOCAL_FS, _LOCAL_FS._strip_protocol(uri)
    return url_to_fs(uri)


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out


def protocol_of(fs) -> str:
    p = fs.protocol
    return p[0] if isinstance(p, (tuple, list)) else p


def full_uri(fs, path: str) -> str:
    if is_local(fs):
        return path
    return fs.unstrip_protocol(path)


def expand(uri: str) -> list[str]:
    """Files matched by a URI that may contain glob characters, sorted; a directory lists its files recursively."""
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        if any(c in path for c in "*?["):
            paths = fs.glob(path)
        elif fs.isdir(path):
            paths = fs.find(path)
        elif fs.exists(path):
            paths = [path]
        else:
            paths = []
        return sorted(p for p in paths if not fs.isdir(p))

    return [full_uri(fs, p) for p in retrying(op, f"list {uri}")]


def identity(uri: str) -> tuple[int, str]:
    """``(size, version)`` of a file: version is the etag when the store has one, else the mtime."""
    fs, path = fs_and_path(uri)
    info = retrying(lambda _: fs.info(path), f"stat {uri}")
    size = int(info.get("size") or 0)
    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    return size, str(version)


def open_input(uri: str, mode: str = "rb", compression: str | None = "infer", **kw):
    """Open a file for streaming reads; gzip/bz2/xz/zstd are decompressed on the fly."""
    return retrying(lambda _: fsspec.open(uri, mode, compression=compression, **kw).open(), f"open {uri}")


def exists(uri: str) -> bool:
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        return fs.exists(path)

    return retrying(op, f"check {uri}")


def makedirs(uri: str) -> None:
    fs, path = fs_and_path(uri)
    if _needs_dirs(fs):
        retrying(lambda _: fs.makedirs(path, exist_ok=True), f"mkdir {uri}")


def stamp(data: bytes) -> list:
    """``[size, xxh3-64 hex]`` of a file's bytes: what a progress marker records of each file it vouches for."""
    return [len(data), xxhash.xxh3_64_hexdigest(data)]


def write_bytes_atomic(uri: str, data: bytes, durable: bool = True) -> list:
    """Write a whole object so that readers see either nothing or all of it; returns its :func:`stamp`.

    Local files: temp name in the same folder + rename, after an fsync when ``durable``.  Staging
    files are written with ``durable=False``: their marker records their stamp, and a resumed build
    redoes a step whose files do not match it (:func:`engine.core.stamps.stamps_match`), so a crash can never leave a
    marker vouching for a file that is not all there.  Object stores: a single PUT is atomic and durable.
    """
    fs, path = fs_and_path(uri)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    _test_delay()

    def op(_):
        if is_local(fs):
            os.makedirs(parent or ".", exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    if durable:
                        f.flush()
                        os.fsync(f.fileno())
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        else:
            if parent and protocol_of(fs) == "memory":
                fs.makedirs(parent, exist_ok=True)
            fs.pipe_file(path, data)

    retrying(op, f"write {uri}")
    return stamp(data)


def file_stamp(path: str) -> list:
    """:func:`stamp` of a local file, read in blocks."""
    h = xxhash.xxh3_64()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return [size, h.hexdigest()]


def create_exclusive(uri: str, data: bytes) -> bool:
    """Write ``uri`` only if it does not exist yet; False when it does (local O_EXCL, S3 If-None-Match)."""
    fs, path = fs_and_path(uri)

    def op(_):
        if is_local(fs):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
            with open(tmp, "wb") as f:  # complete first, then linked in: no reader ever sees half of it
                f.write(data)
            try:
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            finally:
                os.remove(tmp)
        try:
            fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            return False
        except TypeError:  # a filesystem without exclusive create: best effort
            _fresh(fs, path)
            if fs.exists(path):
                return False
            fs.pipe_file(path, data)
            return True

    return retrying(op, f"create {uri}")


class AtomicWriter:
    """A local file to stream into; :meth:`commit` puts it at ``uri`` in one step, :meth:`discard` drops it.

    Local outputs: a temp file next to ``uri`` renamed into place.  Object stores: a temp file on
    local disk uploaded with retries (one PUT, or a multipart upload completed at once), so a
    store outage while the data is being produced cannot lose or half-write it.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs, self.path = fs_and_path(uri)
        if is_local(self.fs):
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            self.tmp = f"{self.path}.tmp-{uuid.uuid4().hex[:8]}"
        else:
            fd, self.tmp = tempfile.mkstemp(prefix="engine-", suffix=".part")
            os.close(fd)
        self.file = open(self.tmp, "wb")

    def commit(self) -> list:
        """Put the file in place (no fsync, as ``write_bytes_atomic(durable=False)``); returns its :func:`stamp`."""
        if not self.file.closed:
            self.file.close()
        _test_delay()
        try:
            st = file_stamp(self.tmp)
            if is_local(self.fs):
                os.replace(self.tmp, self.path)
            else:
                retrying(lambda _: self.fs.put_file(self.tmp, self.path), f"upload {self.uri}")
        finally:
            self.discard()
        return st

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def write_json_atomic(uri: str, obj: Any, durable: bool = True) -> list:
    return write_bytes_atomic(uri, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode(), durable)


def _cat(fs, path: str) -> bytes:
    """A whole object in one request (s3fs asks for the size first, to split big reads, unless told not to)."""
    if protocol_of(fs) in ("s3", "s3a"):
        return fs.cat_file(path, max_concurrency=1)
    return fs.cat_file(path)


def read_json(uri: str) -> Any:
    fs, path = fs_and_path(uri)
    return json.loads(retrying(lambda _: _cat(fs, path), f"read {uri}"))


def open_arrow(uri: str):
    """A whole file for pyarrow's readers (staging files, which are read whole): from a local disk
    its bytes, or a memory map when over 4 MiB (no Python file layer per read); from an object
    store the object in one GET (no HEAD, no ranged reads per footer and batch).
    FileNotFoundError when there is none."""
    fs, path = fs_and_path(uri)
    if is_local(fs):
        def local(_):
            if os.stat(path).st_size > 1 << 22:
                return pa.memory_map(path, "r")
            with open(path, "rb") as f:  # small: one read beats setting up a map
                return pa.BufferReader(f.read())

        return retrying(local, f"open {uri}")
    return pa.BufferReader(retrying(lambda _: _cat(fs, path), f"read {uri}"))


def read_bytes(uri: str) -> bytes:
    fs, path = fs_and_path(uri)
    return retrying(lambda _: _cat(fs, path), f"read {uri}")


def move(src: str, dst: str) -> None:
    """Rename (atomic on local disks; copy + delete on object stores)."""
    fs, sp = fs_and_path(src)
    _, dp = fs_and_path(dst)
    _test_delay()

    def op(attempt):
        if attempt and not fs.exists(sp) and fs.exists(dp):
            return  # an earlier attempt got through, only its answer was lost
        if is_local(fs):
            os.makedirs(os.path.dirname(dp) or ".", exist_ok=True)
            os.replace(sp, dp)
        else:
            fs.mv(sp, dp)
            _fresh(fs, sp)

    retrying(op, f"move {src} -> {dst}")


def remove(uri: str, recursive: bool = False) -> None:
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        if fs.exists(path):
            fs.rm(path, recursive=recursive)
            _fresh(fs, path)

    retrying(op, f"remove {uri}")


def listdir(uri: str) -> list[str]:
    """Files directly or recursively under a folder URI (full URIs, sorted); [] when missing."""
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        if not fs.exists(path):
            return []
        return fs.find(path)

    return sorted(full_uri(fs, p) for p in retrying(op, f"list {uri}"))


def relpath(base: str, uri: str) -> str:
    """``uri`` relative to the folder ``base`` (both URIs of the same store)."""
    _, b = fs_and_path(base)
    _, p = fs_and_path(uri)
    b = b.rstrip("/") + "/"
    return p[len(b):] if p.startswith(b) else p


# -- parquet ------------------------------------------------------------------------------------
# A parquet reference is a URI, or ``(URI, row group)`` for one row group of a shuffle file.


def write_parquet(uri: str, table: pa.Table, atomic: bool = True, row_group_size: int | None = 1 << 16,
                  durable: bool = True) -> list:
    """A zstd parquet file; returns its :func:`stamp`.  ``atomic``: readers see all of it or nothing
    (staging files, drop tables); ``durable``: see :func:`write_bytes_atomic`.  Scratch files of a
    shuffle (``atomic=False``) are written directly: a failed run starts its shuffle again from an
    empty folder."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=row_group_size)
    if atomic:
        return write_bytes_atomic(uri, buf.getvalue(), durable)
    _write_direct(uri, buf.getvalue())
    return stamp(buf.getvalue())


def write_arrow(uri: str, table: pa.Table, durable: bool = True) -> list:
    """A small table as one uncompressed Arrow IPC file, atomically; returns its :func:`stamp`.
    Per-unit staging tables (dedup keys, sketches): a tenth of a small parquet file's cost to write and read."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    return write_bytes_atomic(uri, sink.getvalue().to_pybytes(), durable)


def read_arrow(uri: str, columns: list[str] | None = None) -> pa.Table:
    """A table written by :func:`write_arrow` (``columns``: only these)."""
    with open_arrow(uri) as f:
        t = pa.ipc.open_file(f).read_all()
    return t.select(columns) if columns is not None else t


def _write_direct(uri: str, data: bytes) -> None:
    fs, path = fs_and_path(uri)

    def op(_):
        if _needs_dirs(fs) and "/" in path:
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as f:
            f.write(data)

    retrying(op, f"write {uri}")


def read_parquet(ref, filters=None, columns=None) -> pa.Table:
    """A parquet file (URI), or one row group of it (``(URI, row group)``)."""
    if isinstance(ref, (tuple, list)):
        uri, rg = ref
        fs, path = fs_and_path(uri)

        def one_group(_):
            with fs.open(path, "rb") as f:
                return pq.ParquetFile(f).read_row_group(int(rg), columns=columns)

        return retrying(one_group, f"read {uri}")
    fs, path = fs_and_path(ref)

    def whole(_):
        if filters is None:  # one file, read whole: no dataset machinery (half the cost for small files), one GET
            return pq.ParquetFile(open_arrow(ref)).read(columns=columns)
        with fs.open(path, "rb") as f:
            return pq.read_table(f, filters=filters, columns=columns)

    return retrying(whole, f"read {ref}")


def parquet_rows(uri: str) -> int:
    fs, path = fs_and_path(uri)

    def op(_):
        with fs.open(path, "rb") as f:
            return pq.ParquetFile(f).metadata.num_rows

    return retrying(op, f"read {uri}")


def write_partitioned(uri: str, table: pa.Table, part: np.ndarray, n: int) -> list[tuple[int, int]]:
    """The write side of a shuffle: ``table``'s rows into ONE parquet file, one row group per
    destination partition ``part[i]`` in ``[0, n)`` (one file per writer, not writers x partitions).
    Returns ``[(partition, row group)]`` for the partitions that got rows."""
    written: list[tuple[int, int]] = []
    if table.num_rows == 0:
        return written
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(n + 1))
    t = table.take(pa.array(order))
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, t.schema, compression="zstd") as w:
        for p in range(n):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            if hi > lo:
                w.write_table(t.slice(lo, hi - lo), row_group_size=hi - lo)
                written.append((p, len(written)))
    _write_direct(uri, buf.getvalue())
    return written

"""Reading committed shards: the one reader used by the stream, the audit, the report and inspect.

A shard listed in build.json is checked against its recorded sha256 before first use (local shards
are hashed in place, remote ones copied into a local cache while hashing) and then read through a
memory map one record batch at a time, so memory is bounded by a record batch, not the shard.
A verified shard is not hashed again in the same process unless its file changed (size or mtime).
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from engine.core import fsio

HASH_CHUNK = 8 << 20


class ShardChecksumError(ValueError):
    """A shard's bytes do not match the sha256 recorded in build.json."""


@dataclass(frozen=True)
class ShardEntry:
    index: int  # commit order
    uri: str
    path: str  # as listed (relative to the build root)
    source: str
    rows: int
    tokens: int
    sha256: str
    start: int  # global row id of its first row


def shard_entries(root: str, listed: list[dict]) -> list[ShardEntry]:
    """ShardEntry per shard of build.json's ``shards`` list (or a slice of it), URIs resolved under
    ``root``; ``start`` counts rows from the first shard of ``listed``."""
    out, start = [], 0
    for i, s in enumerate(listed):
        path = s["path"]
        uri = path if "://" in path or os.path.isabs(path) else fsio.join(root, path)
        out.append(ShardEntry(i, uri, path, s["source"], int(s["rows"]), int(s.get("tokens", 0)), s["sha256"], start))
        start += int(s["rows"])
    return out


# (uri, sha256) -> (local path, size, mtime_ns) of a file whose bytes matched, per process
_VERIFIED: dict[tuple[str, str], tuple[str, int, int]] = {}


def file_sha256(uri: str) -> str:
    """Hex sha256 of a file's bytes (any fsspec URI), streamed."""
    fs, path = fsio.fs_and_path(uri)
    return fsio.retrying(lambda _: _hash_open(fs, path), f"read {uri}")


def _hash_open(fs, path: str) -> str:
    with fs.open(path, "rb") as f:
        return _copy_hashing(f)


def _copy_hashing(src, dst=None) -> str:
    """sha256 of everything read from ``src``, written on to ``dst`` when given."""
    h = hashlib.sha256()
    while True:
        b = src.read(HASH_CHUNK)
        if not b:
            return h.hexdigest()
        h.update(b)
        if dst is not None:
            dst.write(b)


def _mismatch(entry: ShardEntry, got: str) -> ShardChecksumError:
    return ShardChecksumError(f"checksum mismatch for {entry.uri}: build.json {entry.sha256}, file {got}")


def _remember(entry: ShardEntry, local: str) -> str:
    st = os.stat(local)
    _VERIFIED[(entry.uri, entry.sha256)] = (local, st.st_size, st.st_mtime_ns)
    return local


def _still_verified(entry: ShardEntry) -> str | None:
    hit = _VERIFIED.get((entry.uri, entry.sha256))
    if hit is None:
        return None
    local, size, mtime = hit
    try:
        st = os.stat(local)
    except OSError:
        return None
    return local if (st.st_size, st.st_mtime_ns) == (size, mtime) else None


def verified_local_path(entry: ShardEntry, cache_dir: str | None = None, verify: bool = True) -> str:
    """Local file holding the shard's bytes, checked against build.json's sha256.

    Local shards are hashed in place; remote ones are copied into ``cache_dir`` (default: the
    system temp folder's ``engine-shard-cache``), named by their sha256, while hashing, and reused
    from there.  With ``verify=False`` nothing is hashed (and nothing is remembered as verified)."""
    known = _still_verified(entry)
    if known is not None:
        return known
    fs, path = fsio.fs_and_path(entry.uri)
    if fsio.is_local(fs):
        if not verify:
            return path
        with open(path, "rb") as f:
            got = _copy_hashing(f)
        if got != entry.sha256:
            raise _mismatch(entry, got)
        return _remember(entry, path)
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "engine-shard-cache")
    os.makedirs(cache_dir, exist_ok=True)
    local = os.path.join(cache_dir, f"{entry.sha256}.arrow")
    if os.path.exists(local):
        if not verify:
            return local
        with open(local, "rb") as f:
            if _copy_hashing(f) == entry.sha256:
                return _remember(entry, local)
    tmp = f"{local}.tmp-{os.getpid()}"
    with fs.open(path, "rb") as src, open(tmp, "wb") as dst:
        got = _copy_hashing(src, dst)
    if verify and got != entry.sha256:
        os.remove(tmp)
        raise _mismatch(entry, got)
    os.replace(tmp, local)
    return _remember(entry, local) if verify else local


class ShardReader:
    """One shard: its schema metadata, its record batches, and random access to its rows.

    ``columns`` limits what is decoded (e.g. ``("doc_lens", "doc_ids")`` for statistics); row access
    needs ``input_ids`` and ``doc_lens``."""

    def __init__(self, entry: ShardEntry, local_path: str, expect_tokenizer: str | None = None,
                 columns: Sequence[str] | None = None):
        self.entry = entry
        source = pa.memory_map(local_path, "r")
        if columns is not None:
            names = ipc.open_file(source).schema.names
            opts = ipc.IpcReadOptions(included_fields=[names.index(c) for c in columns])
            self.reader = ipc.open_file(source, options=opts)
        else:
            self.reader = ipc.open_file(source)
        self.metadata = {k.decode(): v.decode() for k, v in (self.reader.schema.metadata or {}).items()}
        if expect_tokenizer and self.metadata.get("tokenizer_sha256") and self.metadata["tokenizer_sha256"] != expect_tokenizer:
            raise ValueError(f"{entry.uri}: tokenizer {self.metadata['tokenizer_sha256']} differs from build.json's {expect_tokenizer}")
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._starts: np.ndarray | None = None

    @property
    def num_batches(self) -> int:
        return self.reader.num_record_batches

    def batch(self, i: int) -> pa.RecordBatch:
        return self.reader.get_batch(i)

    def batches(self) -> Iterator[pa.RecordBatch]:
        for i in range(self.num_batches):
            yield self.reader.get_batch(i)

    @property
    def starts(self) -> np.ndarray:
        """Local row number of the first row of every record batch (and the row count last)."""
        if self._starts is None:
            nb, rows = self.num_batches, self.entry.rows
            b0 = self.reader.get_batch(0).num_rows if nb else 0
            if nb and b0 and nb == math.ceil(rows / b0):
                starts = np.minimum(np.arange(nb + 1, dtype=np.int64) * b0, rows)
            else:  # irregular batches: learn their sizes once
                starts = np.zeros(nb + 1, dtype=np.int64)
                np.cumsum([self.reader.get_batch(i).num_rows for i in range(nb)], out=starts[1:])
            if int(starts[-1]) != rows:
                raise ValueError(f"{self.entry.uri}: {int(starts[-1])} rows, build.json says {rows}")
            self._starts = starts
        return self._starts

    def _decode(self, b: int):
        hit = self._cache.get(b)
        if hit is not None:
            self._cache.move_to_end(b)
            return hit
        rb = self.reader.get_batch(b)
        ids = rb.column("input_ids")
        dl = rb.column("doc_lens")
        out = (
            np.asarray(ids.offsets),
            ids.values.to_numpy(zero_copy_only=False),
            np.asarray(dl.offsets),
            dl.values.to_numpy(zero_copy_only=False),
        )
        self._cache[b] = out
        if len(self._cache) > 2:
            self._cache.popitem(last=False)
        return out

    def rows(self, local_rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(input_ids, doc_lens)`` for ascending local row numbers: read-only views into the decoded
        record batch (a batch stays in memory while rows of it are in the shuffle window)."""
        out = []
        starts = self.starts
        bidx = np.searchsorted(starts, local_rows, side="right") - 1
        bstart = starts[bidx]
        for r, b, b0 in zip(local_rows.tolist(), bidx.tolist(), bstart.tolist()):
            io, iv, do, dv = self._decode(b)
            j = r - b0
            out.append((iv[io[j] : io[j + 1]], dv[do[j] : do[j + 1]]))
        return out


def open_shard(entry: ShardEntry, cache_dir: str | None = None, verify: bool = True,
               expect_tokenizer: str | None = None, columns: Sequence[str] | None = None) -> ShardReader:
    """A reader over ``entry`` after checking its bytes against build.json (see :func:`verified_local_path`)."""
    return ShardReader(entry, verified_local_path(entry, cache_dir, verify), expect_tokenizer, columns)


def read_build(root: str) -> dict:
    uri = fsio.join(root, "build.json")
    if not fsio.exists(uri):
        raise FileNotFoundError(f"no build.json under {root}")
    return fsio.read_json(uri)


def iter_batches(root: str, source: str | None = None, verify: bool = True) -> Iterator[tuple[ShardEntry, pa.RecordBatch]]:
    """Every record batch of a build's listed shards (of one ``source`` when given), in commit order,
    each shard checked against build.json first."""
    for entry in shard_entries(root, read_build(root).get("shards", [])):
        if source is None or entry.source == source:
            for b in open_shard(entry, verify=verify).batches():
                yield entry, b

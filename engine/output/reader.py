"""Reading committed shards: the one reader used by the stream, the audit, the report and inspect.

A shard listed in build.json is checked against its recorded sha256 before first use (local shards
are hashed in place, remote ones copied into a local cache while hashing) and then read through a
memory map one record batch at a time, so memory is bounded by a record batch, not the shard.
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from engine.core import fsio


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


_VERIFIED: dict[tuple[str, str], str] = {}  # (uri, sha256) -> local path, per process


def _hash_file(path: str, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def verified_local_path(entry: ShardEntry, cache_dir: str | None = None, verify: bool = True) -> str:
    """Local file holding the shard's bytes, checked against build.json's sha256.

    Local shards are hashed in place; remote ones are copied into ``cache_dir`` while hashing."""
    key = (entry.uri, entry.sha256)
    if key in _VERIFIED:
        return _VERIFIED[key]
    fs, path = fsio.fs_and_path(entry.uri)
    if fsio.protocol_of(fs) in ("file", "local"):
        local = path
        if verify:
            got = _hash_file(local)
            if got != entry.sha256:
                raise ShardChecksumError(f"checksum mismatch for {entry.uri}: build.json {entry.sha256}, file {got}")
    else:
        cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "engine-stream-cache")
        os.makedirs(cache_dir, exist_ok=True)
        local = os.path.join(cache_dir, f"{entry.sha256}.arrow")
        if not os.path.exists(local) or (verify and _hash_file(local) != entry.sha256):
            h = hashlib.sha256()
            tmp = f"{local}.tmp-{os.getpid()}"
            with fs.open(path, "rb") as src, open(tmp, "wb") as dst:
                while True:
                    b = src.read(8 << 20)
                    if not b:
                        break
                    h.update(b)
                    dst.write(b)
            if verify and h.hexdigest() != entry.sha256:
                os.remove(tmp)
                raise ShardChecksumError(
                    f"checksum mismatch for {entry.uri}: build.json {entry.sha256}, file {h.hexdigest()}"
                )
            os.replace(tmp, local)
    _VERIFIED[key] = local
    return local


class ShardReader:
    """Random access to rows of one shard, one record batch decoded at a time."""

    def __init__(self, entry: ShardEntry, local_path: str, expect_tokenizer: str | None):
        self.entry = entry
        self.reader = ipc.open_file(pa.memory_map(local_path, "r"))
        meta = {k.decode(): v.decode() for k, v in (self.reader.schema.metadata or {}).items()}
        if expect_tokenizer and meta.get("tokenizer_sha256") and meta["tokenizer_sha256"] != expect_tokenizer:
            raise ValueError(f"{entry.uri}: tokenizer {meta['tokenizer_sha256']} differs from build.json's {expect_tokenizer}")
        nb = self.reader.num_record_batches
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        first = self._decode(0) if nb else None
        b0 = len(first[0]) - 1 if first is not None else 0
        if nb and b0 and nb == math.ceil(entry.rows / b0):
            self.starts = np.minimum(np.arange(nb + 1, dtype=np.int64) * b0, entry.rows)
        else:  # irregular batches: learn their sizes once
            sizes = [self.reader.get_batch(i).num_rows for i in range(nb)]
            self.starts = np.zeros(nb + 1, dtype=np.int64)
            np.cumsum(sizes, out=self.starts[1:])
        if int(self.starts[-1]) != entry.rows:
            raise ValueError(f"{entry.uri}: {int(self.starts[-1])} rows, build.json says {entry.rows}")

    def _decode(self, b: int):
        hit = self._cache.get(b)
        if hit is not None:
            self._cache.move_to_end(b)
            return hit
        rb = self.reader.get_batch(b)
        ids = rb.column(0)
        dl = rb.column(1)
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
        bidx = np.searchsorted(self.starts, local_rows, side="right") - 1
        bstart = self.starts[bidx]
        for r, b, b0 in zip(local_rows.tolist(), bidx.tolist(), bstart.tolist()):
            io, iv, do, dv = self._decode(b)
            j = r - b0
            out.append((iv[io[j] : io[j + 1]], dv[do[j] : do[j + 1]]))
        return out

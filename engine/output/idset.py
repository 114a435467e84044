"""Distinct-id counts and overlaps over more ids than memory should hold.

The audit sees one 64-bit id hash per written segment and per quarantine record, streaming
over shards and quarantine files.  :class:`IdTally` keeps them per ``(source, kind)``; with
``parts > 1`` it spills them to temporary files split by hash (``hash % parts``), so the
counts are computed one partition at a time and memory stays at one partition plus the
write buffers, whatever the number of documents (100M ids = 800 MB in one array; 64
partitions hold 12.5 MB each).  With ``parts == 1`` nothing is spilled.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict

import numpy as np

#: ids per partition the audit aims for (32 MB of uint64)
PART_IDS = 1 << 22


def parts_for(ids: int) -> int:
    """Partitions for about ``ids`` ids: 1 for a small build."""
    return max(1, -(-int(ids) // PART_IDS))


class IdTally:
    def __init__(self, parts: int = 1, buffer_ids: int = 1 << 20, tmpdir: str | None = None) -> None:
        self.parts = max(1, int(parts))
        self.buffer_ids = buffer_ids
        self._mem: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        self._buffered = 0
        self._dir = tempfile.mkdtemp(prefix="audit-ids-", dir=tmpdir) if self.parts > 1 else None
        self._files: set[tuple[str, str, int]] = set()
        self._keys: list[tuple[str, str]] = []

    def add(self, source: str, kind: str, hashes: np.ndarray) -> None:
        key = (source, kind)
        if key not in self._mem and key not in self._keys:
            self._keys.append(key)
        self._mem[key].append(np.asarray(hashes, dtype=np.uint64))
        self._buffered += len(hashes)
        if self._dir is not None and self._buffered >= self.buffer_ids:
            self._spill()

    def _path(self, i: int, p: int) -> str:
        return os.path.join(self._dir, f"{i}-{p}.u64")

    def _spill(self) -> None:
        for key, arrs in self._mem.items():
            if not arrs:
                continue
            h = np.concatenate(arrs)
            part = (h % np.uint64(self.parts)).astype(np.int64)
            order = np.argsort(part, kind="stable")
            h, part = h[order], part[order]
            bounds = np.searchsorted(part, np.arange(self.parts + 1))
            i = self._keys.index(key)
            for p in range(self.parts):
                a, b = bounds[p], bounds[p + 1]
                if b > a:
                    with open(self._path(i, p), "ab") as f:
                        f.write(h[a:b].tobytes())
                    self._files.add((key[0], key[1], p))
        self._mem = defaultdict(list)
        self._buffered = 0

    def _load(self, key: tuple[str, str], p: int) -> np.ndarray:
        if self._dir is None:
            arrs = self._mem.get(key) or []
            return np.concatenate(arrs) if arrs else np.zeros(0, np.uint64)
        if (key[0], key[1], p) not in self._files:
            return np.zeros(0, np.uint64)
        return np.fromfile(self._path(self._keys.index(key), p), dtype=np.uint64)

    def distinct_and_overlap(self, source: str, kind: str, other: str) -> tuple[int, int]:
        """(distinct ids of ``kind``, how many of them also occur under ``other``) for ``source``."""
        if self._dir is not None and self._buffered:
            self._spill()
        distinct = overlap = 0
        for p in range(self.parts):
            w = np.unique(self._load((source, kind), p))
            distinct += len(w)
            d = self._load((source, other), p)
            if len(w) and len(d):
                overlap += len(np.intersect1d(w, d))
        return distinct, overlap

    def counts(self, source: str, kind: str) -> tuple[int, int]:
        """(ids of ``kind`` for ``source``, distinct ones among them)."""
        if self._dir is not None and self._buffered:
            self._spill()
        total = distinct = 0
        for p in range(self.parts):
            h = self._load((source, kind), p)
            total += len(h)
            distinct += len(np.unique(h))
        return total, distinct

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> "IdTally":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

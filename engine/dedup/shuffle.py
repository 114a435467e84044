"""Shared pieces of the near-dedup shuffles: where a step's files live, routing, numpy views.

Every step writes one parquet file per writer with one row group per destination partition
(:func:`engine.core.fsio.write_partitioned`); a reader of partition ``q`` reads its row group
from every writer's file.  Partitions are chosen by hashing ids, never by worker count.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from engine.core import fsio
from kernels.minhash import U64, fmix64


def part_uri(work: str, stage: str, writer: int) -> str:
    return fsio.join(work, stage, f"{writer:05d}.parquet")


def sketch_matrix(col, K: int) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) == 0:
        return np.zeros((0, K), np.uint8)
    raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
    return raw[arr.offset * K : (arr.offset + len(arr)) * K].reshape(-1, K)


def as_numpy(col) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.to_numpy(zero_copy_only=False)


def route(x: np.ndarray, n: int) -> np.ndarray:
    """Partition of uint64/int64 ids: fmix64 then modulo (independent of any worker count)."""
    if n == 1:
        return np.zeros(len(x), np.int64)
    with np.errstate(over="ignore"):
        return (fmix64(x.astype(np.uint64)) % U64(n)).astype(np.int64)


def files_of(results: list, work: str, stage: str) -> dict[int, list[str]]:
    """Files written by a step (writer index = position in ``results``), by destination partition."""
    fl: dict[int, list[str]] = defaultdict(list)
    for p, r in enumerate(results):
        for q, rg in r["written"] if isinstance(r, dict) else r:
            fl[q].append((part_uri(work, stage, p), rg))
    return fl


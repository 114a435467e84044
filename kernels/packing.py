"""Sequence windows and best-fit packing.

``windows``: a document of n tokens becomes ``ceil(n / (L - 2))`` windows of
``[CLS] chunk [SEP]`` so no token is ever truncated and every window keeps its specials.

``BestFitPacker``: best-fit decreasing inside a bounded buffer.  Sequences are collected
until ``buffer_size`` are held; then they are placed longest first (ties in arrival order)
into the open row with the least room that still fits (the classic BFD bin-packing
heuristic), opening a new row when none fits.  Rows that are full (less room than
``close_below`` tokens) are emitted; at most ``max_open`` partial rows are carried into
the next buffer (the emptiest ones stay open: they are the most useful for the next
buffer's short sequences), so memory is bounded by ``buffer_size`` + ``max_open`` rows.
Deterministic: the output depends only on the input order.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np


def windows(ids: np.ndarray, max_len: int, cls_id: int, sep_id: int) -> list[np.ndarray]:
    """``[CLS] chunk [SEP]`` windows covering all of ``ids`` (an empty document gives one window)."""
    body = max_len - 2
    if body <= 0:
        raise ValueError("max_seq_len must be at least 3")
    n = len(ids)
    out = []
    for start in range(0, max(n, 1), body):
        chunk = ids[start : start + body]
        w = np.empty(len(chunk) + 2, dtype=np.uint32)
        w[0] = cls_id
        w[1:-1] = chunk
        w[-1] = sep_id
        out.append(w)
    return out


@dataclass
class PackedRow:
    order: int  # creation order (for deterministic emission)
    room: int
    seqs: list[np.ndarray] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


class BestFitPacker:
    def __init__(self, max_len: int, buffer_size: int = 4096, max_open: int = 64, close_below: int | None = None):
        self.max_len = max_len
        self.buffer_size = max(1, buffer_size)
        self.max_open = max(1, max_open)
        self.close_below = close_below if close_below is not None else max(8, max_len // 512)
        self._buffer: list[tuple[np.ndarray, str]] = []
        self._open: list[PackedRow] = []
        self._counter = 0

    def add(self, seq: np.ndarray, doc_id: str) -> list[PackedRow]:
        if len(seq) > self.max_len:
            raise ValueError(f"sequence of {len(seq)} tokens exceeds max_len {self.max_len} (split into windows first)")
        self._buffer.append((seq, doc_id))
        if len(self._buffer) >= self.buffer_size:
            return self._pack(final=False)
        return []

    def flush(self) -> list[PackedRow]:
        return self._pack(final=True)

    def _pack(self, final: bool) -> list[PackedRow]:
        items = sorted(range(len(self._buffer)), key=lambda i: -len(self._buffer[i][0]))
        rows = self._open
        # sorted (room, order) index for best fit lookups
        index = sorted((r.room, r.order) for r in rows)
        by_order = {r.order: r for r in rows}
        for i in items:
            seq, did = self._buffer[i]
            n = len(seq)
            pos = bisect.bisect_left(index, (n, -1))
            if pos < len(index):
                room, order = index.pop(pos)
                row = by_order[order]
            else:
                row = PackedRow(self._counter, self.max_len)
                self._counter += 1
                by_order[row.order] = row
            row.seqs.append(seq)
            row.ids.append(did)
            row.room -= n
            bisect.insort(index, (row.room, row.order))
        self._buffer = []
        all_rows = sorted(by_order.values(), key=lambda r: r.order)
        if final:
            self._open = []
            return all_rows
        done = [r for r in all_rows if r.room < self.close_below]
        keep = [r for r in all_rows if r.room >= self.close_below]
        if len(keep) > self.max_open:
            keep.sort(key=lambda r: (r.room, r.order))  # fullest first
            done += keep[: len(keep) - self.max_open]
            keep = keep[len(keep) - self.max_open :]
            done.sort(key=lambda r: r.order)
        self._open = keep
        return done


def packing_efficiency(tokens: int, rows: int, max_len: int) -> float:
    return tokens / (rows * max_len) if rows else 0.0

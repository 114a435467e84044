"""Micro-batches from packed rows: token-budget grouping and the varlen collate."""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np


def collate_packed(rows: list[dict]) -> dict[str, Any]:
    """Concatenate packed rows into one varlen micro-batch.

    Returns ``input_ids`` (int64, ``[T]``), ``cu_seqlens`` (int32, ``[docs + 1]``), ``max_seqlen``,
    ``position_ids`` (restarting at every document), ``source_tokens`` ({source: tokens}),
    ``num_rows``, ``num_tokens`` and ``positions`` (for the loader state)."""
    import torch

    if rows:
        ids = np.concatenate([r["input_ids"] for r in rows], dtype=np.int64)
        lens = np.concatenate([r["doc_lens"] for r in rows], dtype=np.int64)
    else:
        ids, lens = np.zeros(0, np.int64), np.zeros(0, np.int64)
    total = int(ids.shape[0])
    cu64 = np.zeros(lens.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens, out=cu64[1:])
    if int(cu64[-1]) != total:
        raise ValueError(f"doc_lens sum to {int(cu64[-1])} but the rows hold {total} tokens")
    cu = cu64.astype(np.int32)
    # positions restart at each document: ones, with a jump back at every document start, cumsum
    pos = np.ones(total, dtype=np.int64)
    if total:
        pos[cu64[:-1]] = 0
        pos[cu64[1:-1]] = 1 - lens[:-1]
        pos[0] = 0
        np.cumsum(pos, out=pos)
    src: dict[str, int] = {}
    for r in rows:
        src[r["source"]] = src.get(r["source"], 0) + int(r["input_ids"].shape[0])
    return {
        "input_ids": torch.from_numpy(ids),
        "cu_seqlens": torch.from_numpy(cu),
        "max_seqlen": int(lens.max()) if lens.size else 0,
        "position_ids": torch.from_numpy(pos),
        "source_tokens": src,
        "num_rows": len(rows),
        "num_tokens": total,
        "positions": [r["position"] for r in rows],
    }


def batch_by_tokens(rows: Iterable[dict], token_budget: int) -> Iterator[list[dict]]:
    """Group rows, in order, into lists of at most ``token_budget`` tokens (a longer row goes alone)."""
    buf: list[dict] = []
    n = 0
    for r in rows:
        k = int(r["input_ids"].shape[0])
        if buf and n + k > token_budget:
            yield buf
            buf, n = [], 0
        buf.append(r)
        n += k
    if buf:
        yield buf

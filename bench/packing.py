"""Packing efficiency: the engine's packer vs ModernBERT's greedy best-fit packer.

Efficiency = real tokens / (rows x max_seq_len), on a long-tailed clinical length
distribution (:func:`bench.synth.corpus.token_lengths`: short notes, discharge summaries, a tail of
long multi-day summaries), at max_seq_len 512, 1024 and 8192.  Every document becomes
``[CLS] chunk [SEP]`` windows of at most max_seq_len (the engine's ``kernels.packing.windows``
rule), and both packers get the same windows in the same order.

* **engine**: ``kernels.packing.BestFitPacker`` with the manifest default buffer (4096):
  best-fit *decreasing* inside a bounded buffer, with up to 64 partial rows carried over.
* **ModernBERT**: a reimplementation of the algorithm of ``GreedyBestFitSequencePacker``
  in ModernBERT's training code (``src/sequence_packer.py``, AnswerDotAI/ModernBERT): it
  builds one outgoing batch of ``batch`` rows at a time; sequences are taken in arrival
  order from a buffer of up to 5120 (refilled ``batch`` sequences at a time) and each goes
  into the row with the least remaining space that still fits it (best fit, *no* sorting);
  sequences that fit nowhere are set aside and put back at the front of the buffer for the
  next batch.  A batch is emitted when every row got at least one sequence; the first batch
  that cannot be filled ends the epoch (its sequences are not trained on, reported as
  "dropped").  Rows are padded to max_seq_len.  We use micro_batch_size 1 (one row =
  max_seq_len tokens) and batch 64 rows.

Target: engine >= 99.5% at 8192.
"""
from __future__ import annotations

import sys
import time
from collections import deque

import numpy as np

from bench import common
from bench.synth import corpus
from kernels.packing import BestFitPacker


def window_lengths(doc_tokens: list[int], max_len: int) -> list[int]:
    """Lengths of the engine's ``[CLS] chunk [SEP]`` windows for documents of ``doc_tokens`` content tokens."""
    body = max_len - 2
    out = []
    for n in doc_tokens:
        full, rest = divmod(max(n, 0), body)
        out.extend([max_len] * full)
        if rest or not full:
            out.append(rest + 2)
    return out


def engine_pack(lengths: list[int], max_len: int, buffer_size: int = 4096) -> dict:
    p = BestFitPacker(max_len, buffer_size)
    rows = 0
    t0 = time.perf_counter()
    for i, n in enumerate(lengths):
        rows += len(p.add(range(n), i))  # the packer only needs len(); range() stands in for the token array
    rows += len(p.flush())
    dt = time.perf_counter() - t0
    tokens = sum(lengths)
    return {"rows": rows, "tokens": tokens, "efficiency": tokens / (rows * max_len), "dropped_tokens": 0, "seconds": dt}


def modernbert_pack(lengths: list[int], max_len: int, batch: int = 64, buffer_size: int = 5120) -> dict:
    """Greedy best fit in arrival order, one batch of ``batch`` rows at a time (see module doc)."""
    src = iter(lengths)
    buf: deque[int] = deque()
    exhausted = False

    def fill(max_items: int) -> int:
        nonlocal exhausted
        added = 0
        while buffer_size - len(buf) > batch and not exhausted:
            if added + batch > max_items:
                break
            chunk = [n for _, n in zip(range(batch), src)]
            if not chunk:
                exhausted = True
                break
            buf.extend(n for n in chunk if n > 0)
            added += len(chunk)
        return added

    rows = tokens = 0
    t0 = time.perf_counter()
    while True:
        room = np.full(batch, max_len, dtype=np.int64)
        count = np.zeros(batch, dtype=np.int64)
        aside: list[int] = []
        while True:
            if not buf and fill(buffer_size - len(aside)) == 0:
                break
            n = buf.popleft()
            fits = np.flatnonzero(room >= n)
            if len(fits):
                k = fits[np.argmin(room[fits])]
                room[k] -= n
                count[k] += 1
            else:
                aside.append(n)
        buf.extendleft(aside)
        if (count > 0).all():
            rows += batch
            tokens += int(batch * max_len - room.sum())
        else:
            break
    dt = time.perf_counter() - t0
    total = sum(lengths)
    return {"rows": rows, "tokens": tokens, "efficiency": tokens / (rows * max_len) if rows else 0.0,
            "dropped_tokens": total - tokens, "dropped_frac": (total - tokens) / total, "seconds": dt}


def run(docs: int = 20000, lengths_at: tuple[int, ...] = (512, 1024, 8192), seed: int = 0, batch: int = 64) -> dict:
    doc_tokens = corpus.token_lengths(docs, "clinical", seed)
    arr = np.array(doc_tokens)
    out = {"bench": "packing", "docs": docs, "doc_tokens": {"mean": float(arr.mean()), "median": float(np.median(arr)),
                                                             "p99": float(np.percentile(arr, 99)), "max": int(arr.max())},
           "modernbert": {"algorithm": "GreedyBestFitSequencePacker (arrival-order best fit, buffer 5120)", "batch_rows": batch},
           "rows": []}
    for L in lengths_at:
        lens = window_lengths(doc_tokens, L)
        e = engine_pack(lens, L)
        mb = modernbert_pack(lens, L, batch)
        out["rows"].append({"max_seq_len": L, "windows": len(lens), "engine": e, "modernbert": mb})
    out["target"] = {"max_seq_len": 8192, "efficiency": 0.995}
    return out


def table(res: dict) -> str:
    rows = [[r["max_seq_len"], r["windows"], f"{r['engine']['efficiency']:.2%}", f"{r['modernbert']['efficiency']:.2%}",
             f"{r['modernbert']['dropped_frac']:.2%}", r["engine"]["rows"], r["modernbert"]["rows"],
             int(r["windows"] / max(r["engine"]["seconds"], 1e-9))] for r in res["rows"]]
    return common.fmt_table(rows, ["max_seq_len", "windows", "engine eff", "ModernBERT eff", "MB dropped", "engine rows",
                                   "MB rows", "engine seqs/s"])


def _args(ap) -> None:
    ap.add_argument("--docs", type=int, default=20000, help="documents drawn from the clinical length distribution")
    ap.add_argument("--small", action="store_true", help="2,000 documents")
    ap.add_argument("--lengths", default="512,1024,8192")
    ap.add_argument("--batch", type=int, default=64, help="rows per ModernBERT outgoing batch")
    ap.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    common.bench_main(argv, "packing", __doc__, _args,
                      lambda a: run(2000 if a.small else a.docs, tuple(int(x) for x in a.lengths.split(",")), a.seed, a.batch), table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

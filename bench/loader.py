"""Loader throughput: engine.train.stream (shuffle + mixing on, checksums verified) vs a plain pyarrow read.

    python -m bench.loader                      # synthesizes a build (4 sources, 8192-token rows) in a temp dir
    python -m bench.loader --build OUT          # an existing build output (e.g. the demo build)
    python -m bench.loader --small              # smoke run, seconds

Prints tokens/s of one loader process (rows, and token-budget micro-batches through collate_packed)
next to the raw read of the same shards (pyarrow IPC, memory-mapped, input_ids decoded to numpy),
and the ratio.  Targets: >= 5M tokens/s per process and >= 0.5x the raw read.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from bench import common
from engine.core import fsio
from engine.output.shards import Row, shard_metadata, shard_schema, write_shard

SPECIAL = {"unk": 0, "cls": 1, "sep": 2, "pad": 3, "mask": 4}


def synth_build(out: str, sources: int, shards: int, rows: int, seq: int, vocab: int = 50368, seed: int = 0) -> str:
    """A build output with random packed rows (Zipf token ids, documents of 50..2000 tokens), written by engine.output.shards."""
    rng = np.random.default_rng(seed)
    schema = shard_schema(vocab, shard_metadata("0" * 64, seq, SPECIAL, "bench"))
    listed = []
    for k in range(shards):
        for s in range(sources):
            name = f"src{s}"
            rs = []
            for _ in range(rows):
                # Zipf-distributed ids compress like real token streams (uniform random ones would not)
                ids = (np.minimum(rng.zipf(1.3, seq), vocab - 6) + 4).astype(np.uint16)
                lens, left = [], seq
                while left:
                    n = min(left, int(rng.integers(50, 2000)))
                    lens.append(n)
                    left -= n
                cu = np.cumsum([0] + lens)
                ids[cu[:-1]] = 1
                ids[cu[1:] - 1] = 2
                rs.append(Row(ids, lens, [f"d{i}" for i in range(len(lens))]))
            rel = f"shards/{name}/{name}-{k:05d}.arrow"
            info = write_shard(fsio.join(out, rel), rs, name, schema, batch_rows=128)
            listed.append({"path": rel, "source": name, "rows": info.rows, "tokens": info.tokens,
                           "segments": info.segments, "bytes": info.bytes, "sha256": info.sha256})
    weights = {f"src{s}": w for s, w in zip(range(sources), [2.0, 0.5, 1.0, 1.5] * sources)}
    build = {"format_version": 1, "complete": True, "build_id": "bench", "engine_version": "0.1.0",
             "max_seq_len": seq, "tokenizer": {"name": "synthetic", "sha256": "0" * 64, "vocab_size": vocab,
                                               "special_ids": SPECIAL},
             "manifest": {"name": "bench", "sources": [{"name": n, "weight": w} for n, w in weights.items()]},
             "sources": {n: {"weight": w} for n, w in weights.items()}, "shards": listed}
    fsio.write_json_atomic(fsio.join(out, "build.json"), build)
    return out


def raw_read(root: str, build: dict) -> tuple[int, float]:
    """The ceiling: every shard's input_ids decoded once, in order, no shuffling/mixing/verification."""
    t = time.perf_counter()
    tokens = 0
    for s in build["shards"]:
        r = ipc.open_file(pa.memory_map(os.path.join(root, s["path"]), "r"))
        for i in range(r.num_record_batches):
            vals = r.get_batch(i).column(0).values.to_numpy(zero_copy_only=False)
            tokens += int(vals.shape[0])
    return tokens, time.perf_counter() - t


def stream_read(root: str, token_budget: int | None, seed: int, verify_again: bool = True) -> tuple[int, float, dict]:
    from engine.output import reader
    from engine.train import stream

    if verify_again:
        reader._VERIFIED.clear()  # count the sha256 verification of every shard (once per process)
    t = time.perf_counter()
    ds = stream.ShardStream(root, seed=seed, epochs=1, token_budget=token_budget)
    tokens, per = 0, {}
    for item in ds:
        if token_budget:
            tokens += item["num_tokens"]
            for k, v in item["source_tokens"].items():
                per[k] = per.get(k, 0) + v
        else:
            n = int(item["input_ids"].shape[0])
            tokens += n
            per[item["source"]] = per.get(item["source"], 0) + n
    return tokens, time.perf_counter() - t, per


def _args(p) -> None:
    p.add_argument("--build", help="existing build output (local path); default: synthesize one")
    p.add_argument("--small", action="store_true", help="smoke mode: a tiny synthetic build")
    p.add_argument("--sources", type=int, default=4)
    p.add_argument("--shards", type=int, default=2, help="shards per source")
    p.add_argument("--rows", type=int, default=256, help="rows per shard")
    p.add_argument("--seq", type=int, default=8192)
    p.add_argument("--token-budget", type=int, default=65536)
    p.add_argument("--repeat", type=int, default=3, help="best of N")


def _run(a) -> dict:
    if a.small:
        a.sources, a.shards, a.rows, a.seq, a.repeat = 3, 1, 32, 1024, 1
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        root = a.build or synth_build(os.path.join(tmp, "out"), a.sources, a.shards, a.rows, a.seq)
        build = fsio.read_json(os.path.join(root, "build.json"))
        raw = min((raw_read(root, build) for _ in range(a.repeat)), key=lambda x: x[1])
        first = min((stream_read(root, None, 0) for _ in range(a.repeat)), key=lambda x: x[1])
        rows = min((stream_read(root, None, 0, False) for _ in range(a.repeat)), key=lambda x: x[1])
        coll = min((stream_read(root, a.token_budget, 0, False) for _ in range(a.repeat)), key=lambda x: x[1])
    return {
        "build": a.build or "synthesized", "token_budget": a.token_budget,
        "shards": len(build["shards"]), "raw_tokens": raw[0],
        "raw_tok_s": raw[0] / raw[1],
        "stream_first_epoch_tok_s": first[0] / first[1],
        "ratio_first_epoch": (first[0] / first[1]) / (raw[0] / raw[1]),
        "stream_rows_tokens": rows[0], "stream_rows_tok_s": rows[0] / rows[1],
        "stream_batches_tok_s": coll[0] / coll[1],
        "ratio_rows": (rows[0] / rows[1]) / (raw[0] / raw[1]),
        "ratio_batches": (coll[0] / coll[1]) / (raw[0] / raw[1]),
        "tokens_per_source": rows[2],
    }


def table(res: dict) -> str:
    return "\n".join([
        f"build: {res['build']} ({res['shards']} shards, {res['raw_tokens']:,} tokens once; "
        f"stream epoch with weights: {res['stream_rows_tokens']:,} tokens)",
        f"raw pyarrow read          : {res['raw_tok_s'] / 1e6:8.1f} M tokens/s",
        f"engine.train.stream rows, 1st   : {res['stream_first_epoch_tok_s'] / 1e6:8.1f} M tokens/s   ratio {res['ratio_first_epoch']:.2f}x"
        "   (includes sha256 of every shard, done once per process)",
        f"engine.train.stream rows        : {res['stream_rows_tok_s'] / 1e6:8.1f} M tokens/s   ratio {res['ratio_rows']:.2f}x",
        f"engine.train.stream micro-batch : {res['stream_batches_tok_s'] / 1e6:8.1f} M tokens/s   ratio {res['ratio_batches']:.2f}x"
        f"   (token budget {res['token_budget']}, collate_packed)",
        f"tokens per source: {res['tokens_per_source']}",
    ])


def main(argv=None) -> dict:
    return common.bench_main(argv, "loader", __doc__, _args, _run, table)


if __name__ == "__main__":
    main()

"""MinHash / near-dedup benchmark: signature speed vs datasketch, dedup peak memory at 1x vs 10x, precision/recall.

    python -m bench.minhash            # full run (a few minutes on 2 cores)
    python -m bench.minhash --small    # seconds-long smoke run
    python -m bench.minhash --json-out out.json

1. Signatures, one core, same generated documents: datasketch's fastest path (the best of
   ``MinHash.bulk`` and ``update_batch`` over the same word 5-gram shingles, default sha1-based
   hash, then with xxh32 as in its docs) vs ``kernels.minhash`` (numba kernel when numba is
   installed, and the numpy path).  Prints docs/s and the ratios (target >= 4x).
2. Peak RSS of the dedup step (``run_near_dedup`` after the map step, all tasks in one process,
   i.e. one worker doing every task in turn) at 1x and 10x corpus size, each in a fresh
   subprocess (``ru_maxrss``); the staging files are prepared in another subprocess.  The
   partition bound (``PARTITION_ENTRIES``) and group size are fixed, so partitions grow with the
   corpus and memory per task should not (target 10x / 1x <= 1.3).
3. Precision / recall of near dedup on planted pairs with known exact Jaccard over [0.5, 1].
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np

from bench import common


VOCAB_SIZE = 30_000


def _vocab() -> np.ndarray:
    rng = np.random.default_rng(123)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lens = rng.integers(2, 11, VOCAB_SIZE)
    return np.array(["".join(rng.choice(letters, n)) for n in lens], dtype=object)


def gen_docs(n: int, words: int, seed: int) -> list[str]:
    """``n`` documents of ``words`` random words (Zipf-ish vocabulary), deterministic."""
    rng = np.random.default_rng(seed)
    vocab = _vocab()
    idx = np.minimum(rng.zipf(1.2, (n, words)) - 1, VOCAB_SIZE - 1)
    # mix in uniform words so that unrelated documents share few 5-grams
    uni = rng.integers(0, VOCAB_SIZE, (n, words))
    idx = np.where(rng.random((n, words)) < 0.7, uni, idx)
    return [" ".join(vocab[row]) for row in idx]


def _shingles(text: str, n: int = 5) -> list[bytes]:
    w = text.lower().split()
    if len(w) < n:
        return [" ".join(w).encode()] if w else []
    return [" ".join(w[i:i + n]).encode() for i in range(len(w) - n + 1)]


# -- 1. speed -------------------------------------------------------------------------------------
def bench_speed(n_docs: int, words: int, num_perm: int = 128, rounds: int = 3) -> dict:
    """docs/s of every method, best of ``rounds`` interleaved rounds (the machine may be shared: the
    best round is the least disturbed one, and interleaving exposes all methods to the same load)."""
    from datasketch import MinHash

    from kernels.minhash import MinHasher

    docs = gen_docs(n_docs, words, seed=1)
    out: dict = {"docs": n_docs, "avg_bytes": int(np.mean([len(d) for d in docs])), "num_perm": num_perm, "rounds": rounds}

    def upd_batch(hashfunc=None):
        for d in docs:
            m = MinHash(num_perm=num_perm, hashfunc=hashfunc) if hashfunc else MinHash(num_perm=num_perm)
            m.update_batch(_shingles(d))

    # datasketch: shingling is part of the work for everyone (ours tokenizes + shingles too)
    methods = {
        "datasketch_bulk": lambda: MinHash.bulk([_shingles(d) for d in docs], num_perm=num_perm),
        "datasketch_update_batch": upd_batch,
    }
    try:
        import xxhash

        methods["datasketch_update_batch_xxh32"] = lambda: upd_batch(xxhash.xxh32_intdigest)
    except ImportError:  # pragma: no cover
        pass
    mh_np = MinHasher(num_perm=num_perm, use_numba=False)
    methods["ours_numpy"] = lambda: mh_np.signatures(docs)
    mh = MinHasher(num_perm=num_perm, use_numba=True)
    if mh._nb is not None:
        mh.signatures(docs[:4])  # compile / load the numba cache outside the timing
        methods["ours_numba"] = lambda: mh.signatures(docs)
    for _ in range(rounds):
        for name, fn in methods.items():
            t = time.perf_counter()
            fn()
            out[name] = max(out.get(name, 0.0), n_docs / (time.perf_counter() - t))
    best = max(v for k, v in out.items() if k.startswith("datasketch_"))
    out["datasketch_best"] = best
    out["ours_best"] = max(out.get("ours_numba", 0.0), out["ours_numpy"])
    out["ratio_best"] = out["ours_best"] / best
    out["ratio_numpy"] = out["ours_numpy"] / best
    return out


# -- 2. memory ------------------------------------------------------------------------------------
#: the 1x corpus is cut into ``parts`` band partitions / unit groups (2 x parts units); 10x keeps these sizes
def _limits(n_base: int, parts: int) -> tuple[int, int, int]:
    from kernels.lsh import choose

    bands = choose(0.8, 128, verify=True)[0]
    return max(1, n_base * bands // parts), max(1, n_base // parts), max(1, n_base // (2 * parts))


def _manifest():
    from engine.core.manifest import DedupConfig, Manifest, NearDedupConfig, ResourceConfig, SourceConfig

    return Manifest(
        name="bench", output="/tmp/unused", tokenizer="unused",
        dedup=DedupConfig(near=NearDedupConfig()),
        resources=ResourceConfig(dedup_partitions=1),
        sources=[SourceConfig(name="a", connector="jsonl", uri="/tmp/x", priority=1),
                 SourceConfig(name="b", connector="jsonl", uri="/tmp/x")],
    )


def prepare(folder: str, n_docs: int, words: int, unit_docs: int) -> None:
    """Staging files for ``n_docs`` docs (10 % near-copies of earlier docs, one word changed), two sources."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.dedup.near import NearDedupMapper
    from engine.core.records import DOC_SCHEMA
    from engine.stages.base import SourceContext

    m = _manifest()
    mapper = NearDedupMapper(m)
    units = []
    rng = np.random.default_rng(7)
    for k, lo in enumerate(range(0, n_docs, unit_docs)):
        n = min(unit_docs, n_docs - lo)
        docs = gen_docs(n, words, seed=1000 + k)
        for i in range(0, n, 10):  # near-copy of a neighbour
            w = docs[(i + 1) % n].split()
            w[int(rng.integers(0, len(w)))] = "changed"
            docs[i] = " ".join(w)
        src = m.sources[k % 2]
        table = pa.table({"doc_id": [f"{src.name}-{lo + i:08d}" for i in range(n)], "text": docs, "meta": [None] * n,
                          "key": [None] * n, "rank": [0] * n}, schema=DOC_SCHEMA)
        out = mapper.map(table, SourceContext(name=src.name, config=src, manifest=m))
        path = os.path.join(folder, f"u{k:05d}.parquet")
        pq.write_table(out, path)
        units.append({"unit_id": f"u{k:05d}", "source": src.name, "priority": src.priority, "scope": "global", "path": path})
    with open(os.path.join(folder, "units.json"), "w") as f:
        json.dump(units, f)


def _peak_mib() -> float:
    """Peak RSS of this process: VmHWM (per address space, so a fresh exec starts from zero; ru_maxrss
    would carry over the parent's peak through fork + exec), ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dedup_rss(folder: str, partition_entries: int, group_docs: int) -> dict:
    """Run the dedup step in this process; returns peak RSS (MiB) before and after, and the stats."""
    import engine.dedup.near as nd
    from engine.core.executor import no_worker_state
    from engine.run.local import LocalExecutor

    nd.PARTITION_ENTRIES = partition_entries
    nd.GROUP_DOCS = group_docs
    with open(os.path.join(folder, "units.json")) as f:
        units = json.load(f)
    base = _peak_mib()
    t = time.perf_counter()
    stats = nd.run_near_dedup(_manifest(), units, [], os.path.join(folder, "out", "near"), LocalExecutor(no_worker_state))
    dt = time.perf_counter() - t
    peak = _peak_mib()
    stats.pop("files", None)
    return {"baseline_mib": round(base, 1), "peak_mib": round(peak, 1), "seconds": round(dt, 2), "stats": stats}


def bench_memory(n_base: int, words: int, parts: int = 4) -> dict:
    out = {}
    pe, gd, ud = _limits(n_base, parts)
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (1, 10):
            folder = os.path.join(tmp, f"x{scale}")
            os.makedirs(folder)
            common.run_child("bench.minhash", ["--_prepare", folder, str(n_base * scale), str(words), str(ud)])
            out[f"x{scale}"] = common.run_child("bench.minhash", ["--_dedup", folder, str(pe), str(gd)])
    out["ratio_peak"] = out["x10"]["peak_mib"] / out["x1"]["peak_mib"]
    d1 = out["x1"]["peak_mib"] - out["x1"]["baseline_mib"]
    d10 = out["x10"]["peak_mib"] - out["x10"]["baseline_mib"]
    out["ratio_above_baseline"] = d10 / max(d1, 1e-9)
    return out


# -- 3. precision / recall ------------------------------------------------------------------------
def bench_quality(n_pairs: int, words: int, threshold: float = 0.8) -> dict:
    """Pairs (base, variant) with a random share of words replaced: exact Jaccard spread over ~[0.4, 1]."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.core.executor import no_worker_state
    from engine.dedup.near import NearDedupMapper, run_near_dedup
    from engine.run.local import LocalExecutor
    from engine.core.records import DOC_SCHEMA
    from engine.stages.base import SourceContext
    from kernels.minhash import exact_jaccard

    rng = np.random.default_rng(99)
    base = gen_docs(n_pairs, words, seed=555)
    vocab = _vocab()
    ids, texts, truth = [], [], {}
    for i, b in enumerate(base):
        w = b.split()
        k = int(rng.integers(0, max(2, len(w) // 12)))  # up to ~8 % of the words changed
        for pos in rng.choice(len(w), size=k, replace=False):
            w[pos] = vocab[int(rng.integers(0, VOCAB_SIZE))] + "x"
        v = " ".join(w)
        ids += [f"p{i:05d}-a", f"p{i:05d}-b"]
        texts += [b, v]
        truth[f"p{i:05d}-b"] = exact_jaccard(b, v)
    m = _manifest()
    src = m.sources[0]
    with tempfile.TemporaryDirectory() as tmp:
        table = pa.table({"doc_id": ids, "text": texts, "meta": [None] * len(ids), "key": [None] * len(ids),
                          "rank": [0] * len(ids)}, schema=DOC_SCHEMA)
        path = os.path.join(tmp, "u.parquet")
        pq.write_table(NearDedupMapper(m).map(table, SourceContext(name="a", config=src, manifest=m)), path)
        stats = run_near_dedup(m, [{"unit_id": "u", "source": "a", "priority": 1, "scope": "global", "path": path}], [],
                               os.path.join(tmp, "near"), LocalExecutor(no_worker_state))
        drops = pa.concat_tables([pq.read_table(f) for f in stats["files"]]).to_pylist()
    pred = {d["doc_id"] for d in drops if d["dup_of"] == d["doc_id"][:-1] + "a"}
    wrong = {d["doc_id"] for d in drops} - pred
    pos = {k for k, j in truth.items() if j >= threshold}
    tp = len(pred & pos)
    out = {"pairs": n_pairs, "true_dups": len(pos), "dropped": len(pred) + len(wrong), "unexpected_drops": len(wrong),
           "precision": tp / max(len(pred) + len(wrong), 1), "recall": tp / max(len(pos), 1)}
    for lo in (0.8, 0.85, 0.9, 0.95):
        sel = {k for k, j in truth.items() if j >= lo}
        out[f"recall_J>={lo}"] = len(pred & sel) / max(len(sel), 1)
    near_miss = {k for k, j in truth.items() if 0.7 <= j < threshold}
    out["dropped_share_J_0.7-0.8"] = len(pred & near_miss) / max(len(near_miss), 1)
    return out


def _args(ap) -> None:
    ap.add_argument("--small", action="store_true", help="seconds-long smoke run")
    ap.add_argument("--_prepare", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--_dedup", nargs=3, help=argparse.SUPPRESS)


def _child(a) -> dict | None:
    if a._prepare:
        prepare(a._prepare[0], int(a._prepare[1]), int(a._prepare[2]), int(a._prepare[3]))
        return {"ok": True}
    if a._dedup:
        return dedup_rss(a._dedup[0], int(a._dedup[1]), int(a._dedup[2]))
    return None


def _run(a) -> dict:
    if a.small:
        speed_docs, mem_docs, mem_words, q_pairs, parts, rounds = 200, 600, 60, 200, 2, 1
    else:
        speed_docs, mem_docs, mem_words, q_pairs, parts, rounds = 2_000, 20_000, 60, 3_000, 4, 3
    from kernels.lsh import choose, report

    return {"lsh": report(0.8, *choose(0.8, 128, verify=True)), "rounds": rounds,
            "speed": bench_speed(speed_docs, 330, rounds=rounds),
            "memory": bench_memory(mem_docs, mem_words, parts),
            "quality": bench_quality(q_pairs, 150)}


def table(res: dict) -> str:
    sp, mem, q, lr = res["speed"], res["memory"], res["quality"], res["lsh"]
    out = [f"signatures, 1 core, {sp['docs']} docs of ~{sp['avg_bytes']} B, 128 perms (docs/s, best of {res['rounds']} interleaved rounds):"]
    out += [f"  {k:32s} {sp[k]:10,.0f}" for k in sorted(k for k in sp if k.startswith(("datasketch_", "ours_")))]
    out.append(f"  ratio ours / datasketch best: {sp['ratio_best']:.2f}x (numpy path {sp['ratio_numpy']:.2f}x; target >= 4x)")
    for s in ("x1", "x10"):
        r = mem[s]
        out.append(f"dedup step {s:>3s}: {r['stats']['docs']:,} docs, P={r['stats']['partitions']}, peak RSS {r['peak_mib']:.0f} MiB "
                   f"(after imports {r['baseline_mib']:.0f} MiB), {r['seconds']:.1f} s, dropped {r['stats']['dropped']:,}")
    out.append(f"  peak RSS ratio 10x / 1x: {mem['ratio_peak']:.2f} (above baseline: {mem['ratio_above_baseline']:.2f}; target <= 1.3)")
    out.append(f"planted pairs: {q['pairs']} ({q['true_dups']} with exact J >= 0.8): precision {q['precision']:.3f}, recall {q['recall']:.3f}; "
               + ", ".join(f"{k} {v:.3f}" for k, v in q.items() if k.startswith(("recall_J", "dropped_share"))))
    out.append(f"LSH: {lr['bands']} bands x {lr['rows']} rows, P(candidate | J=0.8) = {lr['p_at_threshold']}, S-curve {lr['s_curve']}")
    return "\n".join(out)


def main(argv=None) -> int:
    common.bench_main(argv, "minhash", __doc__, _args, _run, table, child=_child)
    return 0


if __name__ == "__main__":
    sys.exit(main())

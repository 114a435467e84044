"""End to end: read -> exact + near dedup -> tokenize -> shards, the engine vs datatrove.

Same input (generated clinical + literature JSON Lines, ``--mb``, 4 files, 5% exact and 5%
near duplicates), same cores, each side in its own fresh process, timed from the command
line as a user runs it (interpreter start, Ray / worker pool start included):

* **engine**: ``python -m engine.build`` on a one-source manifest (jsonl connector,
  max_seq_len 8192, exact dedup + MinHash near dedup at 0.8 / 128 perms / 5-grams), Ray
  embedded with one worker per core.  Output: packed, windowed Arrow shards + ledger.
  Without ``engine.dedup.near`` in this checkout (or with ``--exact-only``) it runs exact
  dedup only and the result says ``near_dedup: false``.
* **datatrove** (version reported): its ``JsonlReader`` -> ``MinhashDedupSignature`` ->
  ``MinhashDedupBuckets`` -> ``MinhashDedupCluster`` -> ``JsonlReader`` ->
  ``MinhashDedupFilter`` -> ``DocumentTokenizer`` (same ``tokenizer.json``, ``[SEP]`` as
  end-of-document token), ``LocalPipelineExecutor`` with ``workers`` = cores and one task per
  input file (the bucket stage one task per band).  Default ``MinhashConfig`` (5-grams, 14
  bands x 8 = 112 hashes).  No separate exact stage: MinHash removes exact duplicates too
  (Jaccard 1), so datatrove is not charged for an extra pass.  Its output is a flat token
  stream (no packing, no windows).

Metric: input documents per second, end to end.  Target: engine >= 4x datatrove.

datatrove cannot share a venv with the engine's trainer (it pins ``transformers`` 4.x and an
older ``tokenizers``), so its side runs in a separate venv: ``--datatrove-python`` (or
``$BENCH_DATATROVE_PYTHON``) names that venv's interpreter; without it, this interpreter::

    python3 -m venv .venv-bench && .venv-bench/bin/pip install '.[bench]'
    python -m bench.end_to_end --datatrove-python .venv-bench/bin/python
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import common, data, tokenizer50k


def engine_inprocess(inp: Path, work: Path, tokenizer: str) -> dict:
    """The whole build in one fresh process on one core (no Ray): every task run by one ``Worker``, as
    ``bench.stage_profile`` runs it; wall time from the command line, interpreter start included."""
    folder = work / "inproc"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "bench").symlink_to(inp.resolve(), target_is_directory=True)
    t0 = time.perf_counter()
    r = common.run_child("bench.memory", ["--child", "--input", str(folder), "--tokenizer", tokenizer, "--workdir", str(work / "inproc-w")],
                         threads=1)
    wall = time.perf_counter() - t0
    b = r["buckets"]
    return {"wall_seconds": wall, "read": r["docs"], "written": r["written"], "exact_dup": b.get("exact_dup", 0),
            "near_dup": b.get("near_dup", 0), "tokens": r["tokens"], "tokenizer_backend": r["backend"], "mode": "inprocess, 1 core"}


def engine_build(inp: Path, work: Path, tokenizer: str, near: bool, workers: int | None, keep_staging: bool = False,
                 pack_group_mb: float | None = None) -> dict:
    out = work / "engine-out"
    res = {"pack_group_bytes": int(pack_group_mb * 1e6)} if pack_group_mb else {}
    m = common.write_manifest(work / "engine.yaml", [{"name": "bench", "connector": "jsonl", "uri": str(inp / "*.jsonl"),
                                                      "options": {"text_field": "text", "id_field": "id"}}],
                              tokenizer, str(out), 8192, near=near, **res)
    import os

    os.environ.setdefault("RAY_ADDRESS", "local")  # its own Ray, never a cluster someone else started on this machine
    r = common.run_build(m, out, workers, keep_staging)
    wall, doc, timings = r["wall"], r["doc"], r["timings"]
    t = doc["totals"]
    return {"wall_seconds": wall, "build_seconds": timings["wall_seconds"], "worker_seconds": timings["worker_seconds"],
            "read": t["read"], "written": t["written"], "exact_dup": t["exact_dup"], "near_dup": t["near_dup"],
            "tokens": t["tokens"], "rows": t["rows"], "shards": len(doc["shards"]), "bytes_read": t["bytes_read"],
            "chars_written": t["chars_written"], "out": str(out), "sources": doc["sources"],
            "tokenizer_backend": doc["tokenizer"].get("backend", {}).get("backend"), "timings": timings}


def _xxh32(d) -> int:
    import xxhash

    return xxhash.xxh32_intdigest(d.encode("utf-8") if isinstance(d, str) else d)


def _xxh64(d) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(d.encode("utf-8") if isinstance(d, str) else d)


def _shim_datatrove_xxhash() -> None:
    """datatrove 0.10.1 hashes ``str`` with xxhash, which xxhash >= 4 refuses ("Strings must be encoded
    before hashing"); encode first (same hash values as xxhash 3 gave).  Workers are forked so they inherit it."""
    import datatrove.utils.hashes.xxhash as m

    m.xxhash32, m.xxhash64 = _xxh32, _xxh64


def child_datatrove(a) -> dict:
    import importlib.metadata
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import DocumentTokenizer

    _shim_datatrove_xxhash()
    w = Path(a.workdir)
    files = len(list(Path(a.input).glob("*.jsonl")))
    cfg = MinhashConfig()
    W = a.workers
    s1 = LocalPipelineExecutor([JsonlReader(a.input, glob_pattern="*.jsonl"),
                                MinhashDedupSignature(output_folder=str(w / "sigs"), config=cfg)],
                               tasks=files, workers=W, logging_dir=str(w / "logs1"), start_method="fork")
    s2 = LocalPipelineExecutor([MinhashDedupBuckets(input_folder=str(w / "sigs"), output_folder=str(w / "buckets"), config=cfg)],
                               tasks=cfg.num_buckets, workers=W, logging_dir=str(w / "logs2"), start_method="fork", depends=s1)
    s3 = LocalPipelineExecutor([MinhashDedupCluster(input_folder=str(w / "buckets"), output_folder=str(w / "remove_ids"), config=cfg)],
                               tasks=1, workers=1, logging_dir=str(w / "logs3"), start_method="fork", depends=s2)
    s4 = LocalPipelineExecutor([JsonlReader(a.input, glob_pattern="*.jsonl"),
                                MinhashDedupFilter(input_folder=str(w / "remove_ids")),
                                DocumentTokenizer(output_folder=str(w / "tokens"), tokenizer_name_or_path=a.tokenizer,
                                                  local_working_dir=str(w / "tok-work"), eos_token="[SEP]")],
                               tasks=files, workers=W, logging_dir=str(w / "logs4"), start_method="fork", depends=s3)
    s4.run()
    stats = json.loads((w / "logs4" / "stats.json").read_text())
    kept = tokens = 0
    for st in stats:
        name = st.get("name", "")
        if "Minhash" in name or "minhash" in name.lower():
            kept = st.get("stats", {}).get("forwarded", kept)
        if "Tokeniz" in name or "tokeniz" in name.lower():
            tt = st.get("stats", {}).get("tokens", {})
            tokens = tt.get("total", tt) if isinstance(tt, dict) else tt
    return {"written": kept, "tokens": tokens, "version": importlib.metadata.version("datatrove")}


def datatrove_python(given: str | None = None) -> str:
    """The interpreter that runs datatrove (a separate venv with the ``[bench]`` extra), checked to import it."""
    import os
    import subprocess

    py = given or os.environ.get("BENCH_DATATROVE_PYTHON") or common.PY
    p = subprocess.run([py, "-c", "import datatrove"], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"datatrove is not importable by {py}: make a separate venv (python3 -m venv .venv-bench && "
                           ".venv-bench/bin/pip install '.[bench]') and pass --datatrove-python .venv-bench/bin/python")
    return py


def datatrove_run(inp: Path, work: Path, tokenizer: str, workers: int, python: str | None = None) -> dict:
    import subprocess

    dt_work = work / "datatrove"
    shutil.rmtree(dt_work, ignore_errors=True)
    dt_work.mkdir(parents=True)
    py = datatrove_python(python)
    cmd = [py, "-m", "bench.end_to_end", "--child", "datatrove", "--input", str(inp), "--workdir", str(dt_work),
           "--tokenizer", tokenizer, "--workers", str(workers)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=common.ROOT, env=common.thread_env(1), capture_output=True, text=True, timeout=7200)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"datatrove run failed ({p.returncode}):\n{p.stderr[-3000:]}")
    res = common.last_json(p.stdout)
    res["wall_seconds"] = wall
    res["python"] = py
    return res


def run(mb: float = 50, workers: int = 2, exact_only: bool = False, tokenizer: str | None = None,
        workdir: str | None = None, with_datatrove: bool = True, pack_group_mb: float | None = None,
        datatrove_python: str | None = None, engine_mode: str = "build") -> dict:
    tok = tokenizer or tokenizer50k.path()
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-e2e-"))
    try:
        inp = work / "input"
        shutil.rmtree(inp, ignore_errors=True)
        paths = data.write_jsonl(inp, mb, files=4, kind="mixed", seed=2, dup_rate=0.05, near_dup_rate=0.05)
        docs = sum(1 for p in paths for _ in p.open("rb"))
        in_bytes = sum(p.stat().st_size for p in paths)
        near = common.near_dedup_available() and not exact_only
        eng = (engine_inprocess(inp, work, tok) if engine_mode == "inprocess"
               else engine_build(inp, work, tok, near, workers, pack_group_mb=pack_group_mb))
        res = {"bench": "end_to_end", "mb": in_bytes / 1e6, "pack_group_mb": pack_group_mb, "docs": docs, "workers": workers, "near_dedup": near,
               "near_dedup_note": None if near else ("--exact-only" if exact_only else "engine.dedup.near not in this checkout: exact dedup only"),
               "engine": eng, "engine_docs_s": docs / eng["wall_seconds"], "engine_mode": engine_mode}
        if with_datatrove:
            dt = datatrove_run(inp, work, tok, workers, datatrove_python)
            res["datatrove"] = dt
            res["datatrove_docs_s"] = docs / dt["wall_seconds"]
            res["ratio"] = res["engine_docs_s"] / res["datatrove_docs_s"]
        res["target"] = 4.0
        res["tokenizer"] = tok
        return res
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def table(res: dict) -> str:
    e = res["engine"]
    rows = [["engine" + ("" if res["near_dedup"] else " (exact only)") + (f" ({e['mode']})" if e.get("mode") else ""), res["docs"], e["written"], e["exact_dup"] + e["near_dup"],
             e["tokens"], e["wall_seconds"], res["engine_docs_s"]]]
    if "datatrove" in res:
        d = res["datatrove"]
        rows.append([f"datatrove {d.get('version', '')}", res["docs"], d["written"], res["docs"] - d["written"] if d["written"] else "?",
                     d["tokens"], d["wall_seconds"], res["datatrove_docs_s"]])
    t = common.fmt_table(rows, ["pipeline", "docs in", "docs out", "dups removed", "tokens", "wall s", "docs/s"])
    if "ratio" in res:
        t += f"\nengine / datatrove: {res['ratio']:.2f}x docs/s (target {res.get('target', 4):g}x)"
    t += f"\ntokenizer {res.get('tokenizer')}; engine tokenizer backend: {e.get('tokenizer_backend', '?')}"
    return t


def _args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--small", action="store_true", help="2 MB input")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--exact-only", action="store_true", help="engine without near dedup")
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--pack-group-mb", type=float, help="engine resources.pack_group_bytes in MB (default: the engine's, 512 MB; "
                    "a single-source input smaller than that packs on one worker)")
    ap.add_argument("--tokenizer", help="tokenizer.json (default: a 50k byte-level BPE trained on the bench corpus, see bench.tokenizer50k)")
    ap.add_argument("--workdir")
    ap.add_argument("--datatrove-python", help="interpreter of a separate venv with the [bench] extra (default: "
                    "$BENCH_DATATROVE_PYTHON, else this one)")
    ap.add_argument("--engine-mode", choices=["build", "inprocess"], default="build",
                    help="build: python -m engine.build (Ray, --workers); inprocess: the whole build in one process on one core "
                         "(compare with --workers 1)")
    ap.add_argument("--child", choices=["datatrove"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    common.bench_main(
        argv, "end_to_end", __doc__, _args,
        lambda a: run(2 if a.small else a.mb, a.workers, a.exact_only, a.tokenizer, a.workdir, not a.no_datatrove, a.pack_group_mb,
                      a.datatrove_python, a.engine_mode),
        table, child=lambda a: child_datatrove(a) if a.child else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

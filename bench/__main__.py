"""``python -m bench all --mb N [--json-out results.json]``: every benchmark, side by side, one table.

Benches of this package (each also runs alone: ``python -m bench.<name> --help``):

* ``tokenize_pack``: engine tokenize+pack vs raw ``tokenizers`` ceiling and ``datasets.map``;
* ``packing``:       packing efficiency at 512 / 1024 / 8192 vs ModernBERT's greedy best fit;
* ``end_to_end``:    read -> exact + near dedup -> tokenize -> shards vs datatrove;
* ``scaling``:       1 vs 2 Ray workers, all20 (53.5B tokens) hours and core-hours;
* ``memory``:        peak RSS per worker as the input grows 1x -> 10x;
* ``stage_profile``: seconds per stage on one core and the all20 core-hour extrapolation.

Benches written alongside (``deid``, ``minhash``, ``loader``, ``readers``) run when present,
as ``python -m bench.<name> --small`` in a subprocess (``--others-args`` changes the flags);
their output is kept in the JSON and its tail printed.  Sizes: ``--mb`` is the input of
tokenize_pack, end_to_end and scaling, and the 10x input of memory; ``--small`` runs
everything on tiny inputs (a smoke run, numbers meaningless).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import shlex
import subprocess
import sys
import time
import traceback

from bench import common

OURS = ("tokenize_pack", "packing", "end_to_end", "scaling", "memory", "stage_profile")
OTHERS = ("deid", "minhash", "loader", "readers")


def _ok(v: float, target: float) -> str:
    return "yes" if v >= target else "NO"


def headline(results: dict) -> list[list]:
    rows = []
    r = results.get("tokenize_pack")
    if r and "rows" in r:
        for x in r["rows"]:
            rows.append([f"tokenize+pack T={x['threads']}", "MB/s vs tokenizers ceiling", x["engine_mb_s"], x["ceiling_mb_s"],
                         x["vs_ceiling"], ">= 4", _ok(x["vs_ceiling"], 4.0)])
            if "vs_datasets" in x:
                rows.append([f"tokenize+pack T={x['threads']}", "MB/s vs datasets.map+save", x["engine_mb_s"], x["datasets_mb_s"],
                             x["vs_datasets"], ">= 5", _ok(x["vs_datasets"], 5.0)])
            if "vs_datasets_mlm" in x:
                rows.append([f"tokenize+pack T={x['threads']}", "MB/s vs run_mlm.py tokenize+group_texts+save", x["engine_mb_s"],
                             x["datasets_mlm_mb_s"], x["vs_datasets_mlm"], "-", "-"])
    r = results.get("packing")
    if r and "rows" in r:
        for x in r["rows"]:
            e, m = x["engine"]["efficiency"], x["modernbert"]["efficiency"]
            tgt = ">= 99.5%" if x["max_seq_len"] == 8192 else "-"
            rows.append([f"packing {x['max_seq_len']}", f"efficiency % vs ModernBERT (it drops {x['modernbert']['dropped_frac']:.1%})", e * 100, m * 100, e / m if m else 0.0, tgt,
                         _ok(e, 0.995) if x["max_seq_len"] == 8192 else "-"])
    r = results.get("end_to_end")
    if r and "engine_docs_s" in r:
        name = "end-to-end" + ("" if r.get("near_dedup") else " (exact only)")
        rows.append([name, "docs/s vs datatrove", r["engine_docs_s"], r.get("datatrove_docs_s", float("nan")),
                     r.get("ratio", float("nan")), ">= 4", _ok(r["ratio"], 4.0) if "ratio" in r else "-"])
    r = results.get("scaling")
    if r and "speedup_2_vs_1" in r:
        rows.append(["scaling", "build phases s, 1 vs 2 workers", r["runs"]["2"]["work_s"], r["runs"]["1"]["work_s"],
                     r["speedup_2_vs_1"], "~2", "-"])
        e = r["all20"]
        rows.append(["all20 estimate", f"core-hours (bound: {e['bounding_stage']})", e["core_hours"], float("nan"), float("nan"), "-", "-"])
    r = results.get("stage_profile")
    if r and "all20" in r:
        e = r["all20"]
        rows.append(["all20 estimate (one-core stage profile)", f"core-hours (bound: {e['bounding_stage']})", e["core_hours"],
                     float("nan"), float("nan"), "-", "-"])
    r = results.get("memory")
    if r and r.get("rows"):
        a, b = r["rows"][0], r["rows"][-1]
        rows.append([f"memory {a['factor']}x->{b['factor']}x", "worker peak MiB", b["max_worker_peak_mib"], a["max_worker_peak_mib"],
                     b["growth_vs_1x"], "<= 1.3x", "yes" if b["growth_vs_1x"] <= 1.3 else "NO"])
    return rows


def markdown(rows: list[list], machine: dict) -> str:
    head = ["bench", "measure", "engine", "reference", "ratio", "target", "met"]
    fmt = lambda v: ("-" if v != v else f"{v:,.2f}") if isinstance(v, float) else str(v)  # noqa: E731  (nan -> "-")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    lines.append(f"\n{machine['cpus']} CPUs, {machine['mem_gib']} GiB, Python {machine['python']}, "
                 f"load {machine['loadavg_at_start']} at start, {machine['time_utc']}")
    return "\n".join(lines)


def run_ours(name: str, a) -> dict:
    mod = importlib.import_module(f"bench.{name}")
    small = a.small
    tok = a.tokenizer
    if name == "tokenize_pack":
        return mod.run(1.0 if small else a.mb, [1] if small else [int(x) for x in a.threads.split(",")], repeat=1 if small else 2,
                       run_mlm=a.run_mlm, tokenizer=tok)
    if name == "packing":
        return mod.run(2000 if small else a.packing_docs)
    if name == "end_to_end":
        return mod.run(2 if small else a.mb, exact_only=a.exact_only, tokenizer=tok, datatrove_python=a.datatrove_python)
    if name == "scaling":
        return mod.run(2 if small else a.mb, exact_only=a.exact_only, tokenizer=tok)
    if name == "memory":
        return mod.run(0.5 if small else a.mb / 10, (1, 3) if small else (1, 3, 10), tokenizer=tok)
    if name == "stage_profile":
        return mod.profile(2 if small else a.mb, tok)
    raise ValueError(name)


def _tokenizer_args(name: str, tokenizer: str) -> list[str]:
    """``--tokenizer PATH`` for a bench written alongside, when it takes one."""
    p = subprocess.run([common.PY, "-m", f"bench.{name}", "--help"], cwd=common.ROOT, env=common.thread_env(1),
                       capture_output=True, text=True, timeout=120)
    return ["--tokenizer", tokenizer] if "--tokenizer" in p.stdout else []


def run_other(name: str, args: list[str], timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        p = subprocess.run([common.PY, "-m", f"bench.{name}", *args], cwd=common.ROOT, env=common.thread_env(1),
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"bench": name, "error": f"timed out after {timeout:.0f}s"}
    out = {"bench": name, "args": args, "rc": p.returncode, "seconds": time.perf_counter() - t0, "stdout_tail": p.stdout[-4000:]}
    if p.returncode != 0:
        out["stderr_tail"] = p.stderr[-2000:]
    try:
        out["json"] = common.last_json(p.stdout)
    except RuntimeError:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="all", help="all, or one bench name (its own flags: python -m bench.<name> --help)")
    ap.add_argument("--mb", type=float, default=50, help="input size in MB (see above)")
    ap.add_argument("--small", action="store_true", help="tiny inputs everywhere (smoke run)")
    ap.add_argument("--only", help="comma-separated subset of benches")
    ap.add_argument("--threads", default="1,2", help="thread counts for tokenize_pack")
    ap.add_argument("--run-mlm", action="store_true", help="tokenize_pack also times transformers' run_mlm.py tokenize+group_texts recipe")
    ap.add_argument("--packing-docs", type=int, default=20000)
    ap.add_argument("--exact-only", action="store_true", help="engine without near dedup in end_to_end / scaling")
    ap.add_argument("--others-args", default="--small", help="flags for the benches written alongside")
    ap.add_argument("--others-timeout", type=float, default=1800)
    ap.add_argument("--json-out", help="write all results here")
    ap.add_argument("--tokenizer", help="tokenizer.json for every bench (default: a 50k byte-level BPE trained on the bench corpus, "
                    "see bench.tokenizer50k)")
    ap.add_argument("--datatrove-python", help="interpreter of a separate venv with the [bench] extra, for end_to_end's datatrove side")
    ap.add_argument("--markdown", action="store_true", help="also print the summary as a Markdown table (for the README)")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and argv[0] != "all":  # one bench, with its own flags
        importlib.import_module(f"bench.{argv[0]}").main(argv[1:])
        return 0
    a = ap.parse_args(argv)
    names = [n for n in (a.only.split(",") if a.only else OURS + OTHERS)]
    if not a.tokenizer:
        from bench import tokenizer50k

        a.tokenizer = tokenizer50k.path()
    results: dict = {"machine": common.machine(), "args": vars(a)}
    for name in names:
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            if name in OURS:
                res = run_ours(name, a)
                mod = importlib.import_module(f"bench.{name}")
                print(mod.table(res), flush=True)
            elif importlib.util.find_spec(f"bench.{name}") is None:
                print(f"   (bench.{name} not in this checkout; skipped)")
                results[name] = {"bench": name, "skipped": "not in this checkout"}
                continue
            else:
                res = run_other(name, shlex.split(a.others_args) + _tokenizer_args(name, a.tokenizer), a.others_timeout)
                if res.get("rc") == 2 and "unrecognized arguments" in res.get("stderr_tail", ""):
                    res = run_other(name, [], a.others_timeout)  # a bench without --small: its defaults
                print(res.get("stdout_tail", "")[-1500:].rstrip() or res.get("error", ""), flush=True)
                if res.get("rc"):
                    print(f"   exit {res['rc']}: {res.get('stderr_tail', '')[-500:]}")
        except Exception as e:  # one broken bench must not hide the others
            res = {"bench": name, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
            print(f"   FAILED: {res['error'][:500]}", flush=True)
        res["bench_seconds"] = time.perf_counter() - t0
        results[name] = res
        common.save_json(a.json_out, results)
    rows = headline(results)
    print("\n== summary (machine: %s CPUs, load %s at start)" % (results["machine"]["cpus"], results["machine"]["loadavg_at_start"]))
    print(common.fmt_table(rows, ["bench", "measure", "engine", "reference", "ratio", "target", "met"]) if rows else "(no results)")
    results["summary"] = rows
    results["summary_markdown"] = markdown(rows, results["machine"])
    if a.markdown:
        print("\n" + results["summary_markdown"])
    common.save_json(a.json_out, results)
    return 1 if any("error" in r for r in results.values() if isinstance(r, dict)) else 0


if __name__ == "__main__":
    sys.exit(main())

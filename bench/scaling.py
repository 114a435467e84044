"""Scaling: 1 vs 2 Ray workers, and what the 53.5B-token all20 build would cost.

Builds the same generated input (a clinical source and a literature source, JSON Lines,
``--mb`` in all, 5% exact duplicates) with ``--workers 1`` and ``--workers 2`` and reports
the speedup of the build phases (read + dedup + pack, Ray start excluded) and end to end.

From the 2-worker build's per-unit and per-group markers (kept with ``--keep-staging``)
it takes the measured worker seconds per stage and per source, divides by the tokens each
source wrote, and extrapolates core-hours for the reference workload
(BioClinical ModernBERT all20): 50.7B literature tokens (PubMed + PMC: rates of the
literature source) + 2.75B clinical tokens (rates of the clinical source), 53.5B in all.
Wall hours on C cores = core-hours / C (perfect scaling), and / (C x the 2-worker parallel
efficiency measured here) as a pessimistic bound; on a small or shared-machine run that
efficiency is dominated by fixed costs and noise.  The stage
with the most core-hours is the one that bounds the build.  The clinical source runs with
``deid: verify`` when the de-id stage (``engine.stages.deid``) is in the checkout, as the
real clinical sources do; otherwise de-id is missing from the estimate and the result says so.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from bench import common, data, tokenizer50k

ALL20 = {"literature": 50.7e9, "clinical": 2.75e9}


def _manifest(work: Path, tok: str, out: Path, near: bool, deid: bool) -> Path:
    srcs = []
    for kind in ("clinical", "literature"):
        s = {"name": kind, "connector": "jsonl", "uri": str(work / "input" / kind / "*.jsonl"),
             "options": {"text_field": "text", "id_field": "id"}, "deid": "verify" if (deid and kind == "clinical") else "skip"}
        srcs.append(s)
    return common.write_manifest(work / "scaling.yaml", srcs, tok, str(out), 8192, near=near)


def stage_seconds(out: Path) -> dict[str, Counter]:
    """Worker seconds per source and stage from the kept staging markers (``read.other``: parsing,
    staging writes and dedup keys; ``pack.other``: reading staged docs and drop lists)."""
    per: dict[str, Counter] = defaultdict(Counter)
    for f in (out / "_staging" / "units").glob("*.json"):
        m = json.loads(f.read_text())
        sec = m.get("seconds", {})
        named = {k: v for k, v in sec.items() if k != "total"}
        per[m["source"]].update(named)
        per[m["source"]]["read.other"] += max(0.0, sec.get("total", 0.0) - sum(named.values()))
    for f in (out / "_staging" / "groups").glob("*/*.json"):
        g = json.loads(f.read_text())
        sec = g.get("seconds", {})
        named = {k: v for k, v in sec.items() if k != "total"}
        per[g["source"]].update({f"pack.{k}": v for k, v in named.items()})
        per[g["source"]]["pack.other"] += max(0.0, sec.get("total", 0.0) - sum(named.values()))
    return per


def extrapolate(per: dict[str, Counter], doc: dict, dedup_core_s: float, efficiency: float,
                cores: tuple[int, ...] = (2, 64, 512)) -> dict:
    tokens = {n: s["tokens"] for n, s in doc["sources"].items()}
    total_tok = sum(tokens.values())
    stage_core_h: Counter = Counter()
    for src, target in ALL20.items():
        if not tokens.get(src):
            continue
        for stage, secs in per.get(src, {}).items():
            stage_core_h[stage] += secs / tokens[src] * target / 3600
    stage_core_h["dedup (global)"] = dedup_core_s / total_tok * sum(ALL20.values()) / 3600 if total_tok else 0.0
    core_h = sum(stage_core_h.values())
    bound = max(stage_core_h, key=stage_core_h.get) if stage_core_h else None
    eff = max(min(efficiency, 1.0), 0.05)
    return {"tokens": sum(ALL20.values()), "core_hours": core_h, "stage_core_hours": dict(stage_core_h.most_common()),
            "bounding_stage": bound, "bounding_share": stage_core_h[bound] / core_h if core_h else 0.0,
            "parallel_efficiency_measured": eff, "wall_hours": {str(c): core_h / c for c in cores},
            "wall_hours_at_measured_efficiency": {str(c): core_h / (c * eff) for c in cores},
            "per_core_tokens_s": sum(ALL20.values()) / (core_h * 3600) if core_h else 0.0}


def run(mb: float = 40, workdir: str | None = None, tokenizer: str | None = None, exact_only: bool = False) -> dict:
    tok = tokenizer or tokenizer50k.path()
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        for kind, seed in (("clinical", 3), ("literature", 4)):
            shutil.rmtree(work / "input" / kind, ignore_errors=True)
            data.write_jsonl(work / "input" / kind, mb / 2, files=4, kind=kind, seed=seed, dup_rate=0.05)
        near = common.near_dedup_available() and not exact_only
        deid = importlib.util.find_spec("engine.stages.deid") is not None
        runs = {}
        for w in (1, 2):
            out = work / f"out-{w}"
            m = _manifest(work, tok, out, near, deid)
            r = common.run_build(m, out, w, keep_staging=(w == 2))
            ws = r["timings"]["wall_seconds"]
            runs[w] = {"wall": r["wall"], "phases": ws, "work_s": ws["read"] + ws["dedup"] + ws["pack"],
                       "worker_seconds": r["timings"]["worker_seconds"]}
            if w == 2:
                doc = r["doc"]
                per = stage_seconds(out)
        speedup = runs[1]["work_s"] / runs[2]["work_s"]
        dedup_core_s = runs[2]["phases"]["dedup"] * 2
        ext = extrapolate(per, doc, dedup_core_s, speedup / 2)
        t = doc["totals"]
        return {"bench": "scaling", "mb": t["bytes_read"] / 1e6, "near_dedup": near, "deid": deid,
                "notes": [n for n in (None if near else "near dedup not in this checkout (or --exact-only): not in the estimate",
                                      None if deid else "de-id stage not in this checkout: clinical de-id cost not in the estimate") if n],
                "runs": {str(k): v for k, v in runs.items()}, "speedup_2_vs_1": speedup, "end_to_end_speedup": runs[1]["wall"] / runs[2]["wall"],
                "tokens": t["tokens"], "chars_per_token": t["chars_written"] / t["tokens"] if t["tokens"] else 0.0,
                "stage_seconds_per_source": {k: dict(v) for k, v in per.items()}, "all20": ext}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def table(res: dict) -> str:
    r1, r2 = res["runs"]["1"], res["runs"]["2"]
    lines = [common.fmt_table([["1 worker", r1["work_s"], r1["wall"]], ["2 workers", r2["work_s"], r2["wall"]]],
                              ["Ray workers", "build phases s", "end-to-end s"])]
    lines.append(f"speedup 2 vs 1: {res['speedup_2_vs_1']:.2f}x (phases), {res['end_to_end_speedup']:.2f}x (end to end)")
    e = res["all20"]
    lines.append(f"all20 (53.5B tokens) estimate: {e['core_hours']:,.0f} core-hours; wall "
                 + ", ".join(f"{h:,.1f} h on {c} cores" for c, h in e["wall_hours"].items())
                 + f" (perfect scaling; x{1 / e['parallel_efficiency_measured']:.2f} at the measured 2-worker efficiency)"
                 + f"; bounded by {e['bounding_stage']} ({e['bounding_share']:.0%} of core time), "
                 + f"{e['per_core_tokens_s']:,.0f} tokens/s per core overall")
    top = list(e["stage_core_hours"].items())[:6]
    lines.append("  core-hours by stage: " + ", ".join(f"{k} {v:,.1f}" for k, v in top))
    for n in res["notes"]:
        lines.append(f"  note: {n}")
    return "\n".join(lines)


def _args(ap) -> None:
    ap.add_argument("--mb", type=float, default=40)
    ap.add_argument("--small", action="store_true", help="2 MB input")
    ap.add_argument("--exact-only", action="store_true")
    ap.add_argument("--tokenizer", help="tokenizer.json (default: a 50k byte-level BPE trained on the bench corpus, see bench.tokenizer50k)")
    ap.add_argument("--workdir")


def main(argv: list[str] | None = None) -> int:
    common.bench_main(argv, "scaling", __doc__, _args, lambda a: run(2 if a.small else a.mb, a.workdir, a.tokenizer, a.exact_only), table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

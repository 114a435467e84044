"""Per-stage profile of a build on one core, and the all20 extrapolation from it.

Runs every phase of a build in this one process (no Ray, no start-up: one ``Worker``, the
dedup reduces and near dedup in-process, as a single worker would run them) on generated JSON
Lines: a clinical source (``deid: verify``, the real clinical sources' policy) and a literature
source, ``--mb`` in all, 5% exact and 5% near duplicates, near dedup on.  Each stage is timed
where it runs (wrappers around the functions a build calls, no profiler overhead):

``parse`` (connector read), ``arrow_docs`` (records -> Arrow batch), ``normalize``, ``deid``,
``filters``, ``exact_keys`` (decode + two hashes), ``near_map`` (MinHash + LSH), ``stage_write``
and the rest of phase 1 (``read_other``), ``dedup_exact`` and ``dedup_near`` (global reduces),
``tokenize`` (the encoder), ``window``, ``tokenize_other`` (reading staged docs, drop lists,
token file), ``pack`` and ``shard_write``.

From the per-source seconds and tokens it extrapolates the all20 reference workload of
DESIGN.md (50.7B literature + 2.75B clinical tokens): core-hours per stage, the stage that
bounds the build, and wall hours on 64 and 512 cores at perfect scaling.  Global dedup is
charged per token of the whole input.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench import common, data, tokenizer50k

ALL20 = {"literature": 50.7e9, "clinical": 2.75e9}
ORDER = ["parse", "arrow_docs", "normalize", "deid", "filters", "exact_keys", "near_map", "read_other",
         "dedup_exact", "dedup_near", "tokenize", "window", "tokenize_other", "pack", "shard_write", "pack_other"]


class Clock:
    """Seconds per (source, stage); ``source`` is set by the driver loop."""

    def __init__(self) -> None:
        self.sec: dict[str, Counter] = defaultdict(Counter)
        self.source = "global"

    def wrap(self, stage: str, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.sec[self.source][stage] += time.perf_counter() - t
        return timed

    def wrap_gen(self, stage: str, fn):
        def timed(*a, **k):
            it = iter(fn(*a, **k))
            while True:
                t = time.perf_counter()
                try:
                    x = next(it)
                except StopIteration:
                    self.sec[self.source][stage] += time.perf_counter() - t
                    return
                self.sec[self.source][stage] += time.perf_counter() - t
                yield x
        return timed


def _instrument(w, clock: Clock, backend: str) -> None:
    import engine.steps.pack as sp
    import engine.steps.read as sr
    import engine.steps.tokenize as st
    from engine.tokenizer import backends

    for s in w.stages:
        s.process = clock.wrap({"filter": "filters"}.get(s.name, s.name), s.process)
    if w.near is not None:
        w.near.map = clock.wrap("near_map", w.near.map)
    sr.docs_table = clock.wrap("arrow_docs", sr.docs_table)
    sr.dedup_exact.keys_table = clock.wrap("exact_keys", sr.dedup_exact.keys_table)
    st.windows = clock.wrap("window", st.windows)
    sp.write_shard = clock.wrap("shard_write", sp.write_shard)
    enc = backends.encoder_for(w.tokenizer, backend)
    enc.encode = clock.wrap("tokenize", enc.encode)
    sp.BestFitPacker.add = clock.wrap("pack", sp.BestFitPacker.add)
    sp.BestFitPacker.flush = clock.wrap("pack", sp.BestFitPacker.flush)


def _warm_up(w, m) -> None:
    """First calls outside the clock: numba compiles (or loads its cache), lazy imports, analyzer warm-up."""
    import itertools

    import engine.steps.read as wm
    from engine.core.records import Doc
    from engine.run.plan import plan_units

    plan = plan_units(m)
    for s in m.sources:
        ctx = w.context(s.name)
        docs = [r for r in itertools.islice(w.connector(s.name).read(plan[s.name][0]), 32) if isinstance(r, Doc)]
        table = wm.docs_table(docs)
        for st in w.stages:
            table = st.process(table, ctx).table
        wm.dedup_exact.keys_table(table, s.name, 0, "warm", m.resources.dedup_partitions)
        if w.near is not None:
            w.near.map(table, ctx)


def write_inputs(folder: Path, mb: float, kinds: tuple[str, ...] = ("clinical", "literature")) -> None:
    """The generated input: ``mb`` in all, split evenly over ``kinds``, 5% exact and 5% near duplicates."""
    for kind in kinds:
        shutil.rmtree(folder / kind, ignore_errors=True)
        data.write_jsonl(folder / kind, mb / len(kinds), files=2, kind=kind, seed={"clinical": 3, "literature": 4}.get(kind, 5),
                         dup_rate=0.05, near_dup_rate=0.05)


def profile(mb: float, tokenizer: str | None = None, backend: str = "auto", workdir: str | None = None,
            input_dir: str | None = None, deid: bool = True) -> dict:
    """Profile a build of ``input_dir`` (``<kind>/*.jsonl`` folders; generated with ``mb`` when not given)."""
    from engine.core.manifest import load_manifest
    from engine.dedup import exact as dedup_exact
    from engine.dedup.groups import GroupPlan, combine_group, route_drops
    from engine.dedup.near import run_near_dedup
    from engine.run.local import LocalExecutor
    from engine.run.plan import plan_units
    from engine.run.worker import Worker
    from engine.steps.pack import pack_group
    from engine.steps.read import read_unit
    from engine.steps.tokenize import tokenize_unit
    from engine.tokenizer.backends import choose

    tok = tokenizer or tokenizer50k.path()
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-prof-"))
    try:
        inp = Path(input_dir) if input_dir else work / "input"
        if not input_dir:
            write_inputs(inp, mb)
        srcs = []
        for kind in sorted(p.name for p in inp.iterdir() if p.is_dir()):
            srcs.append({"name": kind, "connector": "jsonl", "uri": str(inp / kind / "*.jsonl"),
                         "options": {"text_field": "text", "id_field": "id"}, "deid": "verify" if (deid and kind == "clinical") else "skip"})
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        mpath = common.write_manifest(work / "prof.yaml", srcs, tok, str(out), 8192, near=True)
        m, _ = load_manifest(str(mpath))
        t0 = time.perf_counter()
        w = Worker(m, str(out), tok)
        _, choice = choose(w.tokenizer, backend)
        m.tokenizer_backend = choice.backend
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        _warm_up(w, m)
        warmup = time.perf_counter() - t0
        clock = Clock()
        _instrument(w, clock, choice.backend)
        plan = plan_units(m)
        units = [u for s in m.sources for u in plan[s.name]]
        markers, tmarkers = {}, {}
        for s in m.sources:
            conn = w.connector(s.name)
            conn.read = clock.wrap_gen("parse", conn.read)
        for u in units:  # phase 1
            clock.source = u.source
            t = time.perf_counter()
            markers[u.unit_id] = read_unit(w, u)
            clock.sec[u.source]["_phase1"] += time.perf_counter() - t
        clock.source = "global"  # phase 2: global, charged per token of all sources
        t = time.perf_counter()
        P = m.resources.dedup_partitions
        gp = GroupPlan(w.layout.staging, [u.unit_id for u in units], P)  # as the build's dedup phase does
        for _, args in gp.combine_args(w.layout.keys):
            combine_group(*args)
        key_uris = gp.key_files()
        drop_uris = [w.layout.drops("supersede", p) for p in range(P)]
        for p in range(P):
            dedup_exact.reduce_supersede(p, gp.keyed_files(), drop_uris[p], P)
        supersede = list(drop_uris)
        for p in range(P):
            drop_uris.append(w.layout.drops("exact", p))
            dedup_exact.reduce_exact(p, key_uris, supersede, drop_uris[-1])
        clock.sec["global"]["dedup_exact"] += time.perf_counter() - t
        t = time.perf_counter()
        near_units = [{"unit_id": u.unit_id, "source": u.source, "priority": m.source(u.source).priority,
                       "scope": m.source(u.source).scope, "path": w.layout.near(u.unit_id)} for u in units if markers[u.unit_id].near]
        nstats = run_near_dedup(m, near_units, list(drop_uris), w.layout.drops_prefix("near"), LocalExecutor(lambda: w, 1))
        drop_uris += list(nstats.get("files", []))
        for _, args in gp.route_args(drop_uris):
            route_drops(*args)
        clock.sec["global"]["dedup_near"] += time.perf_counter() - t
        for u in units:  # phase 3
            clock.source = u.source
            t = time.perf_counter()
            tmarkers[u.unit_id] = tokenize_unit(w, u.source, u.unit_id, gp.drops_for(u.unit_id))
            clock.sec[u.source]["_tokenize"] += time.perf_counter() - t
        for s in m.sources:
            clock.source = s.name
            t = time.perf_counter()
            pack_group(w, s.name, 0, [u.unit_id for u in plan[s.name]], "profile")
            clock.sec[s.name]["_pack"] += time.perf_counter() - t
        per: dict[str, dict] = {}
        tokens, bytes_in, written, dropped, chars, buckets = Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
        for u in units:
            mk, tm = markers[u.unit_id], tmarkers[u.unit_id]
            bytes_in[u.source] += mk.bytes_read
            tokens[u.source] += tm.counts.get("tokens", 0)
            written[u.source] += tm.counts.get("written", 0)
            chars[u.source] += tm.counts.get("chars_written", tm.counts.get("chars", 0))
            for b in ("exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined"):
                dropped[u.source] += tm.counts.get(b, 0) + mk.counts.get(b, 0)
                buckets[b] += tm.counts.get(b, 0) + mk.counts.get(b, 0)
        for src, c in clock.sec.items():
            if src == "global":
                continue
            d = {k: v for k, v in c.items() if not k.startswith("_")}
            named1 = sum(d.get(k, 0.0) for k in ("parse", "arrow_docs", "normalize", "deid", "filters", "exact_keys", "near_map"))
            d["read_other"] = max(0.0, c["_phase1"] - named1)
            d["tokenize_other"] = max(0.0, c["_tokenize"] - d.get("tokenize", 0.0) - d.get("window", 0.0))
            d["pack_other"] = max(0.0, c["_pack"] - d.get("pack", 0.0) - d.get("shard_write", 0.0))
            per[src] = d
        glob = dict(clock.sec["global"])
        total_tokens = sum(tokens.values())
        return {"bench": "stage_profile", "mb": sum(bytes_in.values()) / 1e6, "tokenizer": tok, "backend": choice.as_dict(),
                "worker_startup_s": startup, "warmup_s": warmup, "seconds": per, "global_seconds": glob, "tokens": dict(tokens),
                "bytes": dict(bytes_in), "written": dict(written), "dropped": dict(dropped), "buckets": dict(buckets), "near_stats": {k: v for k, v in nstats.items() if isinstance(v, int)},
                "chars_written": dict(chars), "all20": extrapolate(per, glob, tokens, chars, bytes_in)}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def extrapolate(per: dict, glob: dict, tokens: Counter, chars: Counter, bytes_in: Counter, cores: tuple[int, ...] = (64, 512)) -> dict:
    """Core-hours per stage for all20, from measured seconds per input byte.  all20 is given in tokens: a
    source's input bytes = its tokens x the characters per token of its written text (the drop rates
    of real sources differ from the generated ones, so drops are not extrapolated)."""
    stage_h: Counter = Counter()
    all_bytes = 0.0
    for src, target in ALL20.items():
        if not tokens.get(src) or not bytes_in.get(src):
            continue
        src_bytes = target * chars[src] / tokens[src]
        all_bytes += src_bytes
        for stage, secs in per.get(src, {}).items():
            stage_h[stage] += secs / bytes_in[src] * src_bytes / 3600
    for stage, secs in glob.items():
        stage_h[stage] += secs / max(1, sum(bytes_in.values())) * all_bytes / 3600
    core_h = sum(stage_h.values())
    bound = max(stage_h, key=stage_h.get) if stage_h else None
    return {"tokens": sum(ALL20.values()), "input_tb": all_bytes / 1e12, "core_hours": core_h, "stage_core_hours": {k: stage_h[k] for k in ORDER if k in stage_h},
            "bounding_stage": bound, "bounding_share": stage_h[bound] / core_h if core_h else 0.0,
            "wall_hours": {str(c): core_h / c for c in cores}}


def table(res: dict) -> str:
    rows = []
    srcs = list(res["seconds"])
    for stage in ORDER:
        cells = []
        for s in srcs:
            v = res["seconds"][s].get(stage)
            cells += [v if v is not None else float("nan"), (res["bytes"][s] / 1e6 / v) if v else float("nan")]
        g = res["global_seconds"].get(stage)
        rows.append([stage, *cells, g if g is not None else float("nan"), res["all20"]["stage_core_hours"].get(stage, 0.0)])
    head = ["stage"] + [x for s in srcs for x in (f"{s} s", f"{s} MB/s")] + ["global s", "all20 core-h"]
    lines = [common.fmt_table(rows, head).replace("nan", "  -")]
    e = res["all20"]
    lines.append(f"backend {res['backend']['backend']}; worker start {res['worker_startup_s']:.1f}s + first calls "
                 f"{res['warmup_s']:.1f}s; input {res['mb']:.1f} MB; "
                 f"tokens {', '.join(f'{k} {v:,}' for k, v in res['tokens'].items())}")
    lines.append(f"all20 (53.5B tokens, ~{e['input_tb']:.2f} TB of text): {e['core_hours']:,.0f} core-hours, bounded by {e['bounding_stage']} "
                 f"({e['bounding_share']:.0%}); wall " + ", ".join(f"{h:,.1f} h on {c} cores" for c, h in e["wall_hours"].items())
                 + " at perfect scaling")
    return "\n".join(lines)


def _args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--small", action="store_true", help="2 MB input")
    ap.add_argument("--tokenizer", help="tokenizer.json (default: a 50k byte-level BPE trained on the bench corpus, see bench.tokenizer50k)")
    ap.add_argument("--backend", default="auto", choices=["auto", "hf", "fastokens"])
    ap.add_argument("--workdir")


def main(argv: list[str] | None = None) -> int:
    common.bench_main(argv, "stage_profile", __doc__, _args,
                      lambda a: profile(2 if a.small else a.mb, a.tokenizer, a.backend, a.workdir), table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

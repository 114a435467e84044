"""The build's phases before packing: read every unit, global dedup, tokenize every unit.

Each phase hands its tasks to the build's executor and reads back the markers of work a
previous run already finished (``--resume``).  ``run``: the :class:`engine.run.build.Build`
whose manifest, layout, executor and console progress the phase uses.
"""
from __future__ import annotations

import time
from collections import Counter

from engine.core import fsio
from engine.core.executor import Task
from engine.core.markers import ReadDone, ReadFailed, TokenizeDone, read_marker
from engine.core.records import WorkUnit
from engine.core.stamps import stamps_match
from engine.dedup import exact as dedup_exact
from engine.dedup.groups import GroupPlan, combine_group, route_drops
from engine.steps.read import read_unit
from engine.steps.tokenize import tokenize_unit


def _done_ids(folder: str) -> set[str]:
    return {u.rsplit("/", 1)[-1][:-5] for u in fsio.listdir(folder) if u.endswith(".json")}


def _finished(out: str, uri: str, parse):
    """The marker at ``uri`` if it parses and every file it vouches for is all there, else None
    (the step is done again: markers and staging files are written without an fsync)."""
    try:
        mk = parse(fsio.read_json(uri))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return mk if stamps_match(out, mk.files) else None


def read_phase(run, units: list[WorkUnit]) -> dict[str, ReadDone | ReadFailed]:
    t0 = time.time()
    lay = run.layout
    markers: dict[str, ReadDone | ReadFailed] = {}
    done_ids = _done_ids(lay.unit_markers())
    todo = []
    for u in units:
        mk = _finished(lay.out, lay.unit_marker(u.unit_id), read_marker) if u.unit_id in done_ids else None
        if mk is not None:
            markers[u.unit_id] = mk
        else:
            todo.append(u)
    if markers:
        run.progress.say(f"read: {len(markers)} of {len(units)} units already done, {len(todo)} to go")
    per_source: Counter = Counter()
    state = {"bytes": 0}

    def line() -> str:
        dt = max(1e-6, time.time() - t0)
        srcs = ", ".join(f"{s} {n:,} docs" for s, n in per_source.items())
        return (f"read {len(markers)}/{len(units)} units, {state['bytes'] / 1e6:,.1f} MB "
                f"({state['bytes'] / 1e6 / dt:,.2f} MB/s) | {srcs}")

    def on_done(unit: WorkUnit, marker: ReadDone | ReadFailed) -> None:
        markers[unit.unit_id] = marker
        state["bytes"] += marker.bytes_read
        per_source[unit.source] += marker.read
        run.progress.tick(line, force=len(markers) == len(units))

    run.executor.run([Task(u, read_unit, (u,), uses_worker=True) for u in todo], on_done)
    run.timings["read"] = time.time() - t0
    return markers


def dedup_phase(run, units: list[WorkUnit], markers: dict[str, ReadDone | ReadFailed]) -> dict[str, list[str]]:
    """Supersede ("latest version wins"), exact and near dedup; returns, per unit, the drop table its
    tokenize step applies (one per unit group: storage requests O(units + partitions))."""
    t0 = time.time()
    m, lay = run.manifest, run.layout
    P = m.resources.dedup_partitions
    gp = GroupPlan(lay.staging, [u.unit_id for u in units], P)
    run.executor.run([Task(g, combine_group, args) for g, args in gp.combine_args(lay.keys) if not fsio.exists(args[1])],
                     lambda g, r: None)
    key_uris = gp.key_files()
    drop_uris: list[str] = []
    stats: Counter = Counter()

    def reduce(kind: str, fn, inputs: list[str], extra) -> list[str]:
        outs = [lay.drops(kind, p) for p in range(P)]
        todo = [Task(p, fn, (p, inputs, *extra(outs[p]))) for p in range(P) if not fsio.exists(outs[p])]
        run.executor.run(todo, lambda p, r: stats.update({f"{kind}:{k}": v for k, v in r.items() if isinstance(v, int)}))
        return outs

    supersede: list[str] = []
    if any(markers[u.unit_id].keyed for u in units):
        supersede = reduce("supersede", dedup_exact.reduce_supersede, gp.keyed_files(), lambda out: (out, P))
        drop_uris += supersede
    if m.dedup.exact:
        drop_uris += reduce("exact", dedup_exact.reduce_exact, key_uris, lambda out: (supersede, out))
    if m.dedup.near is not None and m.dedup.near.enabled:
        drop_uris += _near(run, units, markers, list(drop_uris), stats)
    run.executor.run([Task(a, route_drops, args) for a, args in gp.route_args(drop_uris)
                      if not all(fsio.exists(o) for o in args[2])], lambda a, r: None)
    run.timings["dedup"] = time.time() - t0
    run.dedup_stats = dict(stats)
    run.progress.say("dedup: " + dedup_summary(stats) + " (every counter: report/timings.json and the report)")
    return {u.unit_id: gp.drops_for(u.unit_id) for u in units}


def _near(run, units, markers, earlier_drops: list[str], stats: Counter) -> list[str]:
    from engine.dedup.near import run_near_dedup

    m, lay = run.manifest, run.layout
    done_uri = fsio.join(lay.drops_folder(), "near.done.json")
    if not fsio.exists(done_uri):
        near_units = [
            {"unit_id": u.unit_id, "source": u.source, "priority": m.source(u.source).priority,
             "scope": m.source(u.source).scope, "path": lay.near(u.unit_id), "rows": markers[u.unit_id].kept}
            for u in units if markers[u.unit_id].near
        ]
        nstats = run_near_dedup(m, near_units, earlier_drops, lay.drops_prefix("near"), run.executor)
        fsio.write_json_atomic(done_uri, nstats)
    stats.update({f"near:{k}": v for k, v in fsio.read_json(done_uri).items() if isinstance(v, int)})
    return [u for u in fsio.listdir(lay.drops_folder())
            if u.rsplit("/", 1)[-1].startswith("near-") and u.endswith(".parquet")]


def tokenize_phase(run, units: list[WorkUnit], drop_uris: dict[str, list[str]]) -> dict[str, TokenizeDone]:
    t0 = time.time()
    lay = run.layout
    markers: dict[str, TokenizeDone] = {}
    done = _done_ids(lay.tokens_folder())
    todo = []
    for u in units:
        mk = _finished(lay.out, lay.tokens_marker(u.unit_id), TokenizeDone.from_json) if u.unit_id in done else None
        if mk is not None:
            markers[u.unit_id] = mk
        else:
            todo.append(Task(u.unit_id, tokenize_unit, (u.source, u.unit_id, drop_uris[u.unit_id]), uses_worker=True))
    tokens: Counter = Counter()
    for mk in markers.values():
        tokens[mk.source] += mk.counts.get("tokens", 0)

    def line() -> str:
        dt = max(1e-6, time.time() - t0)
        total = sum(tokens.values())
        return (f"tokenize {len(markers)}/{len(units)} units, {total:,} tokens ({total / dt:,.0f} tok/s) | "
                + ", ".join(f"{s} {n:,} tok" for s, n in tokens.items()))

    def on_done(uid: str, mk: TokenizeDone) -> None:
        markers[uid] = mk
        tokens[mk.source] += mk.counts.get("tokens", 0)
        run.progress.tick(line, force=len(markers) == len(units))

    run.executor.run(todo, on_done)
    run.timings["tokenize"] = time.time() - t0
    return markers


def dedup_summary(stats: dict) -> str:
    """The dedup counters a person reads at the console, in words."""
    from engine.output.findings import dedup_name

    keys = [k for k in ("supersede:superseded", "supersede:deleted", "exact:docs", "exact:dropped", "near:candidate_pairs", "near:verified_pairs",
                        "near:clusters", "near:dropped") if k in stats]
    return ", ".join(f"{dedup_name(k)} {stats[k]:,}" for k in keys) or "nothing to do"

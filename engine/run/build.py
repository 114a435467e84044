"""``python -m engine.build``: run a manifest into packed, tokenized Arrow shards + ledger.

Connects to the Ray cluster it is given (``RAY_ADDRESS``, or the one ``ray job submit``
runs it on) and otherwise starts Ray embedded on this machine.  The build runs in three
phases over worker actors (see docs/ARCHITECTURE.md):

1. read: per work unit, read -> normalize -> de-id check -> filters; surviving texts,
   dedup keys and quarantine records go to ``OUT/_staging`` and ``OUT/quarantine``;
2. dedup: global "latest version wins", exact dedup and near dedup as hash shuffles
   through files (hashes move, text does not);
3. tokenize (per unit: surviving documents -> [CLS] .. [SEP] windows) and pack (per source,
   runs of units are best-fit packed and written as shards, committed in order: rename
   into place, then ``build.json``).

Every step is recorded under ``OUT/_staging``, so ``--resume`` redoes only unfinished work.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter, defaultdict

from connectors import registry
from engine.core import fsio
from engine.output import ledger
from engine.run.lock import OutputLock, OutputLocked
from engine.core.manifest import Manifest, ManifestError, load_manifest
from engine.core.records import WorkUnit
from engine.run.worker import Layout, Worker

log = logging.getLogger("engine.build")


class BuildError(RuntimeError):
    """A build that cannot start or finish: the message says why (never document text)."""


# ------------------------------------------------------------------------------------------------
# planning


def plan_units(manifest: Manifest) -> dict[str, list[WorkUnit]]:
    """Work units per source, in manifest order; a source whose input is missing is an error naming it."""
    plan: dict[str, list[WorkUnit]] = {}
    for src in manifest.sources:
        conn = registry.get(src.connector)(src, manifest)
        try:
            units = conn.discover()
        except FileNotFoundError as e:
            raise BuildError(str(e) if src.name in str(e) else f"source {src.name!r}: {e}") from None
        except Exception as e:
            raise BuildError(f"source {src.name!r}: cannot list its input ({type(e).__name__}: {e})") from None
        if not units:
            raise BuildError(f"source {src.name!r}: no input files under {src.uri}")
        plan[src.name] = units
    return plan


def print_check(manifest: Manifest, plan: dict[str, list[WorkUnit]], out=sys.stdout) -> None:
    print(f"manifest {manifest.name}: {len(manifest.sources)} sources -> {manifest.output}", file=out)
    print(f"tokenizer {manifest.tokenizer}, max_seq_len {manifest.max_seq_len}", file=out)
    for src in manifest.sources:
        units = plan[src.name]
        files = sorted({u.path for u in units})
        size = sum(u.size if u.end < 0 else u.end - u.start for u in units)
        print(
            f"  {src.name:<28} {src.connector:<20} deid={manifest.deid_policy(src):<6} priority={src.priority:<3} "
            f"weight={src.weight:<5} {len(files)} file(s), {len(units)} unit(s), {size / 1e6:,.1f} MB",
            file=out,
        )
        for f in files[:3]:
            print(f"      {f}", file=out)
        if len(files) > 3:
            print(f"      ... {len(files) - 3} more", file=out)


def pack_groups(manifest: Manifest, plan: dict[str, list[WorkUnit]], markers: dict[str, dict]) -> list[tuple[str, int, list[str]]]:
    """Runs of consecutive units per source, each holding about ``pack_group_bytes`` of surviving text."""
    limit = manifest.resources.pack_group_bytes
    groups = []
    for src in manifest.sources:
        cur: list[str] = []
        size = 0
        g = 0
        for u in plan[src.name]:
            cur.append(u.unit_id)
            size += markers[u.unit_id].get("kept_chars", 0)
            if size >= limit:
                groups.append((src.name, g, cur))
                g, cur, size = g + 1, [], 0
        if cur:
            groups.append((src.name, g, cur))
    return groups


# ------------------------------------------------------------------------------------------------
# Ray


def connect_ray(num_cpus: int | None = None) -> str:
    """Join the cluster named by RAY_ADDRESS (set by ``ray job submit``), else start Ray embedded."""
    import ray

    if ray.is_initialized():
        return "existing"
    quiet = dict(logging_level=logging.WARNING, log_to_driver=True)
    addr = os.environ.get("RAY_ADDRESS")
    if addr:
        ray.init(address=addr, **quiet)
        return f"cluster {addr}"
    ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
    return "embedded"


class Pool:
    """A fixed set of worker actors; tasks go to idle actors, results come back as they finish."""

    def __init__(self, manifest: Manifest, out: str, tok_spec: str, build_id: str, workers: int | None, cpus: float):
        import ray

        total = ray.cluster_resources().get("CPU", 1)
        n = workers or max(1, int(total // cpus))
        if n * cpus > total:  # more actors than CPUs: they share them, never wait for CPUs the cluster lacks
            log.warning("%d workers x %.2f CPUs > %.1f CPUs in the cluster: %.2f CPUs each", n, cpus, total, total / n)
            cpus = total / n
        threads = str(max(1, int(cpus)))
        # set in the actor process before the tokenizer's thread pool starts (no runtime_env: it would
        # cost a fresh worker process per actor)
        env = {"RAYON_NUM_THREADS": threads, "OMP_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "true"}
        env |= {k: v for k, v in os.environ.items() if k.startswith("ENGINE_IO_")}
        cls = ray.remote(Worker).options(num_cpus=cpus, max_restarts=3, max_task_retries=3)
        self.actors = [cls.remote(manifest, out, tok_spec, build_id, env) for _ in range(n)]
        ray.get([a.ping.remote() for a in self.actors])

    def run(self, tasks: list[tuple[object, str, tuple]], on_done) -> None:
        """``tasks``: (key, method, args).  ``on_done(key, result)`` is called in completion order."""
        import ray

        idle = list(self.actors)
        pending = [(t, 0) for t in reversed(tasks)]
        inflight: dict = {}
        attempts, backoff, most = fsio.retry_settings()
        while pending or inflight:
            while idle and pending:
                task, tries = pending.pop()
                actor = idle.pop()
                inflight[getattr(actor, task[1]).remote(*task[2])] = (task, actor, tries)
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                task, actor, tries = inflight.pop(ref)
                idle.append(actor)
                try:
                    res = ray.get(ref)
                except Exception as e:  # a storage blip outside fsio's own retries: the task is idempotent, run it again
                    if isinstance(e, fsio.StorageError) or not fsio.is_transient(e):
                        raise
                    if tries + 1 >= attempts:
                        raise fsio.StorageError(f"storage unavailable: {task[1]} failed {attempts} times ({type(e).__name__})") from None
                    log.warning("%s failed with a transient storage error, retry %d", task[1], tries + 1)
                    time.sleep(min(most, backoff * 2 ** tries))
                    pending.append((task, tries + 1))
                    continue
                on_done(task[0], res)

    def shutdown(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a)


# ------------------------------------------------------------------------------------------------
# progress


class Progress:
    def __init__(self, enabled: bool = True, every: float = 2.0, stream=sys.stderr):
        self.enabled = enabled
        self.every = every
        self.stream = stream
        self.last = 0.0
        self.t0 = time.time()

    def say(self, msg: str) -> None:
        if self.enabled:
            print(f"[{time.time() - self.t0:7.1f}s] {msg}", file=self.stream, flush=True)

    def tick(self, msg_fn, force: bool = False) -> None:
        now = time.time()
        if self.enabled and (force or now - self.last >= self.every):
            self.last = now
            self.say(msg_fn())


# ------------------------------------------------------------------------------------------------
# the build


class Build:
    def __init__(self, manifest: Manifest, out: str, workers: int | None = None, progress: Progress | None = None,
                 keep_staging: bool = False):
        self.m = manifest
        self.out = out.rstrip("/")
        self.lay = Layout(self.out)
        self.workers = workers or manifest.resources.workers
        self.progress = progress or Progress()
        self.keep_staging = keep_staging
        self.timings: dict[str, float] = {}

    # -- state on disk ---------------------------------------------------------------------------
    def _state(self) -> tuple[dict | None, dict | None]:
        bj = fsio.join(self.out, "build.json")
        fp = fsio.join(self.lay.staging, "fingerprint.json")
        return (fsio.read_json(bj) if fsio.exists(bj) else None, fsio.read_json(fp) if fsio.exists(fp) else None)

    def prepare(self, resume: bool, force: bool) -> str:
        """Decide what to do with an existing output: 'fresh', 'resume' or 'done'."""
        done, staged = self._state()
        fingerprint = self.m.fingerprint()
        if force:
            for sub in ("shards", "quarantine", "report", "_staging", "build.json"):
                fsio.remove(fsio.join(self.out, sub), recursive=True)
            return "fresh"
        if done is not None and done.get("complete") and staged is None:
            if done.get("fingerprint") == fingerprint:
                return "done"
            raise BuildError(f"{self.out} holds a finished build of a different manifest; use --force to rebuild, or another --output")
        if staged is not None:
            if staged.get("fingerprint") != fingerprint:
                raise BuildError(
                    f"{self.out} holds an unfinished build of a different manifest or settings; use --force to start over"
                )
            if not resume:
                raise BuildError(f"{self.out} holds an unfinished build; continue it with --resume, or start over with --force")
            return "resume"
        if done is not None or fsio.listdir(fsio.join(self.out, "shards")):
            raise BuildError(f"{self.out} is not empty; use --resume, --force or another --output")
        return "fresh"

    # -- run ---------------------------------------------------------------------------------------
    def run(self, resume: bool = False, force: bool = False) -> dict:
        fsio.makedirs(self.out)
        with OutputLock(self.out):  # before prepare(): --force must never wipe an output another build is writing
            return self._run(resume, force)

    def _run(self, resume: bool, force: bool) -> dict:
        from engine.tokenizer import load_tokenizer

        t_start = time.time()
        state = self.prepare(resume, force)
        if state == "done":
            self.progress.say(f"{self.out}: build already complete (same manifest); nothing to do (use --force to rebuild)")
            return fsio.read_json(fsio.join(self.out, "build.json"))
        plan = plan_units(self.m)
        tok = load_tokenizer(self.m.tokenizer)
        all_units = [u for s in self.m.sources for u in plan[s.name]]
        bid = ledger.build_id(self.m.fingerprint(), [u.unit_id for u in all_units], tok.sha256)
        fsio.write_json_atomic(fsio.join(self.lay.staging, "fingerprint.json"), {"fingerprint": self.m.fingerprint(), "build_id": bid})
        where = connect_ray(self.workers)
        self.progress.say(
            f"build {self.m.name} ({bid}) -> {self.out}: {len(all_units)} units from {len(plan)} sources; Ray {where}"
            + (" (resuming)" if state == "resume" else "")
        )
        pool = Pool(self.m, self.out, self.m.tokenizer, bid, self.workers, self.m.resources.cpus_per_worker)
        try:
            markers = self._phase_read(pool, all_units)
            drop_uris = self._phase_dedup(pool, all_units, markers)
            tmarkers = self._phase_tokenize(pool, all_units, drop_uris)
            groups = self._phase_pack(pool, plan, markers, tmarkers, tok, bid)
        finally:
            pool.shutdown()
        return self._finish(tok, bid, all_units, markers, tmarkers, groups, t_start)

    # phase 1
    def _phase_read(self, pool: Pool, units: list[WorkUnit]) -> dict[str, dict]:
        t0 = time.time()
        markers: dict[str, dict] = {}
        done_ids = {u.rsplit("/", 1)[-1][:-5] for u in fsio.listdir(fsio.join(self.lay.staging, "units")) if u.endswith(".json")}
        todo = []
        for u in units:
            if u.unit_id in done_ids:
                markers[u.unit_id] = fsio.read_json(self.lay.unit_marker(u.unit_id))
            else:
                todo.append(u)
        if markers:
            self.progress.say(f"read: {len(markers)} of {len(units)} units already done, {len(todo)} to go")
        per_source: dict[str, Counter] = defaultdict(Counter)
        state = {"done": len(markers), "bytes": 0}

        def line() -> str:
            dt = max(1e-6, time.time() - t0)
            srcs = ", ".join(f"{s} {c['read']:,} docs" for s, c in per_source.items())
            return (f"read {state['done']}/{len(units)} units, {state['bytes'] / 1e6:,.1f} MB "
                    f"({state['bytes'] / 1e6 / dt:,.2f} MB/s) | {srcs}")

        def on_done(unit: WorkUnit, marker: dict) -> None:
            markers[unit.unit_id] = marker
            state["done"] += 1
            state["bytes"] += marker["bytes_read"]
            per_source[unit.source]["read"] += marker["read"]
            self.progress.tick(line, force=state["done"] == len(units))

        pool.run([(u, "process_unit", (u,)) for u in todo], on_done)
        self.timings["read"] = time.time() - t0
        return markers

    # phase 2
    def _phase_dedup(self, pool: Pool, units: list[WorkUnit], markers: dict[str, dict]) -> dict[str, list[str]]:
        from engine.dedup.groups import GroupPlan

        t0 = time.time()
        P = self.m.resources.dedup_partitions
        gp = GroupPlan(self.lay.staging, [u.unit_id for u in units], P)
        # one key file per unit group (O(units) reads), so each reducer reads groups, not units
        pool.run([(g, "combine_keys", args) for g, args in gp.combine_args(self.lay.keys) if not fsio.exists(args[1])],
                 lambda g, r: None)
        key_uris = gp.key_files()
        drop_uris: list[str] = []
        stats: Counter = Counter()

        def run_parts(kind: str, method: str, inputs: list[str], extra: tuple) -> list[str]:
            outs = [self.lay.drops(kind, p) for p in range(P)]
            todo = [(p, method, (p, inputs, *extra)) for p in range(P) if not fsio.exists(outs[p])]
            pool.run(todo, lambda p, r: stats.update({f"{kind}:{k}": v for k, v in r.items() if isinstance(v, int)}))
            return outs

        supersede: list[str] = []
        if any(markers[u.unit_id].get("keyed") for u in units):
            supersede = run_parts("supersede", "reduce_supersede", gp.keyed_files(), ())
            drop_uris += supersede
        if self.m.dedup.exact:
            drop_uris += run_parts("exact", "reduce_exact", key_uris, (supersede,))
        near = self.m.dedup.near
        if near is not None and near.enabled:
            from engine.dedup.near import run_near_dedup

            done_uri = fsio.join(self.lay.staging, "drops", "near.done.json")
            if not fsio.exists(done_uri):
                near_units = [
                    {"unit_id": u.unit_id, "source": u.source, "priority": self.m.source(u.source).priority,
                     "scope": self.m.source(u.source).scope, "path": self.lay.near(u.unit_id)}
                    for u in units if markers[u.unit_id].get("near")
                ]
                nstats = run_near_dedup(self.m, near_units, list(drop_uris), self.lay.drops_prefix("near"), len(pool.actors))
                fsio.write_json_atomic(done_uri, nstats)
            stats.update({f"near:{k}": v for k, v in fsio.read_json(done_uri).items() if isinstance(v, int)})
            drop_uris += [u for u in fsio.listdir(fsio.join(self.lay.staging, "drops"))
                          if u.rsplit("/", 1)[-1].startswith("near-") and u.endswith(".parquet")]
        # one drop table per unit group, so each unit reads one table, not one per partition
        pool.run([(a, "route_drops", args) for a, args in gp.route_args(drop_uris) if not all(fsio.exists(o) for o in args[2])],
                 lambda a, r: None)
        self.timings["dedup"] = time.time() - t0
        self.dedup_stats = dict(stats)
        self.progress.say("dedup: " + (", ".join(f"{k} {v:,}" for k, v in sorted(stats.items())) or "nothing to do"))
        return {u.unit_id: gp.drops_for(u.unit_id) for u in units}

    # phase 3
    def _phase_tokenize(self, pool: Pool, units: list[WorkUnit], drop_uris: dict[str, list[str]]) -> dict[str, dict]:
        t0 = time.time()
        tmarkers: dict[str, dict] = {}
        done = {u.rsplit("/", 1)[-1][:-5] for u in fsio.listdir(fsio.join(self.lay.staging, "tokens")) if u.endswith(".json")}
        todo = []
        for u in units:
            if u.unit_id in done:
                tmarkers[u.unit_id] = fsio.read_json(self.lay.tokens_marker(u.unit_id))
            else:
                todo.append((u.unit_id, "tokenize_unit", (u.source, u.unit_id, drop_uris[u.unit_id])))
        tokens = Counter()
        for m in tmarkers.values():
            tokens[m["source"]] += m["counts"].get("tokens", 0)

        def on_done(uid: str, m: dict) -> None:
            tmarkers[uid] = m
            tokens[m["source"]] += m["counts"].get("tokens", 0)
            dt = max(1e-6, time.time() - t0)
            self.progress.tick(
                lambda: f"tokenize {len(tmarkers)}/{len(units)} units, {sum(tokens.values()):,} tokens "
                f"({sum(tokens.values()) / dt:,.0f} tok/s) | " + ", ".join(f"{s} {n:,} tok" for s, n in tokens.items()),
                force=len(tmarkers) == len(units),
            )

        pool.run(todo, on_done)
        self.timings["tokenize"] = time.time() - t0
        return tmarkers

    def _phase_pack(self, pool: Pool, plan, markers, tmarkers, tok, bid: str) -> list[dict]:
        t0 = time.time()
        groups = pack_groups(self.m, plan, markers)
        committed: dict[tuple[str, int], dict] = {}
        for src, g, _ in groups:
            mu = self.lay.group_marker(src, g)
            if fsio.exists(mu):
                committed[(src, g)] = fsio.read_json(mu)
        next_group = Counter()
        shard_no = Counter()
        shards: list[dict] = []
        for src, g, _ in groups:  # the committed markers form a prefix per source
            if (src, g) in committed and next_group[src] == g:
                next_group[src] += 1
                for sh in committed[(src, g)]["shards"]:
                    shards.append(sh)
                    shard_no[src] += 1
        waiting: dict[tuple[str, int], dict] = {}
        state = {"n": sum(next_group.values()), "rows": 0}

        def write_ledger() -> None:
            sources = ledger.aggregate(self.m, list(markers.values()), list(tmarkers.values()), list(committed.values()))
            doc = ledger.build_json(self.m, tok, bid, sources, shards, [], complete=False)
            fsio.write_json_atomic(fsio.join(self.out, "build.json"), doc)

        def commit(src: str, res: dict) -> None:
            g = res["group"]
            entries = []
            for t in res["temp_shards"]:
                final = self.lay.shard(src, shard_no[src])
                shard_no[src] += 1
                fsio.move(t["path"], final)
                entries.append({"path": self.lay.rel(final), "source": src, "rows": t["rows"], "tokens": t["tokens"],
                                "segments": t["segments"], "bytes": t["bytes"], "sha256": t["sha256"]})
            marker = {k: v for k, v in res.items() if k != "temp_shards"} | {"shards": entries}
            fsio.write_json_atomic(self.lay.group_marker(src, g), marker)
            committed[(src, g)] = marker
            shards.extend(entries)
            next_group[src] = g + 1
            write_ledger()

        def on_done(key, res: dict) -> None:
            src, g = key
            waiting[key] = res
            state["n"] += 1
            state["rows"] += sum(t["rows"] for t in res["temp_shards"])
            while (src, next_group[src]) in waiting:
                commit(src, waiting.pop((src, next_group[src])))
            self.progress.tick(lambda: f"pack {state['n']}/{len(groups)} groups, {state['rows']:,} rows, {len(shards)} shards committed",
                               force=state["n"] == len(groups))

        todo = [((src, g), "pack_group", (src, g, uids)) for src, g, uids in groups if (src, g) not in committed]
        if len(todo) < len(groups):
            self.progress.say(f"pack: {len(groups) - len(todo)} of {len(groups)} groups already committed")
        pool.run(todo, on_done)
        self.timings["pack"] = time.time() - t0
        return [committed[(src, g)] for src, g, _ in groups]

    # the end
    def _finish(self, tok, bid: str, units: list[WorkUnit], markers: dict, tmarkers: dict, groups: list[dict], t_start: float) -> dict:
        unit_markers = [markers[u.unit_id] for u in units]
        token_markers = [tmarkers[u.unit_id] for u in units]
        sources = ledger.aggregate(self.m, unit_markers, token_markers, groups)
        errs = ledger.invariant_errors(sources)
        if errs:
            raise BuildError("ledger does not add up (an engine bug; the build is not marked complete):\n  " + "\n  ".join(errs))
        shards = [sh for g in groups for sh in g["shards"]]
        quarantine = []
        for m in unit_markers:
            if m.get("quarantine_file"):
                quarantine.append({"path": m["quarantine_file"], "source": m["source"],
                                   "counts": {k: v for k, v in m["counts"].items() if not k.startswith("phi:")}})
        for m in token_markers:
            if m.get("quarantine_file"):
                quarantine.append({"path": m["quarantine_file"], "source": m["source"],
                                   "counts": {k: m["counts"][k] for k in ("exact_dup", "near_dup", "filtered") if m["counts"].get(k)}})
        doc = ledger.build_json(self.m, tok, bid, sources, shards, quarantine, complete=True)
        fsio.write_json_atomic(fsio.join(self.out, "build.json"), doc)
        self.timings["total"] = time.time() - t_start
        stage_seconds: Counter = Counter()
        for m in unit_markers:
            stage_seconds.update(m.get("seconds", {}))
        for m in token_markers:
            stage_seconds.update({f"tokenize.{k}": v for k, v in m.get("seconds", {}).items()})
        for g in groups:
            stage_seconds.update({f"pack.{k}": v for k, v in g.get("seconds", {}).items()})
        report = {"build_id": bid, "wall_seconds": self.timings, "worker_seconds": dict(stage_seconds),
                  "dedup": getattr(self, "dedup_stats", {})}
        fsio.write_json_atomic(fsio.join(self.out, "report", "timings.json"), report)
        summary = summary_text(doc, self.timings)
        fsio.write_bytes_atomic(fsio.join(self.out, "report", "summary.txt"), summary.encode())
        try:
            from engine.output import report as html_report

            html_report.write_report(self.out, doc, report)
        except ImportError:
            pass
        if not self.keep_staging:
            fsio.remove(self.lay.staging, recursive=True)
        self.progress.say("done\n" + summary)
        return doc


def summary_text(doc: dict, timings: dict | None = None) -> str:
    lines = [f"build {doc['manifest']['name']} ({doc['build_id']}): {len(doc['shards'])} shards", ""]
    lines.append(ledger.table(doc["sources"], doc["max_seq_len"]))
    phi = {n: s["phi_hits"] for n, s in doc["sources"].items() if s.get("phi_hits")}
    if phi:
        lines += ["", "PHI hits by type:"] + [f"  {n}: " + ", ".join(f"{k}={v:,}" for k, v in h.items()) for n, h in phi.items()]
    top = []
    for n, s in doc["sources"].items():
        for b, rs in s.get("reasons", {}).items():
            for r, c in list(rs.items())[:3]:
                top.append(f"  {n}: {b}: {r} ({c:,})")
    if top:
        lines += ["", "where dropped documents went (top reasons):"] + top
    if timings:
        lines += ["", "wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m engine.build",
        description="Build de-identification-checked, deduplicated, tokenized, packed Arrow shards + ledger from a manifest. "
        "Runs on the Ray cluster in RAY_ADDRESS (or the one `ray job submit` runs it on), else starts Ray embedded.",
    )
    ap.add_argument("--manifest", required=True, help="manifest YAML; a bare name (all20.yaml, demo) is looked up under manifests/")
    ap.add_argument("--output", help="output URI (local path, s3://, gs://, memory://); overrides the manifest's output")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue an interrupted build, reusing committed work")
    g.add_argument("--force", action="store_true", help="delete what is in the output and build from scratch")
    ap.add_argument("--check", action="store_true", help="validate the manifest and list what each source would read, then exit")
    ap.add_argument("--workers", type=int, help="worker actors (default: manifest resources.workers, else the cluster's CPUs)")
    ap.add_argument("--keep-staging", action="store_true", help="keep OUT/_staging after a successful build")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        manifest, path = load_manifest(args.manifest, output=args.output)
        if args.check:
            print_check(manifest, plan_units(manifest))
            return 0
        Build(manifest, manifest.output, args.workers, Progress(not args.quiet), args.keep_staging).run(args.resume, args.force)
        return 0
    except (ManifestError, BuildError, OutputLocked, fsio.StorageError) as e:
        print(f"error: {getattr(e, 'cause', None) or e}", file=sys.stderr)  # a worker's error: its message, not Ray's traceback
        return 2
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

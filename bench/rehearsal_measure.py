"""What a build costs as a function of its unit count: per phase wall, driver CPU and memory,
storage requests by kind (counted at an S3 API server), staging files, build.json, audit,
report and loader start-up.

Each case generates its input with :mod:`bench.rehearsal` (``small:N`` = N JSON Lines files of
3 documents, one unit each; ``all20:F`` = the all20 shape at scale F), builds it in a fresh
process, then audits it, writes its report and opens the training stream over it.  With
``--storage s3`` input and output live on :mod:`bench.s3count`'s counting server (moto on
loopback) and the build process announces each phase to it, so every request lands in the
phase that made it.

    python -m bench.rehearsal_measure --case small:1000 --case small:10000 --storage s3
    python -m bench.rehearsal_measure --case small:2000 --storage local      # the 45 s check

The build process (``drive``) wraps the driver's phase methods (``Build._phase_*``,
``Build._finish``, ``plan_units``, the executor start) to time them: wall, driver process CPU,
driver RSS after the phase.  Staging files are counted before the build removes them.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import rehearsal
from bench.common import fmt_table

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


# ------------------------------------------------------------------------------------------------
# inside the build process


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _tree_cpu() -> float:
    """CPU seconds (user + system) of this process and every live descendant (executor workers, Ray's daemons)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me] + me.children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _instrument(record: dict) -> None:
    """Wrap the build driver's phases so each records wall, driver CPU and RSS (and tells the counter)."""
    from bench.s3count import announce
    from engine.core import fsio
    from engine.run import build as b

    def wrap(owner, name: str, label: str | None = None):
        fn = getattr(owner, name, None)
        if fn is None or getattr(fn, "_measured", False):
            return
        label = label or name.removeprefix("_phase_").lstrip("_")

        @functools.wraps(fn)
        def inner(*a, **kw):
            if label == "finish":
                _census(a[0], record)
            announce(label)
            w0, c0, t0 = time.perf_counter(), time.process_time(), _tree_cpu()
            try:
                out = fn(*a, **kw)
                if label == "plan":
                    record["units"] = sum(len(v) for v in out.values())
                return out
            finally:
                ph = record["phases"].setdefault(label, {"wall": 0.0, "cpu": 0.0, "all_cpu": 0.0})
                ph["wall"] += time.perf_counter() - w0
                ph["cpu"] += time.process_time() - c0
                ph["all_cpu"] += max(0.0, _tree_cpu() - t0)
                ph["rss_mb"] = _rss_mb()
                announce(f"after-{label}")

        inner._measured = True
        setattr(owner, name, inner if not isinstance(fn, staticmethod) else staticmethod(inner))

    def _census(build, rec: dict) -> None:
        announce("_census")
        counts: dict[str, int] = {}
        staging = (getattr(build, "layout", None) or build.lay).staging
        fs, path = fsio.fs_and_path(staging)
        sizes: dict[str, int] = {}
        for f, info in fs.find(path, detail=True).items():
            rel = f[len(path):].lstrip("/").split("/", 1)[0]
            counts[rel] = counts.get(rel, 0) + 1
            sizes[rel] = sizes.get(rel, 0) + int(info.get("size") or 0)
        rec["staging_files"] = counts
        rec["staging_bytes"] = sizes

    wrap(b, "plan_units", "plan")
    wrap(b, "connect_ray", "start")
    wrap(b, "make_executor", "start")
    for cls_name in ("Pool",):
        cls = getattr(b, cls_name, None)
        if cls is not None:
            wrap(cls, "__init__", "start")
    for name in [n for n in dir(b.Build) if n.startswith("_phase_")] + ["_finish"]:
        wrap(b.Build, name)
    try:  # the driver's phases as module functions (engine.run.phases, engine.run.commit)
        from engine.run import phases
    except ImportError:
        phases = None
    for mod in (phases, b):
        for name in dir(mod) if mod is not None else []:
            if name.endswith("_phase") and callable(getattr(mod, name)):
                wrap(mod, name, name[: -len("_phase")])


def drive(manifest: str, result: str, workers: int | None, executor: str | None) -> int:
    from engine.core.manifest import load_manifest
    from engine.run import build as b

    record: dict = {"phases": {}}
    _instrument(record)
    m, _ = load_manifest(manifest)
    t0, c0 = time.perf_counter(), time.process_time()
    kw = {"executor": executor} if executor else {}
    b.Build(m, m.output, workers, **kw).run(force=True)
    import resource

    record.update(wall=time.perf_counter() - t0, driver_cpu=time.process_time() - c0,
                  driver_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3)
    Path(result).write_text(json.dumps(record))
    return 0


# ------------------------------------------------------------------------------------------------
# the harness


def child(cmd: list[str], env: dict, timeout: float) -> dict:
    """Run a command; wall, CPU (user+sys of it and its waited-for children) and peak RSS (os.wait4)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise RuntimeError(f"{' '.join(cmd[:4])} timed out after {timeout}s") from None
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({p.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "stdout": out, "stderr": err}


def _peak(cmd: list[str], env: dict, timeout: float) -> dict:
    """Like :func:`child`, plus peak RSS and CPU of the process, sampled with psutil."""
    import psutil

    t0 = time.perf_counter()
    p = psutil.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, cpu = 0, 0.0
    while p.poll() is None:
        try:
            peak = max(peak, p.memory_info().rss)
            t = p.cpu_times()
            cpu = t.user + t.system
        except psutil.Error:
            pass
        if time.perf_counter() - t0 > timeout:
            p.kill()
            raise RuntimeError(f"{' '.join(cmd[:4])} timed out")
        time.sleep(0.02)
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({p.returncode}):\n{err[-3000:]}")
    return {"wall": time.perf_counter() - t0, "cpu": cpu, "peak_rss_mb": peak / 1e6, "stdout": out}


def _env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_ADDRESS"))}
    # RAY_ADDRESS=local: a Ray of its own even when another one runs on this machine
    env.update({"PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "local", "TOKENIZERS_PARALLELISM": "false",
                "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    env.update(extra or {})
    return env


def run_case(case: str, storage: str, work: Path, server, workers: int | None, partitions: int,
             near: bool, timeout: float, executor: str | None = None, deid: bool = False, build_only: bool = False) -> dict:
    shape, _, arg = case.partition(":")
    local = work / case.replace(":", "-")
    if shape == "small":
        info = rehearsal.generate_small(local, int(arg), 3)
    else:
        info = rehearsal.generate(local, float(arg or 0.0001))
    res = {"case": case, "storage": storage, "inputs": info, "partitions": partitions}
    env = _env()
    if storage == "s3":
        bucket = "rehearsal"
        prefix = case.replace(":", "-").replace(".", "_")
        server.put_tree(str(local), bucket, f"{prefix}/in")  # straight into the store: not counted
        in_uri, out_uri = f"s3://{bucket}/{prefix}/in", f"s3://{bucket}/{prefix}/out"
        env = _env(server.env() | {"REHEARSAL_COUNT_URL": server.endpoint})
        server.reset()
    else:
        in_uri, out_uri = str(local), str(local / "out")
    man = rehearsal.write_manifest(local / "rehearsal.yaml", in_uri, out_uri, str(ROOT / "tests" / "fixtures" / "tokenizer.json"),
                                   shape, deid=deid, near=near, resources={"dedup_partitions": partitions})
    result = local / "drive.json"
    cmd = [PY, "-m", "bench.rehearsal_measure", "drive", str(man), str(result)] + (["--workers", str(workers)] if workers else [])
    cmd += ["--executor", executor] if executor else []
    for attempt in range(3):  # Ray's node start gives up after 30 s on an overloaded machine: try again
        try:
            if storage == "s3":
                server.reset()
            b = child(cmd, env, timeout)
            break
        except RuntimeError as e:
            if "timed out during startup" not in str(e) or attempt == 2:
                raise
            print(f"{case}: Ray did not start, again", file=sys.stderr, flush=True)
    res["build"] = json.loads(result.read_text())
    res["build"]["process_wall"] = b["wall"]
    if storage == "s3":
        res["requests"] = server.counts()
        server.phase("after-build")
    if build_only:
        res["units"] = res["build"].get("units")
        return res
    from engine.core import fsio

    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    doc = fsio.read_json(fsio.join(out_uri, "build.json"))
    res["build_json_bytes"] = len(fsio.read_bytes(fsio.join(out_uri, "build.json")))
    res["units"] = res["build"].get("units")
    res["docs_read"] = sum(s.get("read", 0) for s in doc["sources"].values())
    res["tokens"] = sum(sh["tokens"] for sh in doc["shards"])
    res["shards"] = len(doc["shards"])
    timings = fsio.read_json(fsio.join(out_uri, "report", "timings.json"))
    res["worker_seconds"] = timings.get("worker_seconds", {})
    if storage == "s3":
        server.phase("audit")
    res["audit"] = {k: v for k, v in _peak([PY, "-m", "engine.audit", out_uri, "--json"], env, timeout).items() if k != "stdout"}
    if storage == "s3":
        server.phase("report")
    res["report"] = {k: v for k, v in _peak([PY, "-m", "engine.report", out_uri], env, timeout).items() if k != "stdout"}
    if storage == "s3":
        server.phase("loader")
    probe = ("import time,sys;t=time.perf_counter();from engine.train.stream import ShardStream;"
             "s=ShardStream(sys.argv[1],seed=0,epochs=1,cache_dir=sys.argv[2]);next(iter(s));print(time.perf_counter()-t)")
    ld = _peak([PY, "-c", probe, out_uri, str(local / "loader-cache")], env, timeout)
    res["loader"] = {"first_row_s": float(ld["stdout"].strip().splitlines()[-1]), "peak_rss_mb": ld["peak_rss_mb"]}
    if storage == "s3":
        res["requests_after"] = {k: v for k, v in server.counts().items() if k in ("audit", "report", "loader")}
    return res


# ------------------------------------------------------------------------------------------------
# tables

PHASES = ["plan", "start", "read", "dedup", "tokenize", "pack", "finish"]
KINDS = ["LIST", "HEAD", "GET", "PUT", "COPY", "DELETE", "POST"]


def _units(r: dict) -> int:
    return r.get("units") or sum(v["files"] for v in r["inputs"].values())


def tables(results: list[dict]) -> str:
    out = []
    rows = []
    for r in results:
        ph = r["build"]["phases"]
        n = _units(r)
        rows.append([r["case"], r["storage"], n, r["build"]["wall"]]
                    + [ph.get(p, {}).get("wall", 0.0) for p in PHASES]
                    + [r["build"]["driver_cpu"], r["build"]["driver_peak_rss_mb"]])
    out.append(fmt_table(rows, ["case", "storage", "units", "build s"] + [f"{p} s" for p in PHASES] + ["driver cpu s", "driver MB"]))
    rows = []
    for r in results:
        ph = r["build"]["phases"]
        n = _units(r)
        rows.append([r["case"], r["storage"], n]
                    + [1e3 * ph.get(p, {}).get("wall", 0.0) / n for p in ("read", "dedup", "tokenize", "pack")]
                    + [1e3 * sum(v.get("cpu", 0.0) for v in ph.values()) / n]
                    + [1e3 * ph.get(p, {}).get("all_cpu", 0.0) / n for p in ("read", "dedup", "tokenize", "pack")]
                    + [sum(v.get("all_cpu", 0.0) for v in ph.values())])
    out.append(fmt_table(rows, ["case", "storage", "units", "read ms/unit", "dedup ms/unit", "tokenize ms/unit",
                                "pack ms/unit", "driver cpu ms/unit", "read cpu ms/unit", "dedup cpu ms/unit",
                                "tokenize cpu ms/unit", "pack cpu ms/unit", "all cpu s"]))
    reqs = [r for r in results if r.get("requests")]
    if reqs:
        rows = []
        for r in reqs:
            n = _units(r)
            for p in PHASES:
                c = r["requests"].get(p, {})
                if c:
                    tot = sum(c.values())
                    rows.append([r["case"], p, n] + [c.get(k, 0) for k in KINDS] + [tot, tot / n])
            for p, c in r.get("requests_after", {}).items():
                tot = sum(c.values())
                rows.append([r["case"], p, n] + [c.get(k, 0) for k in KINDS] + [tot, tot / n])
        out.append(fmt_table(rows, ["case", "phase", "units"] + KINDS + ["total", "per unit"]))
    rows = []
    for r in [r for r in results if "audit" in r]:
        st = r["build"].get("staging_files", {})
        rows.append([r["case"], r["storage"], sum(st.values()), ", ".join(f"{k} {v}" for k, v in sorted(st.items())),
                     r["build_json_bytes"], r["audit"]["wall"], r["audit"]["peak_rss_mb"], r["report"]["wall"],
                     r["loader"]["first_row_s"]])
    if rows:
        out.append(fmt_table(rows, ["case", "storage", "staging files", "by folder", "build.json B", "audit s", "audit MB",
                                    "report s", "loader 1st row s"]))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["drive"]:
        ap = argparse.ArgumentParser(prog="python -m bench.rehearsal_measure drive")
        ap.add_argument("manifest")
        ap.add_argument("result")
        ap.add_argument("--workers", type=int)
        ap.add_argument("--executor")
        a = ap.parse_args(argv[1:])
        return drive(a.manifest, a.result, a.workers, a.executor)
    ap = argparse.ArgumentParser(prog="python -m bench.rehearsal_measure", description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", required=True, help="small:N (N files of 3 documents) or all20:SCALE")
    ap.add_argument("--storage", choices=["local", "s3"], default="local")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=16, help="resources.dedup_partitions")
    ap.add_argument("--near", action="store_true", help="near dedup on (small cases: off by default)")
    ap.add_argument("--deid", action="store_true", help="all20 cases: the manifest's de-identification policies (default: off)")
    ap.add_argument("--executor", help="local, ray or auto, where the build driver offers the choice")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--work", help="folder for inputs and outputs (default: a temporary one)")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--build-only", action="store_true", help="no audit, report and loader runs after the build")
    a = ap.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="rehearsal-"))
    work.mkdir(parents=True, exist_ok=True)
    server = None
    if a.storage == "s3":
        from bench.s3count import CountingServer

        server = CountingServer(log_path=str(work / "s3count.log")).start(in_process=True)
    results = []
    try:
        for case in a.case:
            near = a.near or case.startswith("all20")
            results.append(run_case(case, a.storage, work, server, a.workers, a.partitions, near, a.timeout, a.executor, a.deid,
                                    a.build_only))
            print(f"{case}: {results[-1]['build']['wall']:.1f}s", file=sys.stderr, flush=True)
    finally:
        if server is not None:
            server.stop()
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    print(tables(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Surviving failures: each test breaks a real build (subprocess) and checks the result.

All builds read the same copy of the demo inputs with a manifest that cuts them into many small
work units and pack groups, so "mid-build" is a wide window; ``ENGINE_IO_DELAY`` (a test hook in
engine.core.fsio) slows every write down so the fault lands while work is in flight.  Each faulted
build must end byte-identical to an undisturbed reference build of the same manifest.
Measurements are printed (``-s`` shows them) and written to ``$ENGINE_FAULTS_REPORT`` when set.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from s3_fixtures import ROOT, build_cmd, build_env, s3_server  # noqa: F401

pytestmark = pytest.mark.timeout(420)

RESULTS: dict[str, dict] = {}


def record(name: str, **vals) -> None:
    RESULTS[name] = vals
    print(f"\n[faults] {name}: " + ", ".join(f"{k}={v}" for k, v in vals.items()))
    path = os.environ.get("ENGINE_FAULTS_REPORT")
    if path:
        Path(path).write_text(json.dumps(RESULTS, indent=1))


# ------------------------------------------------------------------------------------------------
# helpers


def fault_manifest(path: Path, inputs: Path) -> Path:
    doc = yaml.safe_load((Path(ROOT) / "manifests" / "demo.yaml").read_text())
    doc["output"] = str(path.parent / "unused-out")
    doc["tokenizer"] = str(Path(ROOT) / "demo" / "tokenizer.json")
    for s in doc["sources"]:
        s["uri"] = str(inputs / Path(s["uri"]).name)
        s["deid"] = "skip"  # the faults are in storage and processes: no PHI model to load in every worker
    doc["shards"] = {"target_tokens": 4096, "batch_rows": 8}
    doc["resources"] = {"workers": 2, "cpus_per_worker": 0.5, "batch_docs": 64, "dedup_partitions": 3,
                        "pack_buffer": 64, "unit_bytes": 4096, "pack_group_bytes": 6000}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_bytes()
                ppid = int(stat.rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid: int) -> list[int]:
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(driver_pid: int) -> list[int]:
    """Ray worker actor processes of *this* build (descendants of its driver), never anyone else's."""
    return [p for p in descendants(driver_pid) if cmdline(p).startswith("ray::RayWorker")]


def reap(pids: list[int]) -> None:
    """SIGKILL processes this test started that outlived their driver (by pid, one by one)."""
    time.sleep(1)
    for p in pids:
        if os.path.exists(f"/proc/{p}") and cmdline(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None, every: float = 0.1):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"build ended (rc {proc.returncode}) before {what}: {proc.stderr.read()[-3000:] if proc.stderr else ''}")
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def count(folder: Path, pattern: str = "*.json") -> int:
    return len(list(folder.rglob(pattern))) if folder.exists() else 0


def shard_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "shards").rglob("*.arrow"))}


def ledger_shards(doc: dict) -> list[tuple]:
    return [(s["path"], s["sha256"], s["rows"], s["tokens"]) for s in doc["shards"]]


def start_build(manifest: Path, out: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(build_cmd(manifest, "--output", out, *args), env=build_env(env), cwd=str(manifest.parent),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pids = descendants(p.pid)
        p.kill()
        reap(pids)
        raise
    return p.returncode, err


def audit_ok(out: str, env: dict | None = None) -> dict:
    a = subprocess.run([sys.executable, "-m", "engine.audit", out, "--json"], env=build_env(env), capture_output=True,
                       text=True, timeout=120)
    res = json.loads(a.stdout)
    assert a.returncode == 0 and res["ok"], res["errors"]
    return res


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Inputs, manifest and an undisturbed build of it (in-process, local executor)."""
    from engine.core.manifest import load_manifest
    from engine.run.build import Build
    from engine.run.console import ConsoleProgress

    from conftest import copy_demo_data

    tmp = tmp_path_factory.mktemp("faults")
    inputs = copy_demo_data(tmp / "in")
    man = fault_manifest(tmp / "faults.yaml", inputs)
    out = tmp / "ref"
    m, _ = load_manifest(man, output=str(out))
    t0 = time.time()
    doc = Build(m, str(out), progress=ConsoleProgress(False), executor="local", workers=1).run()
    info = {"man": man, "tmp": tmp, "out": out, "doc": doc, "shards": shard_files(out), "seconds": time.time() - t0}
    assert len(doc["shards"]) >= 6, "the fault manifest should give many shards"
    return info


def same_as_reference(reference, out: Path, doc: dict | None = None) -> None:
    doc = doc or json.loads((out / "build.json").read_text())
    assert doc["complete"]
    assert ledger_shards(doc) == ledger_shards(reference["doc"])
    assert shard_files(out) == reference["shards"]
    assert doc["sources"] == reference["doc"]["sources"]


# ------------------------------------------------------------------------------------------------
# 1. a Ray worker process killed mid-build (the Ray executor restarts it; the result matches the local build)


@pytest.mark.slow
@pytest.mark.ray
def test_worker_killed_mid_build(reference):
    out = reference["tmp"] / "kill-worker"
    p = start_build(reference["man"], str(out), "--executor", "ray", env={"ENGINE_IO_DELAY": "0.15"})
    killed = []
    try:
        # once in the read phase ...
        wait_for(lambda: count(out / "_staging" / "units") >= 3, 120, "3 units read", p)
        pids = wait_for(lambda: worker_pids(p.pid), 30, "worker processes", p)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(("read", time.time()))
        # ... and once while packing
        wait_for(lambda: count(out / "_staging" / "groups") >= 1, 120, "a pack group committed", p)
        pids = wait_for(lambda: worker_pids(p.pid), 30, "worker processes", p)
        os.kill(pids[-1], signal.SIGKILL)
        killed.append(("pack", time.time()))
        rc, err = finish(p)
    except BaseException:
        pids = descendants(p.pid)
        p.kill()
        reap(pids)
        raise
    t_end = time.time()
    assert rc == 0, err[-3000:]
    same_as_reference(reference, out)
    audit_ok(str(out))
    record("worker_killed", kills=len(killed), seconds_from_first_kill_to_done=round(t_end - killed[0][1], 1),
           shards=len(reference["doc"]["shards"]), byte_identical=True)


# ------------------------------------------------------------------------------------------------
# 2. the driver SIGKILLed mid-build, then --resume


@pytest.mark.slow
def test_driver_sigkill_then_resume(reference):
    out = reference["tmp"] / "kill-driver"
    p = start_build(reference["man"], str(out), env={"ENGINE_IO_DELAY": "0.15"})
    try:
        wait_for(lambda: count(out / "_staging" / "groups") >= 2, 180, "2 pack groups committed", p)
    except BaseException:
        pids = descendants(p.pid)
        p.kill()
        reap(pids)
        raise
    pids = descendants(p.pid)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    reap(pids)  # worker processes die with their driver; make sure
    assert (out / "_lock.json").exists(), "the killed driver leaves its lock behind"
    units_done = count(out / "_staging" / "units")
    groups_done = count(out / "_staging" / "groups")
    before = {f: (f.stat().st_ino, f.stat().st_mtime_ns, f.stat().st_size) for f in (out / "shards").rglob("*.arrow")}
    listed_before = json.loads((out / "build.json").read_text())["shards"] if (out / "build.json").exists() else []
    for sh in listed_before:  # the ledger of a killed build lists only shards that are there
        assert (out / sh["path"]).exists()

    # without --resume it refuses; with it, it finishes
    r = subprocess.run(build_cmd(reference["man"], "--output", str(out)), env=build_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--resume" in r.stderr
    t0 = time.time()
    rc, err = finish(start_build(reference["man"], str(out), "--resume"))
    recover = time.time() - t0
    assert rc == 0, err[-3000:]
    assert "already done" in err and "already committed" in err
    same_as_reference(reference, out)
    audit_ok(str(out))
    after = {f: (f.stat().st_ino, f.stat().st_mtime_ns, f.stat().st_size) for f in (out / "shards").rglob("*.arrow")}
    kept = [f for f in before if after.get(f) == before[f]]
    rewritten = [f for f in after if after[f] != before.get(f)]
    total = sum(v[2] for v in after.values())
    assert len(kept) >= len(listed_before) > 0, "committed shards are reused, not rewritten"
    record("driver_sigkill_resume", units_done_before_kill=units_done, groups_committed_before_kill=groups_done,
           shards_reused=len(kept), shards_written_by_resume=len(rewritten),
           bytes_rewritten=sum(after[f][2] for f in rewritten), bytes_total=total,
           resume_seconds=round(recover, 1), reference_build_seconds=round(reference["seconds"], 1), byte_identical=True)


# ------------------------------------------------------------------------------------------------
# 3. two builds on one output


@pytest.mark.slow
def test_second_build_on_same_output_refuses(reference):
    out = reference["tmp"] / "two-builds"
    p = start_build(reference["man"], str(out), env={"ENGINE_IO_DELAY": "0.1"})
    try:
        wait_for(lambda: count(out / "_staging" / "units") >= 1, 120, "the first build to start", p)
        refusals = []
        for flags in ((), ("--resume",), ("--force",)):
            t0 = time.time()
            r = subprocess.run(build_cmd(reference["man"], "--output", str(out), *flags), env=build_env(),
                               capture_output=True, text=True, timeout=120)
            refusals.append(time.time() - t0)
            assert r.returncode == 2, r.stderr[-2000:]
            assert "another build is writing to this output" in r.stderr, r.stderr[-2000:]
            assert f"pid {p.pid}" in r.stderr
        assert (out / "_staging").exists(), "--force of the second build must not have wiped anything"
        rc, err = finish(p)
    except BaseException:
        pids = descendants(p.pid)
        p.kill()
        reap(pids)
        raise
    assert rc == 0, err[-3000:]
    same_as_reference(reference, out)
    audit_ok(str(out))
    assert not (out / "_lock.json").exists()
    record("two_builds", refusals=len(refusals), max_refusal_seconds=round(max(refusals), 1), first_build_intact=True)


def test_lock_race_and_takeover(tmp_path):
    """Unit level: simultaneous acquires have one winner; a dead holder on this host is taken over at once."""
    from engine.run.lock import OutputLock, OutputLocked

    out = str(tmp_path / "o")
    wins, losses = [], []
    barrier = threading.Barrier(8)

    def go():
        lk = OutputLock(out)
        barrier.wait()
        try:
            lk.acquire()
            wins.append(lk)
        except OutputLocked as e:
            losses.append(str(e))

    ts = [threading.Thread(target=go) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    wins[0].release()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_uri = tmp_path / "o" / "_lock.json"
    import socket

    lock_uri.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "started": 1, "run_id": "x", "heartbeat": time.time()}))
    lk = OutputLock(out)
    lk.acquire()  # the holder's process is gone: taken over without waiting for the heartbeat to go stale
    lk.release()
    lock_uri.write_text(json.dumps({"host": "elsewhere", "pid": 1, "run_id": "y", "heartbeat": time.time()}))
    with pytest.raises(OutputLocked, match="another build is writing"):
        OutputLock(out).acquire()
    lock_uri.write_text(json.dumps({"host": "elsewhere", "pid": 1, "run_id": "y", "heartbeat": time.time() - 120}))
    lk = OutputLock(out)
    lk.acquire()  # stale heartbeat
    lk.release()


# ------------------------------------------------------------------------------------------------
# 4. output storage failing for a while (S3 endpoint gone, then back; then gone for good)


def s3_shards(fs, prefix: str) -> dict[str, bytes]:
    return {k[len(prefix) + 1:]: fs.cat_file(k) for k in sorted(fs.find(prefix + "/shards"))}


@pytest.mark.slow
def test_s3_outage_retried_then_clear_failure(reference, s3_server):
    fs = s3_server.filesystem()
    if not fs.exists("faults"):
        fs.mkdir("faults")
    env = s3_server.env() | {"AWS_MAX_ATTEMPTS": "2", "ENGINE_IO_DELAY": "0.15", "ENGINE_IO_RETRIES": "10",
                             "ENGINE_IO_BACKOFF": "0.5", "ENGINE_IO_BACKOFF_MAX": "4"}

    # (a) the endpoint disappears for 8 s in the middle of the read phase, then comes back
    p = start_build(reference["man"], "s3://faults/a", env=env)
    try:
        wait_for(lambda: len(fs.find("faults/a/_staging/units")) >= 3, 180, "3 units on S3", p, every=0.3)
        s3_server.proxy.stop()
        t_down = time.time()
        time.sleep(8)
        s3_server.proxy.start()
        rc, err = finish(p)
    except BaseException:
        s3_server.proxy.start() if not s3_server.proxy.up else None
        pids = descendants(p.pid)
        p.kill()
        reap(pids)
        raise
    assert rc == 0, err[-3000:]
    retries = err.count("retry")
    doc = json.loads(fs.cat_file("faults/a/build.json"))
    assert ledger_shards(doc) == ledger_shards(reference["doc"])
    assert s3_shards(fs, "faults/a") == {k: v for k, v in reference["shards"].items()}
    audit_ok("s3://faults/a", s3_server.env())
    record("s3_outage_8s", outage_seconds=8, retry_warnings_logged=retries, done_seconds_after_outage_start=round(time.time() - t_down, 1),
           byte_identical=True)
    assert retries > 0, "the outage should have been seen and retried"

    # (b) the endpoint disappears for good while shards are being committed: a clear failure, a
    #     ledger that lists only shards that exist, and --resume finishes once it is back
    env_b = env | {"ENGINE_IO_RETRIES": "3", "ENGINE_IO_BACKOFF": "0.2"}
    p = start_build(reference["man"], "s3://faults/b", env=env_b)
    try:
        wait_for(lambda: len(fs.find("faults/b/_staging/groups")) >= 1, 180, "a group committed on S3", p, every=0.3)
        s3_server.proxy.stop()
        t_down = time.time()
        rc, err = finish(p, timeout=240)
    except BaseException:
        pids = descendants(p.pid)
        p.kill()
        reap(pids)
        raise
    finally:
        fail_after = time.time() - t_down if "t_down" in dir() else None
        s3_server.proxy.start()
    assert rc != 0
    assert "storage unavailable" in err, err[-3000:]
    last_lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    doc = json.loads(fs.cat_file("faults/b/build.json")) if fs.exists("faults/b/build.json") else {"shards": [], "complete": False}
    assert not doc["complete"]
    for sh in doc["shards"]:
        assert fs.exists("faults/b/" + sh["path"]), f"ledger lists {sh['path']} which is not there"
    listed = len(doc["shards"])
    t0 = time.time()
    rc, err2 = finish(start_build(reference["man"], "s3://faults/b", "--resume", env=env))
    assert rc == 0, err2[-3000:]
    assert s3_shards(fs, "faults/b") == reference["shards"]
    record("s3_down_for_good", failed_after_seconds=round(fail_after, 1), error=(last_lines[-1][:160] if last_lines else "?"),
           shards_listed_at_failure=listed, all_listed_present=True, resume_seconds=round(time.time() - t0, 1),
           byte_identical_after_resume=True)


def test_fsio_retry_policy(monkeypatch, tmp_path):
    """Unit level: transient errors are retried with growing waits, permanent ones are not, then StorageError."""
    from engine.core import fsio

    monkeypatch.setenv("ENGINE_IO_RETRIES", "4")
    monkeypatch.setenv("ENGINE_IO_BACKOFF", "0.01")
    sleeps = []
    monkeypatch.setattr(fsio.time, "sleep", lambda s: sleeps.append(s))
    calls = []

    def flaky(attempt):
        calls.append(attempt)
        if attempt < 2:
            raise ConnectionRefusedError(111, "refused")
        return "ok"

    assert fsio.retrying(flaky, "op") == "ok" and calls == [0, 1, 2]
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]
    with pytest.raises(fsio.StorageError, match="storage unavailable: op failed 4 times"):
        fsio.retrying(lambda a: (_ for _ in ()).throw(TimeoutError("slow")), "op")
    calls.clear()
    with pytest.raises(FileNotFoundError):
        fsio.retrying(lambda a: calls.append(a) or (_ for _ in ()).throw(FileNotFoundError("x")), "op")
    assert calls == [0]

    class ClientError(Exception):
        def __init__(self, code, status):
            self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}

    assert fsio.is_transient(ClientError("SlowDown", 503)) and not fsio.is_transient(ClientError("AccessDenied", 403))
    wrapped = RuntimeError("task failed")
    wrapped.cause = ConnectionResetError(104, "reset")
    assert fsio.is_transient(wrapped)
    # a move whose first attempt went through but whose answer was lost is not an error on retry
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"x")
    real = fsio.os.replace
    state = {"n": 0}

    def lossy(a, b):
        real(a, b)
        state["n"] += 1
        if state["n"] == 1:
            raise ConnectionResetError(104, "answer lost")

    monkeypatch.setattr(fsio.os, "replace", lossy)
    fsio.move(str(src), str(dst))
    assert dst.read_bytes() == b"x" and not src.exists()

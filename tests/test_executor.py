"""The executor seam without Ray: results as tasks finish, per-process worker state, retries, teardown, the choice."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core import fsio
from engine.core.executor import RetryPolicy, Task, map_ordered, no_worker_state
from engine.core.records import WorkUnit
from engine.run.local import LocalExecutor
from engine.run.plan import AUTO_RAY_BYTES, choose_executor

ROOT = Path(__file__).resolve().parent.parent


class Counting:
    """Worker state that records how often it was built and torn down (in a folder, across processes)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        Path(folder, f"built-{os.getpid()}-{id(self)}").touch()

    def teardown(self) -> None:
        Path(self.folder, f"torn-{os.getpid()}-{id(self)}").touch()


class CountingSpec:
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self) -> Counting:
        return Counting(self.folder)


def whose(worker: Counting, x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def square(x: int) -> int:
    return x * x


class Flaky:
    """Fails ``times`` times with ``exc`` (counted in a file, so it works across processes), then answers."""

    def __init__(self, folder: str, times: int, exc: BaseException) -> None:
        self.counter, self.times, self.exc = Path(folder, "calls"), times, exc

    def __call__(self) -> str:
        n = len(self.counter.read_text()) if self.counter.exists() else 0
        self.counter.write_text("x" * (n + 1))
        if n < self.times:
            raise self.exc
        return "ok"


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("ENGINE_IO_RETRIES", "3")
    monkeypatch.setenv("ENGINE_IO_BACKOFF", "0.01")


def test_in_process_worker_built_once_and_torn_down(tmp_path):
    ex = LocalExecutor(CountingSpec(str(tmp_path)), workers=1)
    got = {}
    ex.run([Task(i, whose, (i,), uses_worker=True) for i in range(5)], lambda k, r: got.__setitem__(k, r))
    ex.close()
    assert {k: v[0] for k, v in got.items()} == {i: i * i for i in range(5)}
    assert {v[1] for v in got.values()} == {os.getpid()}  # in this process
    assert len(list(tmp_path.glob("built-*"))) == 1 and len(list(tmp_path.glob("torn-*"))) == 1


class SlowSpec:
    """A worker factory that takes a while, records the thread it ran on, or fails."""

    def __init__(self, folder: str, fail: bool = False) -> None:
        self.folder, self.fail = folder, fail

    def __call__(self) -> Counting:
        import threading
        import time

        time.sleep(0.3)
        Path(self.folder, f"thread-{threading.current_thread().name}").touch()
        if self.fail:
            raise RuntimeError("stage set-up failed")
        return Counting(self.folder)


def test_start_sets_the_in_process_worker_up_in_the_background(tmp_path):
    import time

    ex = LocalExecutor(SlowSpec(str(tmp_path)), workers=1)
    t0 = time.perf_counter()
    ex.start()
    assert time.perf_counter() - t0 < 0.2  # returns at once; the driver goes on planning
    got = {}
    ex.run([Task(i, whose, (i,), uses_worker=True) for i in range(3)], lambda k, r: got.__setitem__(k, r))
    ex.close()
    assert {k: v[0] for k, v in got.items()} == {0: 0, 1: 1, 2: 4}
    assert [p.name for p in tmp_path.glob("thread-*")] == ["thread-worker-setup"]
    assert len(list(tmp_path.glob("built-*"))) == 1 and len(list(tmp_path.glob("torn-*"))) == 1


def test_a_failed_background_set_up_raises_where_the_worker_is_needed(tmp_path):
    ex = LocalExecutor(SlowSpec(str(tmp_path), fail=True), workers=1)
    ex.start()
    assert map_ordered(ex, square, [(2,)]) == [4]  # tasks without worker state still run
    with pytest.raises(RuntimeError, match="stage set-up failed"):
        ex.run([Task(0, whose, (0,), uses_worker=True)], lambda k, r: None)
    ex.close()


@pytest.mark.slow
def test_process_pool_builds_state_once_per_process_and_tears_it_down(tmp_path):
    ex = LocalExecutor(CountingSpec(str(tmp_path)), workers=2)
    got = {}
    ex.run([Task(i, whose, (i,), uses_worker=True) for i in range(12)], lambda k, r: got.__setitem__(k, r))
    ex.close()
    pids = {v[1] for v in got.values()}
    assert sorted(k for k in got) == list(range(12)) and os.getpid() not in pids
    built = list(tmp_path.glob("built-*"))
    assert len(built) == 2 and len(list(tmp_path.glob("torn-*"))) == 2
    assert map_ordered(LocalExecutor(no_worker_state, 2), square, [(i,) for i in range(6)]) == [i * i for i in range(6)]


def test_transient_failures_are_retried(tmp_path, quick_retries):
    ex = LocalExecutor(no_worker_state)
    got = []
    ex.run([Task("t", Flaky(str(tmp_path), 2, ConnectionResetError(errno.ECONNRESET, "reset")))], lambda k, r: got.append(r))
    assert got == ["ok"] and len((tmp_path / "calls").read_text()) == 3


def test_transient_failures_give_up_with_a_storage_error(tmp_path, quick_retries):
    with pytest.raises(fsio.StorageError, match="failed 3 times"):
        LocalExecutor(no_worker_state).run([Task("t", Flaky(str(tmp_path), 5, TimeoutError("slow")))], lambda k, r: None)
    assert len((tmp_path / "calls").read_text()) == 3


def test_other_failures_are_not_retried(tmp_path, quick_retries):
    with pytest.raises(FileNotFoundError):
        LocalExecutor(no_worker_state).run([Task("t", Flaky(str(tmp_path), 5, FileNotFoundError("gone")))], lambda k, r: None)
    assert len((tmp_path / "calls").read_text()) == 1
    assert not RetryPolicy(attempts=3).should_retry(fsio.StorageError("already retried"), 0)


def test_choice_of_executor(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    small = {"s": [WorkUnit("s", "/x", size=1000)]}
    big = {"s": [WorkUnit("s", "/x", size=AUTO_RAY_BYTES)]}
    assert choose_executor("auto", small)[0] == "local"
    kind, why = choose_executor("auto", big)
    assert kind == "ray" and "GiB" in why
    assert choose_executor("local", big) == ("local", "requested")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert choose_executor("auto", small) == ("ray", "RAY_ADDRESS is set")


def test_local_path_never_imports_ray(tmp_path):
    """With a `ray` module that raises on import first on the path, the local executor path still works."""
    blocker = tmp_path / "ray"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('ray must not be imported')\n")
    code = ("import sys; import engine.build, engine.run.cli, engine.run.build, engine.steps.read, engine.dedup.near; "
            "from engine.run.local import LocalExecutor; from engine.core.executor import map_ordered, no_worker_state; "
            "import operator; assert map_ordered(LocalExecutor(no_worker_state), operator.add, [(1, 2)]) == [3]; "
            "assert 'ray' not in sys.modules; print('ok')")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]

"""The local executor: the build's work in this process (one worker) or in a process pool.

No Ray anywhere on this path.  With one worker every task runs in the driver's process on one
worker state, built on a background thread from :meth:`LocalExecutor.start` (so the driver plans
while the stages set up) or on first use; with more, a pool of ``spawn``-ed processes each builds
its worker state once (in the pool's initializer) and tears it down when the pool shuts down.  Transient
storage failures are retried by :class:`engine.core.executor.RetryPolicy`; a worker process
that dies takes the build down with an error (rerun with ``--resume``; the Ray executor
restarts dead workers instead).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Hashable, Sequence

from engine.core.executor import RetryPolicy, Task, call

_WORKER: Any = None  # the worker state of a pool process


def _init_process(factory: Callable[[], Any], env: dict[str, str]) -> None:
    global _WORKER
    os.environ.update(env)
    _WORKER = factory()
    teardown = getattr(_WORKER, "teardown", None)
    if teardown is not None:  # runs when the pool stops this process (multiprocessing's exit hooks)
        mp.util.Finalize(None, teardown, exitpriority=10)


def _run_in_process(task: Task) -> Any:
    return call(task, _WORKER)


def _ready() -> bool:
    return True


class LocalExecutor:
    """:class:`engine.core.executor.Executor` on this machine, without Ray."""

    def __init__(self, worker_factory: Callable[[], Any], workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.workers = max(1, int(workers))
        self.policy = RetryPolicy()
        self._factory = worker_factory
        self._worker: Any = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._pool: ProcessPoolExecutor | None = None
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_init_process, initargs=(worker_factory, dict(env or {})))
            self.where = f"local, {self.workers} worker processes"
        else:
            self.where = "local, in-process"

    def start(self) -> None:
        """Start setting the workers up now, while the driver goes on (e.g. plans the units):
        the pool's processes are spawned and run their initializer; the in-process worker is
        built on a background thread."""
        if self._pool is not None:
            for _ in range(self.workers):
                self._pool.submit(_ready)
        elif self._worker is None and self._starting is None:
            self._starting = threading.Thread(target=self._build_worker, name="worker-setup", daemon=True)
            self._starting.start()

    def _build_worker(self) -> None:
        try:
            self._worker = self._factory()
        except BaseException as e:  # raised where the worker is first needed
            self._start_error = e

    def _local_worker(self) -> Any:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
            if self._start_error is not None:
                err, self._start_error = self._start_error, None
                raise err
        if self._worker is None:
            self._worker = self._factory()
        return self._worker

    def run(self, tasks: Sequence[Task], on_done: Callable[[Hashable, Any], None]) -> None:
        if self._pool is None:
            for task in tasks:
                tries = 0
                while True:
                    try:
                        res = call(task, self._local_worker() if task.uses_worker else None)
                        break
                    except Exception as e:
                        self.policy.retry_or_raise(task, e, tries)
                        tries += 1
                on_done(task.key, res)
            return
        inflight: dict[Future, tuple[Task, int]] = {self._pool.submit(_run_in_process, t): (t, 0) for t in tasks}
        try:
            while inflight:
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    task, tries = inflight.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as e:
                        self.policy.retry_or_raise(task, e, tries)
                        inflight[self._pool.submit(_run_in_process, task)] = (task, tries + 1)
                        continue
                    on_done(task.key, res)
        finally:
            for fut in inflight:
                fut.cancel()

    def close(self) -> None:
        if self._starting is not None:  # the build ended before its first unit: let the set-up finish, unused
            if self._starting.is_alive():
                self._starting = None
                return
            self._starting = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._worker is not None:
            teardown = getattr(self._worker, "teardown", None)
            if teardown is not None:
                teardown()
            self._worker = None

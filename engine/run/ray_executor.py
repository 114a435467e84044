"""The Ray executor: the build's work on worker actors of a Ray cluster.

Connects to ``RAY_ADDRESS`` (set by ``ray job submit``) or starts Ray embedded.  A fixed set
of :class:`RayWorker` actors, each holding one worker state built once in the actor; tasks go
to idle actors and their results come back as they finish.  An actor that dies is restarted
(``max_restarts``) and its task retried (``max_task_retries``); a transient storage failure
inside a task is retried by :class:`engine.core.executor.RetryPolicy`.  Actors reserve a
fractional number of CPUs, so more workers than CPUs share them instead of waiting forever.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Hashable, Sequence

import ray

from engine.core import fsio
from engine.core.executor import RetryPolicy, Task, call

log = logging.getLogger("engine.executor")

#: restarts of a dead actor, and retries of the task it was running
MAX_RESTARTS = 3


def connect(num_cpus: int | None = None) -> str:
    """Join the cluster named by RAY_ADDRESS, else start Ray embedded; says which."""
    if ray.is_initialized():
        return "ray (already connected)"
    quiet = dict(logging_level=logging.WARNING, log_to_driver=True)
    addr = os.environ.get("RAY_ADDRESS")
    if addr:
        ray.init(address=addr, **quiet)
        return f"ray cluster {addr}"
    # "local": a new Ray of its own, never a head that `ray start` left in /tmp/ray/ray_current_cluster
    # the build runs only actors: no pool of idle task workers started (and importing Ray) beside them
    prestart = {"prestart_worker_first_driver": False, "enable_worker_prestart": False}
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _system_config=prestart, **quiet)
    return "ray, embedded"


class RayWorker:
    """An actor holding one worker state (stages set up once); runs tasks on it."""

    def __init__(self, factory: Callable[[], Any], env: dict[str, str]) -> None:
        os.environ.update(env)  # before the tokenizer's thread pool starts
        self.worker = factory()

    def ping(self) -> bool:
        return True

    def call(self, task: Task) -> Any:
        return call(task, self.worker)

    def teardown(self) -> None:
        td = getattr(self.worker, "teardown", None)
        if td is not None:
            td()


class RayExecutor:
    """:class:`engine.core.executor.Executor` over Ray actors."""

    def __init__(self, worker_factory: Callable[[], Any], workers: int | None, cpus_per_worker: float,
                 env: dict[str, str] | None = None) -> None:
        self.where = connect(workers)
        total = ray.cluster_resources().get("CPU", 1)
        n = workers or max(1, int(total // cpus_per_worker))
        cpus = cpus_per_worker
        if n * cpus > total:  # more actors than CPUs: they share them, never wait for CPUs the cluster lacks
            log.warning("%d workers x %.2f CPUs > %.1f CPUs in the cluster: %.2f CPUs each", n, cpus, total, total / n)
            cpus = total / n
        threads = str(max(1, int(cpus)))
        env = {"RAYON_NUM_THREADS": threads, "OMP_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "true"} | dict(env or {})
        cls = ray.remote(RayWorker).options(num_cpus=cpus, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)
        self.actors = [cls.remote(worker_factory, env) for _ in range(n)]
        self._ready = [a.ping.remote() for a in self.actors]  # awaited by the first run(): set-up overlaps planning
        self.workers = n
        self.where += f", {n} worker actors x {cpus:.2f} CPUs"
        self.policy = RetryPolicy()

    def start(self) -> None:
        """Nothing to do: the actors began setting up when they were created."""

    def run(self, tasks: Sequence[Task], on_done: Callable[[Hashable, Any], None]) -> None:
        if self._ready:
            ray.get(self._ready)  # every worker set up (a failed set-up raises here)
            self._ready = []
        idle = list(self.actors)
        pending = [(t, 0) for t in reversed(tasks)]
        inflight: dict = {}
        while pending or inflight:
            while idle and pending:
                task, tries = pending.pop()
                actor = idle.pop()
                inflight[actor.call.remote(task)] = (task, actor, tries)
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                task, actor, tries = inflight.pop(ref)
                idle.append(actor)
                try:
                    res = ray.get(ref)
                except Exception as e:  # the task is idempotent: a transient failure runs it again
                    cause = getattr(e, "cause", None) or e  # Ray wraps the task's exception
                    if not self.policy.should_retry(cause, tries):
                        if fsio.is_transient(cause):
                            raise self.policy.give_up(task, cause) from None
                        raise
                    log.warning("%s failed with a transient storage error (%s), retry %d", task.name, type(cause).__name__, tries + 1)
                    time.sleep(self.policy.wait(tries))
                    pending.append((task, tries + 1))
                    continue
                on_done(task.key, res)

    def close(self) -> None:
        try:
            ray.get([a.teardown.remote() for a in self.actors], timeout=60)
        except Exception as e:  # a worker that cannot tear down is killed anyway
            log.warning("worker teardown failed: %s", type(e).__name__)
        for a in self.actors:
            ray.kill(a)
        self.actors = []

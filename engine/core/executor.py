"""The executor seam: how the build driver hands work to workers.

The driver describes work as :class:`Task` objects (a module-level function and its
arguments) and gets results back as they finish; it never knows where the work ran.
Two adapters implement :class:`Executor`:

* :class:`engine.run.local.LocalExecutor`: in the driver's process (one worker) or a
  process pool; it never imports Ray.
* :class:`engine.run.ray_executor.RayExecutor`: worker actors on a Ray cluster (restarted
  when they die, with their tasks retried).

A task that ``uses_worker`` is called as ``fn(worker, *args)`` where ``worker`` is the
per-process state built once per worker process by the executor's ``worker_factory``
(stages set up, tokenizer and connectors loaded); other tasks are called as ``fn(*args)``.
Tasks are idempotent (their outputs are written atomically under deterministic names),
so an executor may run one again: :class:`RetryPolicy` says when a failure is worth it.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Protocol, Sequence

from engine.core import fsio

log = logging.getLogger("engine.executor")


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(worker, *args)`` when ``uses_worker``, else ``fn(*args)``."""

    key: Hashable
    fn: Callable[..., Any]
    args: tuple = ()
    uses_worker: bool = False

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


def call(task: Task, worker: Any) -> Any:
    """Run a task with the given per-process worker state (used by every adapter)."""
    return task.fn(worker, *task.args) if task.uses_worker else task.fn(*task.args)


class RetryPolicy:
    """Transient storage failures that escaped ``fsio``'s own retries: run the task again.

    A failure is retried when :func:`engine.core.fsio.is_transient` says the store did not
    answer (and it is not already an exhausted :class:`~engine.core.fsio.StorageError`), up to
    ``ENGINE_IO_RETRIES`` attempts in all, with exponential backoff (``ENGINE_IO_BACKOFF``,
    ``ENGINE_IO_BACKOFF_MAX``).  Anything else fails the build at once.
    """

    def __init__(self, attempts: int | None = None, backoff: float | None = None, most: float | None = None) -> None:
        a, b, m = fsio.retry_settings()
        self.attempts = attempts if attempts is not None else a
        self.backoff = backoff if backoff is not None else b
        self.most = most if most is not None else m

    def should_retry(self, exc: BaseException, tries: int) -> bool:
        """``tries``: how many times the task has failed before this failure."""
        if isinstance(exc, fsio.StorageError) or not fsio.is_transient(exc):
            return False
        return tries + 1 < self.attempts

    def wait(self, tries: int) -> float:
        return min(self.most, self.backoff * 2 ** tries) * random.uniform(0.75, 1.25)

    def give_up(self, task: Task, exc: BaseException) -> BaseException:
        """The error to raise for ``exc`` (a transient one that ran out of attempts names the task)."""
        if fsio.is_transient(exc) and not isinstance(exc, fsio.StorageError):
            err = fsio.StorageError(f"storage unavailable: {task.name} failed {self.attempts} times ({type(exc).__name__})")
            err.__cause__ = None
            return err
        return exc

    def retry_or_raise(self, task: Task, exc: BaseException, tries: int) -> None:
        """Sleep before the next attempt, or raise the error that ends the build."""
        if not self.should_retry(exc, tries):
            raise self.give_up(task, exc) from None
        log.warning("%s failed with a transient storage error (%s), retry %d", task.name, type(exc).__name__, tries + 1)
        time.sleep(self.wait(tries))


class Executor(Protocol):
    """Run tasks, report results as they finish, retry transient failures."""

    #: how many tasks run at once (the driver sizes shuffles and progress by it)
    workers: int
    #: a short description for the build log ("local, in-process", "ray cluster ...")
    where: str

    def start(self) -> None:
        """Begin setting the workers up without waiting for them (the first ``run`` waits)."""

    def run(self, tasks: Sequence[Task], on_done: Callable[[Hashable, Any], None]) -> None:
        """Run every task; ``on_done(task.key, result)`` is called in the driver, in completion order."""

    def close(self) -> None:
        """Tear the workers down (their stages' ``teardown`` runs)."""


def no_worker_state() -> None:
    """A ``worker_factory`` for executors that only run tasks without worker state."""
    return None


def map_ordered(executor: Executor, fn: Callable[..., Any], arglist: Iterable[tuple]) -> list:
    """``[fn(*args) for args in arglist]`` through an executor; results in input order."""
    tasks = [Task(i, fn, tuple(a)) for i, a in enumerate(arglist)]
    results: list = [None] * len(tasks)

    def done(i, res):
        results[i] = res

    executor.run(tasks, done)
    return results

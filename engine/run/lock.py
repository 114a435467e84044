"""Output lock: one build per output location at a time.

``OUT/_lock.json`` names the holder (host, pid, process start time, run id) and is refreshed
by a heartbeat thread.  It is created exclusively (``O_EXCL`` on local disks, a conditional
``If-None-Match: *`` PUT on S3), so two builds starting at the same moment cannot both win.
A second build on the same output refuses with a clear message while the holder is alive.
The holder counts as dead, and its lock is taken over (so ``--resume`` after a SIGKILL
works), when its heartbeat is older than ``stale_after`` seconds, or at once when it ran on
this host and its process is gone.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid

from engine.core import fsio

log = logging.getLogger("engine.run.lock")


def _proc_start(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live process, None when there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, IndexError):  # no /proc (not Linux): fall back to "alive?"
        try:
            os.kill(pid, 0)
            return -1
        except ProcessLookupError:
            return None
        except OSError:
            return -1


class OutputLocked(RuntimeError):
    pass


#: locks held by this process, per (lock URI, thread): a nested acquire in the same thread re-enters
_HELD: dict[tuple[str, int], "OutputLock"] = {}


class OutputLock:
    def __init__(self, out: str, stale_after: float = 60.0, beat: float = 10.0) -> None:
        self.uri = fsio.join(out, "_lock.json")
        self.stale_after = stale_after
        self.beat = beat
        self.run_id = uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None
        self._outer: OutputLock | None = None

    def _payload(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "started": _proc_start(os.getpid()),
                "run_id": self.run_id, "heartbeat": time.time()}

    def _holder_dead(self, cur: dict) -> str | None:
        """Why the current holder can be taken over, or None while it looks alive."""
        age = time.time() - float(cur.get("heartbeat", 0) or 0)
        if age >= self.stale_after:
            return f"its heartbeat is {age:.0f}s old"
        if cur.get("host") == socket.gethostname() and cur.get("pid"):
            started = _proc_start(int(cur["pid"]))
            if started is None or (cur.get("started") is not None and started != cur.get("started")):
                return f"its process {cur['pid']} on this host is gone"
        return None

    def acquire(self) -> None:
        outer = _HELD.get((self.uri, threading.get_ident()))
        if outer is not None:
            self._outer = outer
            return
        data = (json.dumps(self._payload(), sort_keys=True) + "\n").encode()
        for _ in range(5):
            if fsio.create_exclusive(self.uri, data):
                break
            try:
                cur = fsio.read_json(self.uri)
            except FileNotFoundError:
                continue  # released in between: try again
            except ValueError:  # not JSON: not written by this engine, or a store without atomic writes
                raise OutputLocked(f"{self.uri} exists but cannot be read; remove it if no build is running") from None
            if cur.get("run_id") == self.run_id:  # our own create, answered late and retried
                break
            dead = self._holder_dead(cur)
            if dead is None:
                age = time.time() - float(cur.get("heartbeat", 0) or 0)
                raise OutputLocked(
                    f"another build is writing to this output (host {cur.get('host')}, pid {cur.get('pid')}, "
                    f"run {cur.get('run_id')}, heartbeat {age:.0f}s ago); wait for it to finish, or, if it is dead, "
                    f"retry after {self.stale_after:.0f}s without a heartbeat (or remove {self.uri})"
                )
            log.warning("taking over the output lock of run %s: %s", cur.get("run_id"), dead)
            fsio.write_json_atomic(self.uri, self._payload())
            time.sleep(0.2)
            if fsio.read_json(self.uri).get("run_id") != self.run_id:
                raise OutputLocked("another build took over the stale lock on this output at the same time")
            break
        else:
            raise OutputLocked(f"could not take the lock {self.uri}")
        _HELD[(self.uri, threading.get_ident())] = self
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.beat):
            try:
                cur = fsio.read_json(self.uri)
                if cur.get("run_id") != self.run_id:
                    self.lost = f"run {cur.get('run_id')} took the lock"
                    log.error("output lock %s lost: %s", self.uri, self.lost)
                    return
                fsio.write_json_atomic(self.uri, self._payload())
            except Exception:
                pass  # storage hiccup: the next beat retries

    def release(self) -> None:
        if self._outer is not None:
            self._outer = None
            return
        if _HELD.get((self.uri, threading.get_ident())) is self:
            del _HELD[(self.uri, threading.get_ident())]
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        try:
            cur = fsio.read_json(self.uri)
            if cur.get("run_id") == self.run_id:
                fsio.remove(self.uri)
        except Exception:
            pass

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

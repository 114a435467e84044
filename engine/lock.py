"""Output lock: one build per output location at a time.

``OUT/_lock.json`` names the holder (host, pid, run id) and is refreshed by a heartbeat
thread.  A second build on the same output refuses with a clear message while the
heartbeat is fresh; a lock whose heartbeat is older than ``stale_after`` seconds (the
holder was killed) is taken over, so ``--resume`` after a SIGKILL works.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

from engine import fsio


class OutputLocked(RuntimeError):
    pass


class OutputLock:
    def __init__(self, out: str, stale_after: float = 60.0, beat: float = 10.0) -> None:
        self.uri = fsio.join(out, "_lock.json")
        self.stale_after = stale_after
        self.beat = beat
        self.run_id = uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _payload(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "run_id": self.run_id, "heartbeat": time.time()}

    def acquire(self) -> None:
        if fsio.exists(self.uri):
            try:
                cur = fsio.read_json(self.uri)
            except Exception:
                cur = {}
            age = time.time() - float(cur.get("heartbeat", 0))
            if age < self.stale_after and cur.get("run_id") != self.run_id:
                raise OutputLocked(
                    f"another build is writing to this output (host {cur.get('host')}, pid {cur.get('pid')}, "
                    f"heartbeat {age:.0f}s ago); wait for it, or remove {self.uri} if it is dead"
                )
        fsio.write_json_atomic(self.uri, self._payload())
        time.sleep(0.05)
        cur = fsio.read_json(self.uri)
        if cur.get("run_id") != self.run_id:  # lost a race with a build that started at the same moment
            raise OutputLocked(f"another build took the lock on this output at the same time (run {cur.get('run_id')})")
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.beat):
            try:
                fsio.write_json_atomic(self.uri, self._payload())
            except Exception:
                pass  # storage hiccup: the next beat retries

    def release(self) -> None:
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

"""Progress lines of a running build on the console (stderr): elapsed time, then the message."""
from __future__ import annotations

import sys
import time
from typing import Callable


class ConsoleProgress:
    """``say`` prints at once; ``tick`` at most every ``every`` seconds (or when forced)."""

    def __init__(self, enabled: bool = True, every: float = 2.0, stream=None) -> None:
        self.enabled = enabled
        self.every = every
        self.stream = stream if stream is not None else sys.stderr
        self.last = 0.0
        self.t0 = time.time()

    def say(self, msg: str) -> None:
        if self.enabled:
            print(f"[{time.time() - self.t0:7.1f}s] {msg}", file=self.stream, flush=True)

    def tick(self, msg_fn: Callable[[], str], force: bool = False) -> None:
        now = time.time()
        if self.enabled and (force or now - self.last >= self.every):
            self.last = now
            self.say(msg_fn())

"""Transient storage failures: which errors are worth retrying, and retrying them with backoff.

Settings (environment, read at each call, so workers see the driver's values when they share
its environment or a Ray job's ``env_vars``):

* ``ENGINE_IO_RETRIES``      attempts per operation (default 8; 1 = no retry)
* ``ENGINE_IO_BACKOFF``      first wait in seconds (default 0.5), doubled per attempt
* ``ENGINE_IO_BACKOFF_MAX``  longest single wait (default 30)

With the defaults an operation keeps trying for about a minute (plus the client's own retries,
e.g. botocore's ``AWS_MAX_ATTEMPTS``).
"""
from __future__ import annotations

import errno
import logging
import os
import random
import time
from typing import Callable, TypeVar

log = logging.getLogger("engine.core.fsio")
T = TypeVar("T")


class StorageError(OSError):
    """A storage operation still failed after every retry (the store is down or unreachable)."""


_PERMANENT = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)
_TRANSIENT_NAMES = {
    "EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError",
    "ProxyConnectionError", "ClientConnectorError", "ServerDisconnectedError", "ClientOSError",
    "ClientPayloadError", "ServerTimeoutError", "FSTimeoutError", "IncompleteRead", "ResponseStreamingError",
    "HTTPClientError", "RemoteDisconnected", "ServiceUnavailable", "TooManyRequests", "DeadlineExceeded",
    "InternalServerError", "RetryError",
}
_TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "Throttling",
                    "ThrottlingException", "RequestTimeout", "RequestTimeoutException"}
_TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE,
                     errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EAGAIN}


def is_transient(exc: BaseException) -> bool:
    """Whether an error is worth retrying: the store did not answer, not "no such file" or "forbidden"."""
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 8:
        seen += 1
        if isinstance(e, StorageError):
            return True
        if isinstance(e, _PERMANENT):
            return False
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        if any(c.__name__ in _TRANSIENT_NAMES for c in type(e).__mro__):
            return True
        if isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNOS:
            return True
        resp = getattr(e, "response", None)
        if isinstance(resp, dict):
            err = resp.get("Error") or {}
            meta = resp.get("ResponseMetadata") or {}
            if str(err.get("Code")) in _TRANSIENT_CODES or int(meta.get("HTTPStatusCode") or 0) >= 500:
                return True
        nxt = e.__cause__ or e.__context__ or getattr(e, "cause", None)  # Ray's RayTaskError keeps .cause
        e = nxt if isinstance(nxt, BaseException) else None
    return False


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def retry_settings() -> tuple[int, float, float]:
    return (max(1, int(_env_float("ENGINE_IO_RETRIES", 8))), _env_float("ENGINE_IO_BACKOFF", 0.5),
            _env_float("ENGINE_IO_BACKOFF_MAX", 30.0))


def retrying(op: Callable[[int], T], what: str) -> T:
    """Run ``op(attempt)``; on a transient error wait (exponential backoff, jitter) and try again."""
    attempts, first, most = retry_settings()
    for attempt in range(attempts):
        try:
            return op(attempt)
        except Exception as e:
            if not is_transient(e):
                raise
            if attempt + 1 >= attempts:
                raise StorageError(
                    f"storage unavailable: {what} failed {attempts} times ({type(e).__name__}); "
                    f"giving up (ENGINE_IO_RETRIES / ENGINE_IO_BACKOFF set the patience)"
                ) from e
            wait = min(most, first * 2 ** attempt) * random.uniform(0.75, 1.25)
            log.warning("%s: %s, retry %d/%d in %.1fs", what, type(e).__name__, attempt + 1, attempts - 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")

"""fsspec helpers: every path the engine touches goes through here (local, s3://, gs://, memory://).

Storage operations are retried when they fail with a *transient* error (connection refused or
reset, timeouts, HTTP 5xx / throttling from an object store) with exponential backoff and
jitter, then fail with :class:`StorageError`, whose message names the operation and the URI
(never credentials).  Settings (environment, read at each call, so Ray workers see the
driver's values when they share its environment or the job's ``env_vars``):

* ``ENGINE_IO_RETRIES``      attempts per operation (default 8; 1 = no retry)
* ``ENGINE_IO_BACKOFF``      first wait in seconds (default 0.5), doubled per attempt
* ``ENGINE_IO_BACKOFF_MAX``  longest single wait (default 30)

With the defaults an operation keeps trying for about a minute (plus the client's own retries,
e.g. botocore's ``AWS_MAX_ATTEMPTS``).  ``ENGINE_IO_DELAY`` (seconds, tests only) slows every
write down, to give fault-injection tests a window.
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import random
import tempfile
import time
import uuid
from typing import Any, Callable, Iterator, TypeVar

import fsspec
from fsspec.core import url_to_fs

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


def _is_local(fs) -> bool:
    return protocol_of(fs) in ("file", "local")


def _fresh(fs, path: str) -> None:
    """Forget cached listings of ``path`` (other processes write to the same store)."""
    if not _is_local(fs):
        try:
            fs.invalidate_cache(path)
        except Exception:
            pass


def _test_delay() -> None:
    d = os.environ.get("ENGINE_IO_DELAY")
    if d:
        time.sleep(float(d))


def fs_and_path(uri: str):
    """``(filesystem, path)`` for a URI or local path."""
    return url_to_fs(uri)


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out


def protocol_of(fs) -> str:
    p = fs.protocol
    return p[0] if isinstance(p, (tuple, list)) else p


def full_uri(fs, path: str) -> str:
    proto = protocol_of(fs)
    if proto in ("file", "local"):
        return path
    return fs.unstrip_protocol(path)


def expand(uri: str) -> list[str]:
    """Files matched by a URI that may contain glob characters, sorted; a directory lists its files recursively."""
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        if any(c in path for c in "*?["):
            paths = fs.glob(path)
        elif fs.isdir(path):
            paths = fs.find(path)
        elif fs.exists(path):
            paths = [path]
        else:
            paths = []
        return sorted(p for p in paths if not fs.isdir(p))

    return [full_uri(fs, p) for p in retrying(op, f"list {uri}")]


def identity(uri: str) -> tuple[int, str]:
    """``(size, version)`` of a file: version is the etag when the store has one, else the mtime."""
    fs, path = fs_and_path(uri)
    info = retrying(lambda _: fs.info(path), f"stat {uri}")
    size = int(info.get("size") or 0)
    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    return size, str(version)


def open_input(uri: str, mode: str = "rb", compression: str | None = "infer", **kw):
    """Open a file for streaming reads; gzip/bz2/xz/zstd are decompressed on the fly."""
    return retrying(lambda _: fsspec.open(uri, mode, compression=compression, **kw).open(), f"open {uri}")


def exists(uri: str) -> bool:
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        return fs.exists(path)

    return retrying(op, f"check {uri}")


def makedirs(uri: str) -> None:
    fs, path = fs_and_path(uri)
    if protocol_of(fs) in ("file", "local", "memory"):
        retrying(lambda _: fs.makedirs(path, exist_ok=True), f"mkdir {uri}")


def write_bytes_atomic(uri: str, data: bytes) -> None:
    """Write a whole object so that readers see either nothing or all of it.

    Local files: temp name in the same folder + rename.  Object stores: a single PUT is atomic.
    """
    fs, path = fs_and_path(uri)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    _test_delay()

    def op(_):
        if protocol_of(fs) in ("file", "local"):
            os.makedirs(parent or ".", exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        else:
            if parent and protocol_of(fs) == "memory":
                fs.makedirs(parent, exist_ok=True)
            fs.pipe_file(path, data)

    retrying(op, f"write {uri}")


def create_exclusive(uri: str, data: bytes) -> bool:
    """Write ``uri`` only if it does not exist yet; False when it does (local O_EXCL, S3 If-None-Match)."""
    fs, path = fs_and_path(uri)

    def op(_):
        if _is_local(fs):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
            with open(tmp, "wb") as f:  # complete first, then linked in: no reader ever sees half of it
                f.write(data)
            try:
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            finally:
                os.remove(tmp)
        try:
            fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            return False
        except TypeError:  # a filesystem without exclusive create: best effort
            _fresh(fs, path)
            if fs.exists(path):
                return False
            fs.pipe_file(path, data)
            return True

    return retrying(op, f"create {uri}")


class AtomicWriter:
    """A local file to stream into; :meth:`commit` puts it at ``uri`` in one step, :meth:`discard` drops it.

    Local outputs: a temp file next to ``uri`` renamed into place.  Object stores: a temp file on
    local disk uploaded with retries (one PUT, or a multipart upload completed at once), so a
    store outage while the data is being produced cannot lose or half-write it.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs, self.path = fs_and_path(uri)
        if _is_local(self.fs):
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            self.tmp = f"{self.path}.tmp-{uuid.uuid4().hex[:8]}"
        else:
            fd, self.tmp = tempfile.mkstemp(prefix="engine-", suffix=".part")
            os.close(fd)
        self.file = open(self.tmp, "wb")

    def commit(self) -> None:
        if not self.file.closed:
            self.file.close()
        _test_delay()
        try:
            if _is_local(self.fs):
                os.replace(self.tmp, self.path)
            else:
                retrying(lambda _: self.fs.put_file(self.tmp, self.path), f"upload {self.uri}")
        finally:
            self.discard()

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def write_json_atomic(uri: str, obj: Any) -> None:
    write_bytes_atomic(uri, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def read_json(uri: str) -> Any:
    fs, path = fs_and_path(uri)
    return json.loads(retrying(lambda _: fs.cat_file(path), f"read {uri}"))


def read_bytes(uri: str) -> bytes:
    fs, path = fs_and_path(uri)
    return retrying(lambda _: fs.cat_file(path), f"read {uri}")


def move(src: str, dst: str) -> None:
    """Rename (atomic on local disks; copy + delete on object stores)."""
    fs, sp = fs_and_path(src)
    _, dp = fs_and_path(dst)
    _test_delay()

    def op(attempt):
        if attempt and not fs.exists(sp) and fs.exists(dp):
            return  # an earlier attempt got through, only its answer was lost
        if protocol_of(fs) in ("file", "local"):
            os.makedirs(os.path.dirname(dp) or ".", exist_ok=True)
            os.replace(sp, dp)
        else:
            fs.mv(sp, dp)
            _fresh(fs, sp)

    retrying(op, f"move {src} -> {dst}")


def remove(uri: str, recursive: bool = False) -> None:
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        if fs.exists(path):
            fs.rm(path, recursive=recursive)
            _fresh(fs, path)

    retrying(op, f"remove {uri}")


def listdir(uri: str) -> list[str]:
    """Files directly or recursively under a folder URI (full URIs, sorted); [] when missing."""
    fs, path = fs_and_path(uri)

    def op(_):
        _fresh(fs, path)
        if not fs.exists(path):
            return []
        return fs.find(path)

    return sorted(full_uri(fs, p) for p in retrying(op, f"list {uri}"))


def iter_lines(f: io.BufferedIOBase, chunk: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, line)`` pairs of a binary stream, without loading it whole."""
    offset = 0
    for line in f:
        yield offset, line
        offset += len(line)


def relpath(base: str, uri: str) -> str:
    """``uri`` relative to the folder ``base`` (both URIs of the same store)."""
    _, b = fs_and_path(base)
    _, p = fs_and_path(uri)
    b = b.rstrip("/") + "/"
    return p[len(b):] if p.startswith(b) else p

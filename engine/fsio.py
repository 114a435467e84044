"""fsspec helpers: every path the engine touches goes through here (local, s3://, gs://, memory://)."""
from __future__ import annotations

import io
import json
import os
import uuid
from typing import Any, Iterator

import fsspec
from fsspec.core import url_to_fs


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
    if any(c in path for c in "*?["):
        paths = fs.glob(path)
    elif fs.isdir(path):
        paths = fs.find(path)
    elif fs.exists(path):
        paths = [path]
    else:
        paths = []
    files = sorted(p for p in paths if not fs.isdir(p))
    return [full_uri(fs, p) for p in files]


def identity(uri: str) -> tuple[int, str]:
    """``(size, version)`` of a file: version is the etag when the store has one, else the mtime."""
    fs, path = fs_and_path(uri)
    info = fs.info(path)
    size = int(info.get("size") or 0)
    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    return size, str(version)


def open_input(uri: str, mode: str = "rb", compression: str | None = "infer", **kw):
    """Open a file for streaming reads; gzip/bz2/xz/zstd are decompressed on the fly."""
    return fsspec.open(uri, mode, compression=compression, **kw).open()


def exists(uri: str) -> bool:
    fs, path = fs_and_path(uri)
    return fs.exists(path)


def makedirs(uri: str) -> None:
    fs, path = fs_and_path(uri)
    if protocol_of(fs) in ("file", "local", "memory"):
        fs.makedirs(path, exist_ok=True)


def write_bytes_atomic(uri: str, data: bytes) -> None:
    """Write a whole object so that readers see either nothing or all of it.

    Local files: temp name in the same folder + rename.  Object stores: a single PUT is atomic.
    """
    fs, path = fs_and_path(uri)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if protocol_of(fs) in ("file", "local"):
        os.makedirs(parent or ".", exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    else:
        if parent and protocol_of(fs) == "memory":
            fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(path, data)


def write_json_atomic(uri: str, obj: Any) -> None:
    write_bytes_atomic(uri, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def read_json(uri: str) -> Any:
    fs, path = fs_and_path(uri)
    with fs.open(path, "rb") as f:
        return json.load(f)


def read_bytes(uri: str) -> bytes:
    fs, path = fs_and_path(uri)
    return fs.cat_file(path)


def move(src: str, dst: str) -> None:
    """Rename (atomic on local disks; copy + delete on object stores)."""
    fs, sp = fs_and_path(src)
    _, dp = fs_and_path(dst)
    if protocol_of(fs) in ("file", "local"):
        os.makedirs(os.path.dirname(dp) or ".", exist_ok=True)
        os.replace(sp, dp)
    else:
        fs.mv(sp, dp)


def remove(uri: str, recursive: bool = False) -> None:
    fs, path = fs_and_path(uri)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def listdir(uri: str) -> list[str]:
    """Files directly or recursively under a folder URI (full URIs, sorted); [] when missing."""
    fs, path = fs_and_path(uri)
    if not fs.exists(path):
        return []
    return sorted(full_uri(fs, p) for p in fs.find(path))


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

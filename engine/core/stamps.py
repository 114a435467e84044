"""Staging files written without an fsync, and what keeps a resumed build honest about them.

Per-unit staging files (documents, keys, sketches, token windows, quarantine) and their markers
are written with :func:`engine.core.fsio.write_bytes_atomic` ``durable=False``: a temp file renamed
into place, without the fsync that costs a disk flush per file.  Every marker records the
:func:`engine.core.fsio.stamp` (size, xxh3-64) of each file it vouches for; after a machine crash a
renamed file may be short or empty although its marker survived, so a resumed build checks the
stamps (:func:`stamps_match`) and redoes the step when one does not match.  What outlives the
build (shards, quarantine, ``build.json``) is flushed with one :func:`sync_local` before the final
``build.json`` says ``complete``.
"""
from __future__ import annotations

import os

from engine.core.fsio import file_stamp, fs_and_path, is_local


def stamps_match(base: str, stamps: dict[str, list]) -> bool:
    """Whether every file (``relative path -> stamp`` under the folder ``base``) is all there.

    Local disks are checked (size, then content hash): files written without an fsync may be
    short or empty after a machine crash.  Object-store files are not read: a PUT is all-or-nothing.
    """
    if not stamps or not is_local(base):
        return True
    _, root = fs_and_path(base)
    for rel, (size, digest) in stamps.items():
        p = os.path.join(root, rel)
        try:
            if os.stat(p).st_size != size or file_stamp(p)[1] != digest:
                return False
        except OSError:
            return False
    return True


def sync_local(uri: str) -> None:
    """Flush what was written without an fsync to the disk holding local folder ``uri`` (one
    ``syncfs``; ``sync`` where there is none).  No-op on object stores."""
    if not is_local(uri):
        return
    _, path = fs_and_path(uri)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()

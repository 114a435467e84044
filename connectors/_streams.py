"""Streaming reads of input files that give back every byte before a corrupt or truncated end.

``gzip.GzipFile`` drops what it decompressed in the read that hits the end of a cut stream, and
some decompressors' file objects cannot iterate lines; these helpers read in chunks and split
lines themselves, so a reader keeps every complete record before the point where its input
breaks, and the break itself surfaces as one exception at the end.
"""
from __future__ import annotations

import contextlib
import zlib
from typing import Iterator

from engine.core import fsio


class Gunzip:
    """Gzip decompression that gives back every byte before a cut (``gzip.GzipFile`` drops the
    bytes it decompressed in the read that hits the end of a truncated stream); multi-member files
    are read member after member."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.d = zlib.decompressobj(31)
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        while not self.eof:
            comp = self.raw.read(1 << 16)
            if not comp:
                self.eof = True
                if not (self.d.eof and not self.d.unused_data):
                    tail = self.d.flush()
                    if tail:
                        return tail
                    if not self.d.eof:
                        raise EOFError("compressed file ended before the end-of-stream marker")
                return b""
            out = self.d.decompress(comp)
            while self.d.eof and self.d.unused_data:  # the next gzip member
                rest = self.d.unused_data
                self.d = zlib.decompressobj(31)
                out += self.d.decompress(rest)
            if out:
                return out
        return b""



@contextlib.contextmanager
def open_stream(uri: str):
    """A read()-able stream of the file's decompressed bytes (gzip decoded here, other codecs by fsspec)."""
    if uri.lower().endswith(".gz"):
        with fsio.open_input(uri, "rb", compression=None) as raw:
            yield Gunzip(raw)
    else:
        with fsio.open_input(uri, "rb") as f:
            yield f


def iter_lines(stream, chunk: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` for every ``\\n``-terminated line of a stream (the last one may lack its
    newline); an error of the stream is raised after every complete line before it was yielded."""
    pending: list[bytes] = []  # pieces of the line being assembled (no newline in them)
    off = 0
    while True:
        data = stream.read(chunk)
        if not data:
            if pending:
                yield off, b"".join(pending)
            return
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                if start < len(data):
                    pending.append(data[start:])
                break
            piece = data[start : nl + 1]
            line = b"".join(pending) + piece if pending else piece
            pending.clear()
            yield off, line
            off += len(line)
            start = nl + 1

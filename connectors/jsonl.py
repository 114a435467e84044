"""Generic JSON Lines reader (``connector: jsonl``).

One JSON object per line, optionally gzip/zstd/bz2/xz compressed (decompressed on the fly
through fsspec).  Uncompressed files larger than ``resources.unit_bytes`` are split into
byte ranges; a range owns every line that *starts* inside it, so ranges never lose or
double a line.  A malformed line or invalid UTF-8 is quarantined with its byte offset; a
corrupt compressed stream quarantines the unreadable rest of the file as one record.
"""
from __future__ import annotations

import json
from typing import Iterator

from connectors._streams import iter_lines, open_stream
from connectors.base import Drop, RecordConnector, Record, WorkUnit, safe_reason
from connectors.registry import register
from engine.core import fsio


def iter_lines_in_range(unit: WorkUnit) -> Iterator[tuple[int, bytes]]:
    """``(offset, raw line)`` for the lines starting in ``[unit.start, unit.end)``."""
    if unit.end < 0:
        with open_stream(unit.path) as f:
            yield from iter_lines(f)
        return
    with fsio.open_input(unit.path, "rb", compression=None) as f:
        off = unit.start
        if unit.start > 0:
            f.seek(unit.start - 1)
            prev = f.readline()  # the rest of the line that started before us (or just "\n")
            off = unit.start - 1 + len(prev)
        while off < unit.end:
            line = f.readline()
            if not line:
                break
            yield off, line
            off += len(line)


@register("jsonl")
class JsonlConnector(RecordConnector):
    splittable = True

    def read(self, unit: WorkUnit) -> Iterator[Record]:
        base = self.file_label(unit.path)
        off = unit.start
        try:
            for off, line in iter_lines_in_range(unit):
                if not line.strip():
                    continue
                loc = f"{unit.path}@{off}"
                fallback = f"{base}@{off}"
                if off == 0 and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                    line = line[3:]
                try:
                    s = line.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield Drop(self.doc_id(fallback), "quarantined", f"invalid UTF-8 at byte {off + e.start}", loc)
                    continue
                try:
                    rec = json.loads(s)
                except json.JSONDecodeError as e:
                    yield Drop(self.doc_id(fallback), "quarantined", f"malformed JSON line ({e.msg} at char {e.pos})", loc)
                    continue
                except RecursionError:
                    yield Drop(self.doc_id(fallback), "quarantined", "JSON line nested too deeply", loc)
                    continue
                if not isinstance(rec, dict):
                    yield Drop(self.doc_id(fallback), "quarantined", f"JSON line is a {type(rec).__name__}, not an object", loc)
                    continue
                yield from self.docs_from_record({k.lower(): v for k, v in rec.items()}, fallback, loc, unit.path)
        except Exception as e:  # corrupt compressed stream, storage error mid-file
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield Drop(
                self.doc_id(f"{base}@unreadable"), "quarantined", safe_reason(e, f"unreadable input after byte {off}"), unit.location
            )

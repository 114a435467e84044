"""Generic CSV reader (``connector: csv``): streamed, multi-line quoted fields, ragged rows quarantined.

pyarrow's streaming CSV reader (``pyarrow.csv.open_csv``) reads from any fsspec file
object (gzip decompressed on the fly) block by block, with ``newlines_in_values`` for
notes whose text spans lines.  polars 2.x reads CSV only from paths or whole buffers
(no batched reader over a stream), so it is not used here.  Every column is read as
binary and decoded here, so one row with invalid UTF-8 is quarantined alone instead of
failing the block.  A row with the wrong number of fields is quarantined with its line
number through pyarrow's ``invalid_row_handler``.

Options (beyond :class:`connectors.base.RecordConnector`): ``delimiter`` (default ``,``),
``block_size`` (bytes, default 4 MiB), ``drop_if``: ``{column: value}`` rows to filter
(e.g. MIMIC-III ``ISERROR: "1"``).
"""
from __future__ import annotations

import io
import zlib
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from connectors._streams import open_stream
from connectors.base import Drop, RecordConnector, Record, WorkUnit, safe_reason
from connectors.registry import register
from engine.core import fsio


class _RecordGuard:
    """A file object for pyarrow's CSV reader that hands out whole records only.

    It holds back the bytes after the last newline outside quotes, so when the input ends inside
    a record (a gzip stream cut short, a file ending in an open quote) the incomplete last record
    is kept apart (``partial``) instead of being parsed as a shorter text, and a decompression
    error ends the stream cleanly (``truncated``) after every complete record."""

    def __init__(self, f) -> None:
        self.f = f
        self.held = b""
        self.partial = b""
        self.truncated: BaseException | None = None
        self.done = False

    @property
    def closed(self) -> bool:
        return False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while not self.done:
            try:
                chunk = self.f.read(n if n and n > 0 else 1 << 20)
            except (EOFError, OSError, zlib.error) as e:
                if fsio.is_transient(e):
                    raise
                chunk, self.truncated = b"", e
            if not chunk:
                self.done = True
                data, self.held = self.held, b""
                cut = _last_boundary(data)
                if cut < len(data) and (self.truncated is not None or _odd_quotes(data[cut:])):
                    data, self.partial = data[:cut], data[cut:]
                return data
            data = self.held + chunk
            cut = _last_boundary(data)
            out, self.held = data[:cut], data[cut:]
            if out:
                return out
        return b""


def _odd_quotes(b: bytes) -> bool:
    return b.count(b'"') % 2 == 1


def _last_boundary(data: bytes) -> int:
    """Offset just after the last newline outside a quoted field (0 when there is none); ``data``
    starts at a record boundary.  Doubled quotes inside a field keep the count even."""
    if b'"' not in data:
        i = data.rfind(b"\n")
        return i + 1
    a = np.frombuffer(data, dtype=np.uint8)
    inside = np.cumsum(a == 34, dtype=np.uint8) & 1
    nl = np.flatnonzero((a == 10) & (inside == 0))
    return int(nl[-1]) + 1 if nl.size else 0


class _Ragged:
    def __init__(self) -> None:
        self.rows: list[tuple[int | None, int, int]] = []

    def __call__(self, row) -> str:
        self.rows.append((row.number, row.expected_columns, row.actual_columns))
        return "skip"


@register("csv")
class CsvConnector(RecordConnector):
    def _header(self, unit: WorkUnit) -> list[str]:
        parse = pacsv.ParseOptions(
            delimiter=self.options.get("delimiter", ","), newlines_in_values=True, invalid_row_handler=lambda r: "skip"
        )
        # the first 64 KiB, read here: pyarrow's read-ahead could otherwise hit a corrupt tail
        # (truncated gzip) before it has returned the header
        head = b""
        with fsio.open_input(unit.path, "rb") as f:
            try:
                while len(head) < 1 << 16:
                    chunk = f.read((1 << 16) - len(head))
                    if not chunk:
                        break
                    head += chunk
            except EOFError:
                if not head:
                    raise
        if not head.strip():
            return []
        first = head.split(b"\n", 1)[0] + b"\n"
        r = pacsv.open_csv(io.BytesIO(first), parse_options=parse, read_options=pacsv.ReadOptions(block_size=1 << 16))
        return list(r.schema.names)

    def filter_rule(self, rec: dict) -> str | None:
        """A source rule that filters this record (reason), or None.  Default: ``options.drop_if``."""
        for col, val in (self.options.get("drop_if") or {}).items():
            if str(rec.get(col.lower()) or "").strip() == str(val):
                return f"{col}={val}"
        return None

    def read(self, unit: WorkUnit) -> Iterator[Record]:
        base = self.file_label(unit.path)
        try:
            names = self._header(unit)
        except Exception as e:
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield Drop(self.doc_id(f"{base}@header"), "quarantined", safe_reason(e, "unreadable CSV header"), unit.location)
            return
        if not names:  # an empty file holds no records
            return
        names = [names[0].lstrip("\ufeff"), *names[1:]]
        fmap = self.field_map(names)
        missing = [t for t in self.text_fields if t.lower() not in fmap]
        if missing:
            yield Drop(self.doc_id(f"{base}@header"), "quarantined", f"no column {missing[0]!r} in CSV header", unit.location)
            return
        block = int(self.options.get("block_size", 4 << 20))
        state = {"row": 0, "lines": set()}
        while True:
            try:
                yield from self._read_rows(unit, base, names, block, state)
                return
            except pa.ArrowInvalid as e:
                # one field larger than the block: read again with a larger block, from the row it stopped at
                if "straddl" not in str(e) or block >= self.max_doc_chars() * 4 + (1 << 20):
                    yield Drop(self.doc_id(f"{base}@unreadable"), "quarantined",
                               safe_reason(e, f"unreadable CSV after row {state['row']}"), unit.location)
                    return
                block *= 4
            except Exception as e:
                if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                    raise
                yield Drop(self.doc_id(f"{base}@unreadable"), "quarantined",
                           safe_reason(e, f"unreadable CSV after row {state['row']}"), unit.location)
                return

    def _read_rows(self, unit: WorkUnit, base: str, names: list[str], block: int, state: dict) -> Iterator[Record]:
        """Rows from ``state['row']`` on (rows before it were yielded by an earlier attempt)."""
        ragged = _Ragged()
        parse = pacsv.ParseOptions(
            delimiter=self.options.get("delimiter", ","), newlines_in_values=True, invalid_row_handler=ragged
        )
        convert = pacsv.ConvertOptions(column_types={n: pa.binary() for n in names}, strings_can_be_null=False)
        read_opts = pacsv.ReadOptions(block_size=block, use_threads=False, column_names=names, skip_rows=1)
        skip = state["row"]
        seen = 0
        with open_stream(unit.path) as raw:
            guard = _RecordGuard(raw)
            reader = pacsv.open_csv(guard, read_options=read_opts, parse_options=parse, convert_options=convert)
            for batch in reader:
                yield from self._ragged_drops(ragged, base, unit, state["lines"])
                n = batch.num_rows
                if seen + n <= skip:
                    seen += n
                    continue
                first = max(0, skip - seen)
                seen += n
                cols: dict[str, list] = {}
                for i, n_ in enumerate(batch.schema.names):  # a repeated header name: the first column counts
                    if n_.lower() not in cols:
                        cols[n_.lower()] = batch.column(i).to_pylist()
                for i in range(first, n):
                    row = state["row"]
                    loc = f"{unit.path}#row={row}"
                    fallback = f"{base}:{row}"
                    state["row"] = row + 1
                    try:
                        rec = {k: (v[i].decode("utf-8") if v[i] is not None else None) for k, v in cols.items()}
                    except UnicodeDecodeError as e:
                        rid = cols.get((self.id_field or "").lower(), [None] * (i + 1))[i]
                        did = self.doc_id(rid.decode("utf-8", "replace") if rid else fallback)
                        yield Drop(did, "quarantined", f"invalid UTF-8 in row {row} (byte {e.start} of a field)", loc)
                        continue
                    docs = self.docs_from_record(rec, fallback, loc, unit.path)
                    rule = self.filter_rule(rec)
                    if rule:
                        docs = [Drop(d.doc_id, "filtered", f"source rule: {rule}", loc) for d in docs]
                    yield from docs
            yield from self._ragged_drops(ragged, base, unit, state["lines"])
        if guard.partial or guard.truncated is not None:
            what = "input ends inside a record" if guard.partial else "input ends early"
            why = safe_reason(guard.truncated, what) if guard.truncated is not None else what
            yield Drop(self.doc_id(f"{base}@end"), "quarantined", f"{why} (after row {state['row']})", unit.location)

    def _ragged_drops(self, ragged: _Ragged, base: str, unit: WorkUnit, emitted: set) -> Iterator[Drop]:
        for number, expected, actual in ragged.rows:
            if number in emitted:  # already reported by an earlier attempt
                continue
            emitted.add(number)
            yield Drop(
                self.doc_id(f"{base}:line{number}"),
                "quarantined",
                f"ragged CSV row at line {number}: {actual} fields, expected {expected}",
                f"{unit.path}#line={number}",
            )
        ragged.rows.clear()

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
import os
from typing import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from connectors.base import Drop, RecordConnector, Record, WorkUnit, safe_reason
from connectors.registry import register
from engine.core import fsio


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
        base = os.path.basename(unit.path)
        ragged = _Ragged()
        parse = pacsv.ParseOptions(
            delimiter=self.options.get("delimiter", ","), newlines_in_values=True, invalid_row_handler=ragged
        )
        row = 0
        try:
            names = self._header(unit)
        except Exception as e:
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield Drop(self.doc_id(f"{base}@header"), "quarantined", safe_reason(e, "unreadable CSV header"), unit.location)
            return
        if not names:
            yield Drop(self.doc_id(f"{base}@header"), "quarantined", "empty CSV file (no header)", unit.location)
            return
        fmap = self.field_map(names)
        missing = [t for t in self.text_fields if t.lower() not in fmap]
        if missing:
            yield Drop(self.doc_id(f"{base}@header"), "quarantined", f"no column {missing[0]!r} in CSV header", unit.location)
            return
        convert = pacsv.ConvertOptions(column_types={n: pa.binary() for n in names}, strings_can_be_null=False)
        read_opts = pacsv.ReadOptions(block_size=int(self.options.get("block_size", 4 << 20)), use_threads=False)
        try:
            with fsio.open_input(unit.path, "rb") as f:
                reader = pacsv.open_csv(f, read_options=read_opts, parse_options=parse, convert_options=convert)
                for batch in reader:
                    yield from self._ragged_drops(ragged, base, unit)
                    cols = {n.lower(): batch.column(i).to_pylist() for i, n in enumerate(batch.schema.names)}
                    for i in range(batch.num_rows):
                        loc = f"{unit.path}#row={row}"
                        fallback = f"{base}:{row}"
                        row += 1
                        try:
                            rec = {k: (v[i].decode("utf-8") if v[i] is not None else None) for k, v in cols.items()}
                        except UnicodeDecodeError as e:
                            rid = cols.get((self.id_field or "").lower(), [None] * (i + 1))[i]
                            did = self.doc_id(rid.decode("utf-8", "replace") if rid else fallback)
                            yield Drop(did, "quarantined", f"invalid UTF-8 in row {row - 1} (byte {e.start} of a field)", loc)
                            continue
                        docs = self.docs_from_record(rec, fallback, loc)
                        rule = self.filter_rule(rec)
                        if rule:
                            docs = [Drop(d.doc_id, "filtered", f"source rule: {rule}", loc) for d in docs]
                        yield from docs
                yield from self._ragged_drops(ragged, base, unit)
        except Exception as e:
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield from self._ragged_drops(ragged, base, unit)
            yield Drop(self.doc_id(f"{base}@unreadable"), "quarantined", safe_reason(e, f"unreadable CSV after row {row}"), unit.location)

    def _ragged_drops(self, ragged: _Ragged, base: str, unit: WorkUnit) -> Iterator[Drop]:
        for number, expected, actual in ragged.rows:
            yield Drop(
                self.doc_id(f"{base}:line{number}"),
                "quarantined",
                f"ragged CSV row at line {number}: {actual} fields, expected {expected}",
                f"{unit.path}#line={number}",
            )
        ragged.rows.clear()

"""Generic Parquet reader (``connector: parquet``), also for Hugging Face datasets exported as parquet.

Reads record batch by record batch (only the needed columns) through fsspec, so a large
file never sits in memory whole.  Options as in :class:`connectors.base.RecordConnector`,
plus ``batch_rows`` (default 4096).
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import Drop, RecordConnector, Record, WorkUnit, safe_reason
from connectors.registry import register
from engine.core import fsio


def _columns(batch: pa.RecordBatch) -> tuple[dict[str, list], dict[int, str]]:
    """Python values of a batch's columns by lower-cased name, and the rows holding a string that is
    not valid UTF-8 (row -> column name): one such value costs its row, not the file."""
    cols: dict[str, list] = {}
    bad: dict[int, str] = {}
    for i, name in enumerate(batch.schema.names):
        col = batch.column(i)
        try:
            cols[name.lower()] = col.to_pylist()
        except (UnicodeDecodeError, pa.ArrowException):
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                raise
            vals = []
            for r, b in enumerate(col.cast(pa.large_binary() if pa.types.is_large_string(col.type) else pa.binary()).to_pylist()):
                try:
                    vals.append(None if b is None else b.decode("utf-8"))
                except UnicodeDecodeError:
                    vals.append(None)
                    bad.setdefault(r, name)
            cols[name.lower()] = vals
    return cols, bad


@register("parquet")
class ParquetConnector(RecordConnector):
    def read(self, unit: WorkUnit) -> Iterator[Record]:
        base = self.file_label(unit.path)
        fs, path = fsio.fs_and_path(unit.path)
        row = 0
        try:
            with fs.open(path, "rb") as f:
                pf = pq.ParquetFile(f)
                fmap = self.field_map(pf.schema_arrow.names)
                wanted = [fmap[c.lower()] for c in [*self.text_fields, *(self.id_field and [self.id_field] or []), *self.meta_fields] if c.lower() in fmap]
                missing = [t for t in self.text_fields if t.lower() not in fmap]
                if missing:
                    yield Drop(self.doc_id(f"{base}@schema"), "quarantined", f"no column {missing[0]!r} in parquet schema", unit.location)
                    return
                for batch in pf.iter_batches(batch_size=int(self.options.get("batch_rows", 4096)), columns=sorted(set(wanted))):
                    cols, bad = _columns(batch)
                    for i in range(batch.num_rows):
                        loc = f"{unit.path}#row={row}"
                        if i in bad:
                            yield Drop(self.doc_id(f"{base}:{row}"), "quarantined", f"invalid UTF-8 in row {row} (column {bad[i]!r})", loc)
                        else:
                            rec = {k: v[i] for k, v in cols.items()}
                            yield from self.docs_from_record(rec, f"{base}:{row}", loc, unit.path)
                        row += 1
        except Exception as e:
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield Drop(self.doc_id(f"{base}@unreadable"), "quarantined", safe_reason(e, f"unreadable parquet after row {row}"), unit.location)

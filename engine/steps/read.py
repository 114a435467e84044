"""The read step: one work unit -> read -> the per-document stages -> staged files + a marker.

Files in: the unit's byte or row range of a source file.  Files out (all under ``_staging``
unless said otherwise, written atomically under deterministic names, so a retried or resumed
call rewrites the same bytes):

* ``docs/<source>/<unit>.arrow``: the surviving documents (:data:`~engine.core.records.DOC_SCHEMA`);
* ``keys/<unit>.parquet``: exact-dedup keys (and tombstones) of the survivors;
* ``near/<unit>.parquet``: near-dedup band keys and sketches (when near dedup is on);
* ``OUT/quarantine/<source>/<unit>.parquet``: the documents the reader or a stage dropped;
* ``units/<unit>.json``: the :class:`~engine.core.markers.ReadDone` marker (or
  :class:`~engine.core.markers.ReadFailed` when the reader failed midway).
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from engine.core import fsio
from engine.core.markers import ReadDone, ReadFailed
from engine.core.records import DOC_SCHEMA, DROP_SCHEMA, Doc, Drop, Tombstone, WorkUnit, safe_reason
from engine.dedup import exact as dedup_exact
from engine.stages.base import SourceContext

#: numbers that say where in the input something was (line 12, byte 4096, row=7, position=(1, 84)) or how
#: big it was (6000321 chars): folded to N so the per-reason histogram groups them; every other number
#: (thresholds, scores, counts, source codes such as ISERROR=1) is the engine's own and stays
_POSITION = re.compile(
    r"(?i)(\b(?:line|byte|row|char|offset|position|pos|lineno|colno|after|member|record)s?\s*[=:]?\s*\(?)(\d+)(?:(,\s*)(\d+))?"
)
_SIZE = re.compile(r"\b\d+(?=\s*(?:chars|bytes|records)\b)")


def reason_key(reason: str) -> str:
    """A reason as a histogram key: positions and sizes folded to N, nothing else."""
    key = _POSITION.sub(lambda m: m.group(1) + "N" + (m.group(3) + "N" if m.group(4) else ""), reason)
    return _SIZE.sub("N", key)[:160]


def drops_table(drops: list[Drop], source: str, unit_id: str | None) -> pa.Table:
    """Quarantine rows.  A ``quarantined`` record keeps its text (a person must see what could
    not be read); a ``deid_rejected`` one never does: ids, location, PHI types (reason) and
    offsets (``phi_spans``) only, so OUT holds no note text (see :func:`rejected_text_table`)."""
    keep_text = {"quarantined"}
    return pa.table(
        {
            "doc_id": [d.doc_id for d in drops],
            "source": [source] * len(drops),
            "bucket": [d.bucket for d in drops],
            "stage": [d.stage for d in drops],
            "reason": [d.reason for d in drops],
            "location": [d.location for d in drops],
            "dup_of": [None] * len(drops),
            "unit_id": [unit_id] * len(drops),
            "text": [d.text if d.bucket in keep_text else None for d in drops],
            "phi_spans": [d.spans for d in drops],
        },
        schema=DROP_SCHEMA,
    )


def rejected_text_table(drops: list[Drop], source: str) -> pa.Table | None:
    """The text of the ``deid_rejected`` documents, for ``deid.rejected_text_uri`` (outside OUT)."""
    rej = [d for d in drops if d.bucket == "deid_rejected" and d.text is not None]
    if not rej:
        return None
    return pa.table(
        {
            "doc_id": [d.doc_id for d in rej],
            "source": [source] * len(rej),
            "reason": [d.reason for d in rej],
            "phi_spans": [d.spans for d in rej],
            "text": pa.array([d.text for d in rej], pa.large_string()),
        }
    )


def docs_table(docs: list[Doc]) -> pa.Table:
    return pa.table(
        {
            "doc_id": [d.doc_id for d in docs],
            "text": [d.text for d in docs],
            "meta": [json.dumps(d.meta, sort_keys=True, ensure_ascii=False) if d.meta else None for d in docs],
            "key": [d.key for d in docs],
            "rank": [d.rank for d in docs],
        },
        schema=DOC_SCHEMA,
    )


class UnitIds:
    """Doc ids are unique within a unit: a repeated id gets ``#2``, ``#3``, ... (skipping any that the
    input itself uses, so ``1``, ``1``, ``1#2`` give three different ids)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.next: dict[str, int] = {}

    def __call__(self, rec):
        did = rec.doc_id
        if did in self.seen:
            n = self.next.get(did, 1)
            while f"{did}#{n}" in self.seen or n == 1:
                n += 1
            self.next[did] = n
            rec.doc_id = f"{did}#{n}"
        self.seen.add(rec.doc_id)
        return rec


class StagedUnit:
    """What one unit leaves behind, filled batch by batch: survivors, keys, near sketches, drops, counts."""

    def __init__(self, worker, unit: WorkUnit, ctx: SourceContext) -> None:
        self.worker, self.unit, self.ctx = worker, unit, ctx
        self.sink = fsio.AtomicWriter(worker.layout.docs(unit.source, unit.unit_id))
        self.writer = ipc.new_file(self.sink.file, DOC_SCHEMA, options=ipc.IpcWriteOptions(compression="zstd"))
        self.counts: Counter = Counter()
        self.seconds: Counter = Counter()
        self.drops: list[Drop] = []
        self.keys: list[pa.Table] = []
        self.near: list[pa.Table] = []
        self.kept = self.kept_chars = 0

    def add(self, docs: list[Doc]) -> None:
        """Run a batch through the stages and stage the survivors."""
        try:
            table = docs_table(docs)
        except (pa.ArrowException, UnicodeEncodeError):  # one text Arrow cannot hold costs that document only
            good = []
            for d in docs:
                try:
                    docs_table([d])
                    good.append(d)
                except (pa.ArrowException, UnicodeEncodeError) as e:
                    self.drops.append(Drop(d.doc_id, "quarantined", safe_reason(e, "text not storable as UTF-8"), self.unit.location))
            table = docs_table(good)
        for stage in self.worker.stages:
            t0 = time.perf_counter()
            res = stage.process(table, self.ctx)
            self.seconds[stage.name] += time.perf_counter() - t0
            table = res.table
            self.drops.extend(res.drops)
            self.counts.update(res.counters)
        if not table.num_rows:
            return
        self.writer.write_table(table)
        self.kept += table.num_rows
        self.kept_chars += int(pc.sum(pc.utf8_length(table.column("text"))).as_py() or 0)
        self.keys.append(self._keys(table))
        if self.worker.near is not None:
            t0 = time.perf_counter()
            self.near.append(self.worker.near.map(table, self.ctx))
            self.seconds["near_map"] += time.perf_counter() - t0

    def _keys(self, table: pa.Table, tombstones: list[Tombstone] | None = None) -> pa.Table:
        return dedup_exact.keys_table(table, self.unit.source, self.ctx.config.priority, self.unit.unit_id,
                                      self.worker.manifest.resources.dedup_partitions, tombstones)

    def abort(self) -> None:
        self.writer.close()
        self.sink.discard()

    def commit(self, tombstones: list[Tombstone]) -> tuple[bool, str | None]:
        """Put the unit's files in place; returns (some document carries a version key, quarantine file)."""
        self.writer.close()
        self.sink.commit()
        lay, uid = self.worker.layout, self.unit.unit_id
        if tombstones:
            self.keys.append(self._keys(DOC_SCHEMA.empty_table(), tombstones))
        keys = pa.concat_tables(self.keys) if self.keys else dedup_exact.KEYS_SCHEMA.empty_table()
        fsio.write_parquet(lay.keys(uid), keys.sort_by([("hpart", "ascending")]))
        if self.near:
            fsio.write_parquet(lay.near(uid), pa.concat_tables(self.near))
        qfile = None
        if self.drops:
            qfile = lay.quarantine(self.unit.source, uid)
            fsio.write_parquet(qfile, drops_table(self.drops, self.unit.source, uid))
            rejected_uri = self.worker.manifest.deid.rejected_text_uri
            rej = rejected_text_table(self.drops, self.unit.source) if rejected_uri else None
            if rej is not None:
                fsio.write_parquet(fsio.join(rejected_uri, self.unit.source, f"{uid}.parquet"), rej)
        keyed = bool(keys.num_rows) and keys.column("key").null_count < keys.num_rows
        return keyed, qfile


def read_unit(worker, unit: WorkUnit) -> ReadDone | ReadFailed:
    """Read one unit through the per-document stages into staging (``worker``: a :class:`engine.run.worker.Worker`)."""
    t0 = time.perf_counter()
    ctx = worker.context(unit.source)
    batch_docs = worker.manifest.resources.batch_docs
    staged = StagedUnit(worker, unit, ctx)
    unique = UnitIds()
    buf: list[Doc] = []
    tombs: list[Tombstone] = []
    read = 0
    try:
        for rec in worker.connector(unit.source).records(unit):
            if isinstance(rec, Doc):
                read += 1
                buf.append(unique(rec))
                if len(buf) >= batch_docs:
                    staged.add(buf)
                    buf = []
            elif isinstance(rec, Drop):
                read += 1
                staged.drops.append(unique(rec))
            elif isinstance(rec, Tombstone):
                tombs.append(rec)
        if buf:
            staged.add(buf)
    except Exception as e:  # a connector bug mid-unit: quarantine the unit, never crash the build
        staged.abort()
        if fsio.is_transient(e):  # the store did not answer: the task is retried, nothing quarantined
            raise
        return failed_unit(worker, unit, e, read, t0)
    keyed, qfile = staged.commit(tombs)
    counts, reasons = staged.counts, defaultdict(Counter)
    for d in staged.drops:
        counts[d.bucket] += 1
        reasons[d.bucket][reason_key(d.reason)] += 1
    marker = ReadDone(
        unit.unit_id, unit.source, counts={k: int(v) for k, v in counts.items()},
        reasons={b: dict(c) for b, c in reasons.items()},
        quarantine_file=worker.layout.rel(qfile) if qfile else None,
        seconds={k: round(v, 4) for k, v in staged.seconds.items()} | {"total": round(time.perf_counter() - t0, 4)}
        | worker.take_setup_seconds(),
        location=unit.location, read=read, bytes_read=unit.size if unit.end < 0 else unit.end - unit.start,
        kept=staged.kept, kept_chars=staged.kept_chars, keyed=keyed, near=bool(staged.near),
    )
    fsio.write_json_atomic(worker.layout.unit_marker(unit.unit_id), marker.to_json())
    return marker


def failed_unit(worker, unit: WorkUnit, exc: Exception, read: int, t0: float) -> ReadFailed:
    """The unit's reader failed after ``read`` records: the whole unit becomes one quarantined record."""
    lay = worker.layout
    reason = safe_reason(exc, f"reader failed after {read} records; whole unit quarantined")
    drop = Drop(f"{unit.source}:unit-{unit.unit_id}", "quarantined", reason, unit.location)
    qfile = lay.quarantine(unit.source, unit.unit_id)
    fsio.write_parquet(qfile, drops_table([drop], unit.source, unit.unit_id))
    fsio.remove(lay.docs(unit.source, unit.unit_id))
    fsio.write_parquet(lay.keys(unit.unit_id), dedup_exact.KEYS_SCHEMA.empty_table())
    marker = ReadFailed(
        unit.unit_id, unit.source, counts={"quarantined": 1}, reasons={"quarantined": {reason_key(reason): 1}},
        quarantine_file=lay.rel(qfile), seconds={"total": round(time.perf_counter() - t0, 4)},
        location=unit.location, bytes_read=unit.size,
    )
    fsio.write_json_atomic(lay.unit_marker(unit.unit_id), marker.to_json())
    return marker

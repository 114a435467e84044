"""The tokenize step: one unit's surviving documents -> ``[CLS] .. [SEP]`` token windows + a marker.

Files in: ``_staging/docs/<source>/<unit>.arrow`` and the global drop tables of the dedup phase.
Files out: ``_staging/tokens/<unit>.arrow`` (``doc_id``, ``ids``: one row per window of at most
``max_seq_len`` tokens), ``OUT/quarantine/<source>/dedup-<unit>.parquet`` (the unit's dedup
drops) and the :class:`~engine.core.markers.TokenizeDone` marker ``_staging/tokens/<unit>.json``.
"""
from __future__ import annotations

import time
import weakref
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from engine.core import fsio
from engine.core.markers import TokenizeDone
from engine.core.records import DROP_SCHEMA
from engine.steps.read import reason_key
from engine.tokenizer.backends import encoder_for
from kernels.packing import windows


#: per worker: the last drop table read whole (``(uri, table)``); the units of a unit group share
#: one table and run one after another, so each worker reads each table about once
_LAST_TABLE: "weakref.WeakKeyDictionary[object, tuple[str, pa.Table | None]]" = weakref.WeakKeyDictionary()


def _drop_table(worker, uri: str) -> pa.Table | None:
    try:
        last = _LAST_TABLE.get(worker)
    except TypeError:  # a worker that cannot be weakly referenced: no cache
        last, worker = None, None
    if last is not None and last[0] == uri:
        return last[1]
    t = fsio.read_parquet(uri) if fsio.exists(uri) else None
    if worker is not None:
        _LAST_TABLE[worker] = (uri, t)
    return t


def unit_drops(unit_id: str, drop_uris: list[str], worker=None) -> tuple[set[str], pa.Table | None]:
    """This unit's rows in the global drop tables (first one wins: supersede, exact, near).

    A drop table is read whole once per ``worker`` and filtered in memory (a table holds the drops
    of one unit group: a few units' worth); without a worker each call reads just the unit's rows."""
    dropped: set[str] = set()
    parts: list[pa.Table] = []
    for uri in drop_uris:
        if worker is None:
            if not fsio.exists(uri):
                continue
            t = fsio.read_parquet(uri, filters=[("unit_id", "=", unit_id)])
        else:
            whole = _drop_table(worker, uri)
            if whole is None:
                continue
            t = whole.filter(pc.equal(whole.column("unit_id"), unit_id))
        if not t.num_rows:
            continue
        t = t.select([f.name for f in DROP_SCHEMA]).cast(DROP_SCHEMA)
        fresh = [i for i, d in enumerate(t.column("doc_id").to_pylist()) if d not in dropped]
        t = t.take(pa.array(fresh, pa.int64()))
        dropped.update(t.column("doc_id").to_pylist())
        parts.append(t)
    return dropped, (pa.concat_tables(parts).sort_by([("doc_id", "ascending")]) if parts else None)


class WindowWriter:
    """Token windows of kept documents into one Arrow IPC file (in memory until ``close``)."""

    def __init__(self, tok, max_seq_len: int, backend: str = "auto") -> None:
        self.tok, self.L = tok, max_seq_len
        self.encoder = encoder_for(tok, backend)  # engine.tokenizer.backends: the same ids whichever runs
        self.id_type = pa.uint16() if tok.vocab_size <= 65536 else pa.uint32()
        self.np_type = np.uint16 if self.id_type == pa.uint16() else np.uint32
        self.schema = pa.schema([("doc_id", pa.string()), ("ids", pa.list_(self.id_type))])
        self.sink = pa.BufferOutputStream()
        self.writer = ipc.new_file(self.sink, self.schema, options=ipc.IpcWriteOptions(compression="zstd"))
        self.stats: Counter = Counter()
        self.seconds: Counter = Counter()

    def add(self, ids: list[str], texts: list[str]) -> None:
        t0 = time.perf_counter()
        flat_ids, offs = self.encoder.encode(texts)
        self.seconds["tokenize"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        win_ids: list[str] = []
        wins: list[np.ndarray] = []
        for j, (did, text) in enumerate(zip(ids, texts)):
            ws = windows(flat_ids[offs[j]:offs[j + 1]], self.L, self.tok.cls_id, self.tok.sep_id)
            self.stats["split_documents"] += len(ws) > 1
            self.stats["chars_written"] += len(text)
            win_ids += [did] * len(ws)
            wins += ws
        self.stats["written"] += len(ids)
        self.stats["segments"] += len(wins)
        lens = np.fromiter((len(w) for w in wins), dtype=np.int64, count=len(wins))
        self.stats["tokens"] += int(lens.sum())
        offsets = np.zeros(len(wins) + 1, dtype=np.int32)
        np.cumsum(lens, out=offsets[1:])
        flat = pa.array(np.concatenate(wins).astype(self.np_type), self.id_type)
        batch = pa.record_batch([pa.array(win_ids, pa.string()), pa.ListArray.from_arrays(pa.array(offsets), flat)], schema=self.schema)
        self.writer.write_batch(batch)
        self.seconds["window"] += time.perf_counter() - t0

    def close(self, uri: str) -> list:
        """Write the windows to ``uri`` (no fsync: the marker records the stamp returned)."""
        self.writer.close()
        return fsio.write_bytes_atomic(uri, self.sink.getvalue().to_pybytes(), durable=False)


def tokenize_unit(worker, source: str, unit_id: str, drop_uris: list[str]) -> TokenizeDone:
    """Surviving documents of one unit -> token windows (``worker``: a :class:`engine.run.worker.Worker`)."""
    t0 = time.perf_counter()
    lay = worker.layout
    dropped, drop_table = unit_drops(unit_id, drop_uris, worker)
    out = WindowWriter(worker.tokenizer, worker.manifest.max_seq_len, worker.manifest.tokenizer_backend)
    try:
        docs = fsio.open_arrow(lay.docs(source, unit_id))
    except FileNotFoundError:  # the unit's reader failed as a whole: no documents
        docs = None
    if docs is not None:
        with docs as f:
            reader = ipc.open_file(f)
            for bi in range(reader.num_record_batches):
                batch = reader.get_batch(bi)
                ids = batch.column("doc_id").to_pylist()
                texts = batch.column("text").to_pylist()
                keep = [i for i, d in enumerate(ids) if d not in dropped]
                if keep:
                    out.add([ids[i] for i in keep], [texts[i] for i in keep])
    files = {lay.rel(lay.tokens(unit_id)): out.close(lay.tokens(unit_id))}
    stats, reasons = out.stats, defaultdict(Counter)
    qfile = None
    if drop_table is not None:
        qfile = lay.quarantine(source, f"dedup-{unit_id}")
        files[lay.rel(qfile)] = fsio.write_parquet(qfile, drop_table, durable=False)
        for b, r in zip(drop_table.column("bucket").to_pylist(), drop_table.column("reason").to_pylist()):
            stats[b] += 1
            reasons[b][reason_key(r)] += 1
    seconds = out.seconds | {"total": time.perf_counter() - t0}
    marker = TokenizeDone(
        unit_id, source, counts={k: int(v) for k, v in stats.items()}, reasons={b: dict(c) for b, c in reasons.items()},
        quarantine_file=lay.rel(qfile) if qfile else None, seconds={k: round(v, 4) for k, v in seconds.items()}, files=files,
    )
    fsio.write_json_atomic(lay.tokens_marker(unit_id), marker.to_json(), durable=False)
    return marker

"""The work a build does, as a plain class the driver wraps in Ray actors.

``Worker`` holds the stages (built and ``setup`` once), the tokenizer and the
connectors; the driver calls:

* :meth:`Worker.process_unit`  phase 1: read -> normalize -> deid -> filter -> staging
  (surviving texts, exact-dedup keys, near-dup band keys, quarantine records, a marker);
* :meth:`Worker.reduce_supersede` / :meth:`Worker.reduce_exact` phase 2 (global dedup);
* :meth:`Worker.tokenize_unit` phase 3a: a unit's surviving documents -> token windows;
* :meth:`Worker.pack_group` phase 3b: the windows of a run of units -> best-fit packed
  rows -> temporary shards.

Every method is idempotent: its outputs are written atomically under deterministic
names, so a retried or resumed call rewrites the same bytes.  Nothing here logs text.
"""
from __future__ import annotations

from engine.core import fsio

import json
import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from connectors import registry
from engine.dedup import exact as dedup_exact
from engine.core import fsio
from engine.core.records import DOC_SCHEMA, DROP_SCHEMA, Doc, Drop, Tombstone, WorkUnit, safe_reason
from engine.output.shards import Row, shard_metadata, shard_schema, write_shard
from engine.stages.base import SourceContext, StageResult
from kernels.packing import BestFitPacker, windows

_DIGITS = re.compile(r"(?<![\w.-])\d+(?!\w)")


def reason_key(reason: str) -> str:
    """Reason with numbers folded, for the per-reason histogram in the ledger."""
    return _DIGITS.sub("N", reason)[:160]


@dataclass
class Layout:
    """Where everything of one build lives (all fsspec URIs)."""

    out: str

    @property
    def staging(self) -> str:
        return fsio.join(self.out, "_staging")

    def docs(self, source: str, unit_id: str) -> str:
        return fsio.join(self.staging, "docs", source, f"{unit_id}.arrow")

    def keys(self, unit_id: str) -> str:
        return fsio.join(self.staging, "keys", f"{unit_id}.parquet")

    def near(self, unit_id: str) -> str:
        return fsio.join(self.staging, "near", f"{unit_id}.parquet")

    def unit_marker(self, unit_id: str) -> str:
        return fsio.join(self.staging, "units", f"{unit_id}.json")

    def drops(self, kind: str, part: int) -> str:
        return fsio.join(self.staging, "drops", f"{kind}-{part:05d}.parquet")

    def drops_prefix(self, kind: str) -> str:
        return fsio.join(self.staging, "drops", kind)

    def tokens(self, unit_id: str) -> str:
        return fsio.join(self.staging, "tokens", f"{unit_id}.arrow")

    def tokens_marker(self, unit_id: str) -> str:
        return fsio.join(self.staging, "tokens", f"{unit_id}.json")

    def group_marker(self, source: str, group: int) -> str:
        return fsio.join(self.staging, "groups", source, f"{group:05d}.json")

    def temp_shard(self, source: str, group: int, k: int) -> str:
        return fsio.join(self.staging, "pack", source, f"{group:05d}-{k:05d}.arrow")

    def shard(self, source: str, n: int) -> str:
        return fsio.join(self.out, "shards", source, f"{source}-{n:05d}.arrow")

    def quarantine(self, source: str, name: str) -> str:
        return fsio.join(self.out, "quarantine", source, f"{name}.parquet")

    def rel(self, uri: str) -> str:
        return fsio.relpath(self.out, uri)


def _drops_table(drops: list[Drop], source: str, unit_id: str | None) -> pa.Table:
    keep_text = {"quarantined", "deid_rejected"}
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
        },
        schema=DROP_SCHEMA,
    )


def _docs_table(docs: list[Doc]) -> pa.Table:
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


class Worker:
    def __init__(self, manifest, out: str, tokenizer_spec: str | None = None, build_id: str = "",
                 env: dict[str, str] | None = None) -> None:
        os.environ.update(env or {})
        self.manifest = manifest
        self.layout = Layout(out)
        self.build_id = build_id
        self._tok_spec = tokenizer_spec or manifest.tokenizer
        self._tok = None
        self._connectors: dict[str, object] = {}
        self.stages = self._build_stages()
        for s in self.stages:
            s.setup()
        self.near = None
        if manifest.dedup.near is not None and manifest.dedup.near.enabled:
            from engine.dedup.near import NearDedupMapper

            self.near = NearDedupMapper(manifest)

    # -- setup -------------------------------------------------------------------------------------
    def _build_stages(self) -> list:
        from engine.stages.filters import FilterStage
        from engine.stages.normalize import NormalizeStage

        stages = [NormalizeStage(self.manifest)]
        if any(self.manifest.deid_policy(s) != "skip" for s in self.manifest.sources):
            from engine.stages.deid import DeidStage  # the de-identification check (issue 4)

            stages.append(DeidStage(self.manifest))
        stages.append(FilterStage(self.manifest))
        return stages

    @property
    def tokenizer(self):
        if self._tok is None:
            from engine.tokenizer import load_tokenizer

            self._tok = load_tokenizer(self._tok_spec)
        return self._tok

    def connector(self, source: str):
        if source not in self._connectors:
            cfg = self.manifest.source(source)
            self._connectors[source] = registry.get(cfg.connector)(cfg, self.manifest)
        return self._connectors[source]

    def context(self, source: str) -> SourceContext:
        cfg = self.manifest.source(source)
        conn = self.connector(source)
        return SourceContext(source, cfg, self.manifest, getattr(conn, "placeholder", None), self.manifest.deid_policy(cfg))

    def ping(self) -> bool:
        return True

    # -- phase 1 -----------------------------------------------------------------------------------
    def process_unit(self, unit: WorkUnit) -> dict:
        """Read one unit through the per-document stages into staging; returns its ledger counts."""
        t0 = time.perf_counter()
        lay = self.layout
        ctx = self.context(unit.source)
        conn = self.connector(unit.source)
        batch_docs = self.manifest.resources.batch_docs
        counts: Counter = Counter()
        reasons: dict[str, Counter] = defaultdict(Counter)
        drops: list[Drop] = []
        tombs: list[Tombstone] = []
        keys_parts: list[pa.Table] = []
        near_parts: list[pa.Table] = []
        buf: list[Doc] = []
        read = 0
        stage_time: Counter = Counter()

        docs_uri = lay.docs(unit.source, unit.unit_id)
        sink = fsio.AtomicWriter(docs_uri)  # local temp file, put in place with retries by commit()
        writer = ipc.new_file(sink.file, DOC_SCHEMA, options=ipc.IpcWriteOptions(compression="zstd"))
        kept_docs = 0
        kept_chars = 0

        def flush() -> None:
            nonlocal kept_docs, kept_chars
            if not buf:
                return
            table = _docs_table(buf)
            buf.clear()
            for stage in self.stages:
                ts = time.perf_counter()
                res: StageResult = stage.process(table, ctx)
                stage_time[stage.name] += time.perf_counter() - ts
                table = res.table
                drops.extend(res.drops)
                counts.update(res.counters)
            if table.num_rows:
                writer.write_table(table)
                kept_docs += table.num_rows
                kept_chars += int(pc.sum(pc.utf8_length(table.column("text"))).as_py() or 0)  # no second decode to Python
                keys_parts.append(
                    dedup_exact.keys_table(
                        table, unit.source, ctx.config.priority, unit.unit_id, self.manifest.resources.dedup_partitions
                    )
                )
                if self.near is not None:
                    ts = time.perf_counter()
                    near_parts.append(self.near.map(table, ctx))
                    stage_time["near_map"] += time.perf_counter() - ts

        seen_ids: dict[str, int] = {}

        def unique(rec):  # doc ids are unique within a unit: a repeated id gets "#2", "#3", ...
            n = seen_ids.get(rec.doc_id, 0) + 1
            seen_ids[rec.doc_id] = n
            if n > 1:
                rec.doc_id = f"{rec.doc_id}#{n}"
            return rec

        try:
            for rec in conn.read(unit):
                if isinstance(rec, Doc):
                    read += 1
                    buf.append(unique(rec))
                    if len(buf) >= batch_docs:
                        flush()
                elif isinstance(rec, Drop):
                    read += 1
                    drops.append(unique(rec))
                elif isinstance(rec, Tombstone):
                    tombs.append(rec)
            flush()
        except Exception as e:  # a connector bug mid-unit: quarantine the unit, never crash the build
            writer.close()
            sink.discard()
            if fsio.is_transient(e):  # the store did not answer: the task is retried, nothing quarantined
                raise
            return self._failed_unit(unit, e, read, t0)
        writer.close()
        sink.commit()

        if tombs:
            keys_parts.append(
                dedup_exact.keys_table(
                    pa.table({f.name: pa.array([], f.type) for f in DOC_SCHEMA}, schema=DOC_SCHEMA),
                    unit.source, ctx.config.priority, unit.unit_id, self.manifest.resources.dedup_partitions, tombs,
                )
            )
        keys = pa.concat_tables(keys_parts) if keys_parts else dedup_exact.KEYS_SCHEMA.empty_table()
        dedup_exact.write_parquet(lay.keys(unit.unit_id), keys.sort_by([("hpart", "ascending")]))
        if self.near is not None:
            near = pa.concat_tables(near_parts) if near_parts else None
            if near is not None:
                dedup_exact.write_parquet(lay.near(unit.unit_id), near)
        qfile = None
        if drops:
            qfile = lay.quarantine(unit.source, unit.unit_id)
            dedup_exact.write_parquet(qfile, _drops_table(drops, unit.source, unit.unit_id))
        for d in drops:
            counts[d.bucket] += 1
            reasons[d.bucket][reason_key(d.reason)] += 1
        marker = {
            "unit_id": unit.unit_id,
            "source": unit.source,
            "location": unit.location,
            "read": read,
            "bytes_read": unit.size if unit.end < 0 else unit.end - unit.start,
            "kept": kept_docs,
            "kept_chars": kept_chars,
            "keyed": int(any(k is not None for t in keys_parts for k in t.column("key").to_pylist())),
            "near": bool(self.near is not None and near_parts),
            "counts": {k: int(v) for k, v in counts.items()},
            "reasons": {b: dict(c) for b, c in reasons.items()},
            "quarantine_file": lay.rel(qfile) if qfile else None,
            "seconds": {k: round(v, 4) for k, v in stage_time.items()} | {"total": round(time.perf_counter() - t0, 4)},
        }
        fsio.write_json_atomic(lay.unit_marker(unit.unit_id), marker)
        return marker

    def _failed_unit(self, unit: WorkUnit, exc: Exception, read: int, t0: float) -> dict:
        lay = self.layout
        reason = safe_reason(exc, f"reader failed after {read} records; whole unit quarantined")
        drop = Drop(f"{unit.source}:unit-{unit.unit_id}", "quarantined", reason, unit.location)
        qfile = lay.quarantine(unit.source, unit.unit_id)
        dedup_exact.write_parquet(qfile, _drops_table([drop], unit.source, unit.unit_id))
        fsio.remove(lay.docs(unit.source, unit.unit_id))
        dedup_exact.write_parquet(lay.keys(unit.unit_id), dedup_exact.KEYS_SCHEMA.empty_table())
        marker = {
            "unit_id": unit.unit_id, "source": unit.source, "location": unit.location, "read": 1,
            "bytes_read": unit.size, "kept": 0, "kept_chars": 0, "keyed": 0, "near": False,
            "counts": {"quarantined": 1}, "reasons": {"quarantined": {reason_key(reason): 1}},
            "quarantine_file": lay.rel(qfile), "failed": True,
            "seconds": {"total": round(time.perf_counter() - t0, 4)},
        }
        fsio.write_json_atomic(lay.unit_marker(unit.unit_id), marker)
        return marker

    # -- phase 2 -----------------------------------------------------------------------------------
    def reduce_supersede(self, part: int, key_uris: list[str]) -> dict:
        out = self.layout.drops("supersede", part)
        return dedup_exact.reduce_supersede(part, key_uris, out, self.manifest.resources.dedup_partitions) | {"out": out}

    def reduce_exact(self, part: int, key_uris: list[str], supersede_uris: list[str]) -> dict:
        out = self.layout.drops("exact", part)
        return dedup_exact.reduce_exact(part, key_uris, supersede_uris, out) | {"out": out}

    def combine_keys(self, key_uris: list[str], out: str, keyed_out: str) -> dict:
        from engine.dedup.groups import combine_group

        return combine_group(key_uris, out, keyed_out)

    def route_drops(self, drop_uris: list[str], groups: list[list[str]], outs: list[str]) -> dict:
        from engine.dedup.groups import route_drops

        return route_drops(drop_uris, groups, outs)

    # -- phase 3 -----------------------------------------------------------------------------------
    def _unit_drops(self, unit_id: str, drop_uris: list[str]) -> tuple[dict[str, str], pa.Table | None]:
        """This unit's records in the global drop tables (first one wins: supersede, exact, near)."""
        dropped: dict[str, str] = {}
        parts: list[pa.Table] = []
        for uri in drop_uris:
            if not fsio.exists(uri):
                continue
            t = dedup_exact.read_parquet(uri, filters=[("unit_id", "=", unit_id)])
            if not t.num_rows:
                continue
            t = t.select([f.name for f in DROP_SCHEMA]).cast(DROP_SCHEMA)
            fresh = [i for i, d in enumerate(t.column("doc_id").to_pylist()) if d not in dropped]
            t = t.take(pa.array(fresh, pa.int64()))
            for d, b in zip(t.column("doc_id").to_pylist(), t.column("bucket").to_pylist()):
                dropped[d] = b
            parts.append(t)
        return dropped, (pa.concat_tables(parts).sort_by([("doc_id", "ascending")]) if parts else None)

    def tokenize_unit(self, source: str, unit_id: str, drop_uris: list[str]) -> dict:
        """Surviving documents of one unit -> ``[CLS] .. [SEP]`` windows in ``_staging/tokens/<unit>.arrow``."""
        t0 = time.perf_counter()
        lay = self.layout
        tok = self.tokenizer
        L = self.manifest.max_seq_len
        dropped, drop_table = self._unit_drops(unit_id, drop_uris)
        stats: Counter = Counter()
        reasons: dict[str, Counter] = defaultdict(Counter)
        seconds: Counter = Counter()
        id_type = pa.uint16() if tok.vocab_size <= 65536 else pa.uint32()
        np_type = np.uint16 if id_type == pa.uint16() else np.uint32
        schema = pa.schema([("doc_id", pa.string()), ("ids", pa.list_(id_type))])
        out_uri = lay.tokens(unit_id)
        sink = pa.BufferOutputStream()
        writer = ipc.new_file(sink, schema, options=ipc.IpcWriteOptions(compression="zstd"))
        docs_uri = lay.docs(source, unit_id)
        if fsio.exists(docs_uri):  # absent when the unit's reader failed as a whole
            fs, path = fsio.fs_and_path(docs_uri)
            with fs.open(path, "rb") as f:
                reader = ipc.open_file(f)
                for bi in range(reader.num_record_batches):
                    batch = reader.get_batch(bi)
                    ids = batch.column("doc_id").to_pylist()
                    texts = batch.column("text").to_pylist()
                    keep = [i for i, d in enumerate(ids) if d not in dropped]
                    if not keep:
                        continue
                    ts = time.perf_counter()
                    encs = tok.tokenizer.encode_batch_fast([texts[i] for i in keep], add_special_tokens=False)
                    seconds["tokenize"] += time.perf_counter() - ts
                    ts = time.perf_counter()
                    win_ids: list[str] = []
                    wins: list[np.ndarray] = []
                    for i, enc in zip(keep, encs):
                        ws = windows(np.asarray(enc.ids, dtype=np.uint32), L, tok.cls_id, tok.sep_id)
                        stats["split_documents"] += len(ws) > 1
                        stats["chars"] += len(texts[i])
                        win_ids += [ids[i]] * len(ws)
                        wins += ws
                    stats["written"] += len(keep)
                    stats["segments"] += len(wins)
                    lens = np.fromiter((len(w) for w in wins), dtype=np.int64, count=len(wins))
                    stats["tokens"] += int(lens.sum())
                    offsets = np.zeros(len(wins) + 1, dtype=np.int32)
                    np.cumsum(lens, out=offsets[1:])
                    flat = pa.array(np.concatenate(wins).astype(np_type), id_type)
                    writer.write_batch(pa.record_batch([pa.array(win_ids, pa.string()), pa.ListArray.from_arrays(pa.array(offsets), flat)], schema=schema))
                    seconds["window"] += time.perf_counter() - ts
        writer.close()
        fsio.write_bytes_atomic(out_uri, sink.getvalue().to_pybytes())
        qfile = None
        if drop_table is not None:
            qfile = lay.quarantine(source, f"dedup-{unit_id}")
            dedup_exact.write_parquet(qfile, drop_table)
            for b, r in zip(drop_table.column("bucket").to_pylist(), drop_table.column("reason").to_pylist()):
                stats[b] += 1
                reasons[b][reason_key(r)] += 1
        seconds["total"] = time.perf_counter() - t0
        marker = {
            "unit_id": unit_id,
            "source": source,
            "counts": {k: int(v) for k, v in stats.items()},
            "reasons": {b: dict(c) for b, c in reasons.items()},
            "quarantine_file": lay.rel(qfile) if qfile else None,
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
        }
        fsio.write_json_atomic(lay.tokens_marker(unit_id), marker)
        return marker

    def pack_group(self, source: str, group: int, unit_ids: list[str]) -> dict:
        """Best-fit pack the windows of a run of units into temporary shards of ~``shards.target_tokens``."""
        t0 = time.perf_counter()
        lay = self.layout
        m = self.manifest
        tok = self.tokenizer
        schema = shard_schema(tok.vocab_size, shard_metadata(tok.sha256, m.max_seq_len, tok.special_ids, self.build_id))
        packer = BestFitPacker(m.max_seq_len, m.resources.pack_buffer)
        shard_rows: list[Row] = []
        shard_tokens = 0
        temp_shards: list[dict] = []
        seconds: Counter = Counter()

        def write_current() -> None:
            nonlocal shard_rows, shard_tokens
            if not shard_rows:
                return
            ts = time.perf_counter()
            info = write_shard(lay.temp_shard(source, group, len(temp_shards)), shard_rows, source, schema, m.shards.batch_rows)
            temp_shards.append(info.__dict__)
            seconds["write"] += time.perf_counter() - ts
            shard_rows, shard_tokens = [], 0

        def emit(rows) -> None:
            nonlocal shard_tokens
            for r in rows:
                ids = np.concatenate(r.seqs)
                shard_rows.append(Row(ids, [len(x) for x in r.seqs], list(r.ids)))
                shard_tokens += len(ids)
                if shard_tokens >= m.shards.target_tokens:
                    write_current()

        for uid in unit_ids:
            fs, path = fsio.fs_and_path(lay.tokens(uid))
            with fs.open(path, "rb") as f:
                reader = ipc.open_file(f)
                for bi in range(reader.num_record_batches):
                    batch = reader.get_batch(bi)
                    ts = time.perf_counter()
                    col = batch.column("ids")
                    flat = col.values.to_numpy()
                    offs = col.offsets.to_numpy()
                    for j, did in enumerate(batch.column("doc_id").to_pylist()):
                        emit(packer.add(flat[offs[j]:offs[j + 1]], did))
                    seconds["pack"] += time.perf_counter() - ts
        emit(packer.flush())
        write_current()
        seconds["total"] = time.perf_counter() - t0
        return {
            "source": source,
            "group": group,
            "units": list(unit_ids),
            "temp_shards": temp_shards,
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
        }

"""The pack step: the token windows of a run of units -> best-fit packed rows -> temporary shards.

Files in: ``_staging/tokens/<unit>.arrow`` of the group's units, in order.  Files out:
``_staging/pack/<source>/<group>-<k>.arrow``, shards of about ``shards.target_tokens`` tokens,
returned as a :class:`~engine.core.markers.PackDone`; the driver renames them into place in
commit order (:mod:`engine.run.commit`).
"""
from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pyarrow.ipc as ipc

from engine.core import fsio
from engine.core.markers import PackDone, TempShard
from engine.output.shards import Row, shard_metadata, shard_schema, write_shard
from kernels.packing import BestFitPacker


class ShardCutter:
    """Packed rows -> temporary shards of about ``target_tokens`` tokens each."""

    def __init__(self, worker, source: str, group: int, build_id: str) -> None:
        m, tok = worker.manifest, worker.tokenizer
        self.layout, self.source, self.group = worker.layout, source, group
        self.schema = shard_schema(tok.max_id, shard_metadata(tok.sha256, m.max_seq_len, tok.special_ids, build_id))
        self.target, self.batch_rows = m.shards.target_tokens, m.shards.batch_rows
        self.rows: list[Row] = []
        self.tokens = 0
        self.shards: list[TempShard] = []
        self.seconds: Counter = Counter()

    def add(self, packed) -> None:
        for r in packed:
            ids = np.concatenate(r.seqs)
            self.rows.append(Row(ids, [len(x) for x in r.seqs], list(r.ids)))
            self.tokens += len(ids)
            if self.tokens >= self.target:
                self.cut()

    def cut(self) -> None:
        if not self.rows:
            return
        t0 = time.perf_counter()
        uri = self.layout.temp_shard(self.source, self.group, len(self.shards))
        info = write_shard(uri, self.rows, self.source, self.schema, self.batch_rows)
        self.shards.append(TempShard(info.path, info.rows, info.tokens, info.segments, info.bytes, info.sha256))
        self.seconds["write"] += time.perf_counter() - t0
        self.rows, self.tokens = [], 0


def pack_group(worker, source: str, group: int, unit_ids: list[str], build_id: str) -> PackDone:
    """Best-fit pack the windows of a run of units (``worker``: a :class:`engine.run.worker.Worker`)."""
    t0 = time.perf_counter()
    m = worker.manifest
    packer = BestFitPacker(m.max_seq_len, m.resources.pack_buffer)
    cutter = ShardCutter(worker, source, group, build_id)
    for uid in unit_ids:
        fs, path = fsio.fs_and_path(worker.layout.tokens(uid))
        with fs.open(path, "rb") as f:
            reader = ipc.open_file(f)
            for bi in range(reader.num_record_batches):
                batch = reader.get_batch(bi)
                ts = time.perf_counter()
                col = batch.column("ids")
                flat = col.values.to_numpy()
                offs = col.offsets.to_numpy()
                for j, did in enumerate(batch.column("doc_id").to_pylist()):
                    cutter.add(packer.add(flat[offs[j]:offs[j + 1]], did))
                cutter.seconds["pack"] += time.perf_counter() - ts
    cutter.add(packer.flush())
    cutter.cut()
    seconds = cutter.seconds | {"total": time.perf_counter() - t0}
    return PackDone(source, group, list(unit_ids), cutter.shards, {k: round(v, 4) for k, v in seconds.items()})

"""Near dedup, map side (where documents are read): MinHash signatures -> LSH band keys + sketches.

For each batch of a unit's surviving documents :class:`NearDedupMapper` makes a small table
(no text): ``doc_id``, ``ok`` (the document has at least one word), ``bands`` (``b`` 64-bit LSH
band keys) and ``sketch`` (the low 8 bits of each of the ``num_perm`` MinHash values, 1 byte
each, for verification).  For a ``scope: source`` source the band keys are salted with the
source name, so its documents can only collide with documents of the same source.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from kernels import lsh
from kernels.minhash import MinHasher, bbit_sketch


def near_config(manifest):
    from engine.core.manifest import NearDedupConfig

    return manifest.dedup.near if manifest.dedup.near is not None else NearDedupConfig()


def source_salt(name: str) -> int:
    """Band-key salt of a ``scope: source`` source (0 for ``scope: global``)."""
    return xxhash.xxh64_intdigest(b"near-scope\x1f" + name.encode())


def map_schema(bands: int, num_perm: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("ok", pa.bool_(), nullable=False),
            pa.field("bands", pa.list_(pa.uint64(), bands), nullable=False),
            pa.field("sketch", pa.binary(num_perm), nullable=False),
        ]
    )


class NearDedupMapper:
    """Phase 1: MinHash signatures -> LSH band keys + 8-bit sketches, one small table per batch."""

    def __init__(self, manifest) -> None:
        self.cfg = near_config(manifest)
        self.bands, self.rows = lsh.choose(self.cfg.threshold, self.cfg.num_perm, self.cfg.bands, self.cfg.rows, self.cfg.verify)
        self.hasher = MinHasher(self.cfg.num_perm, self.cfg.ngram, self.cfg.seed)
        self.schema = map_schema(self.bands, self.cfg.num_perm)

    def map(self, table: pa.Table, ctx) -> pa.Table:
        texts = table.column("text").to_pylist()
        n = len(texts)
        sig = self.hasher.signatures(texts)
        ok = ~np.all(sig == np.uint32(0xFFFFFFFF), axis=1) if n else np.zeros(0, bool)
        scope = getattr(ctx.config, "scope", "global")
        salt = source_salt(ctx.name) if scope == "source" else 0
        keys = lsh.band_keys(sig, self.bands, self.rows, salt)
        sk = bbit_sketch(sig)
        K = self.cfg.num_perm
        return pa.table(
            [
                table.column("doc_id").cast(pa.string()),
                pa.array(ok, pa.bool_()),
                pa.FixedSizeListArray.from_arrays(pa.array(keys.reshape(-1), pa.uint64()), self.bands),
                pa.FixedSizeBinaryArray.from_buffers(pa.binary(K), n, [None, pa.py_buffer(sk.tobytes())]),
            ],
            schema=self.schema,
        )


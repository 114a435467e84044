"""Global exact dedup and "latest version wins", as a hash shuffle through files.

Map side (where documents are read, per work unit): :func:`keys_table` turns the unit's
surviving documents into a small table (no text) of 128-bit xxh3 hashes of the
normalized text, the source priority, the optional version key/rank, and two partition
numbers; the read step writes it to ``_staging/keys/<unit>.arrow``.  Tombstones
(e.g. PubMed ``DeleteCitation``) ride in the same table.

Reduce side (one task per partition, memory ~ corpus rows / partitions):

1. :func:`reduce_supersede` (only when some source emits version keys): per key, the
   document with the highest rank survives unless a tombstone of equal or higher rank
   deletes it; the others are ``filtered`` ("superseded by ..." / "deleted upstream").
   Its drop files carry the text-hash partition so step 2 reads only its share.
2. :func:`reduce_exact`: among documents not removed by step 1, one keeper per hash,
   chosen deterministically by source ``priority`` (higher first), then ``rank``
   (newer first), then ``doc_id``; the others are ``exact_dup`` with ``dup_of``.

Both write :data:`engine.core.records.DROP_SCHEMA` parquet files that the pack phase applies.
"""
from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from engine.core import fsio
from engine.core.records import DROP_SCHEMA

KEYS_SCHEMA = pa.schema(
    [
        ("unit_id", pa.string()),
        ("source", pa.string()),
        ("doc_id", pa.string()),
        ("h1", pa.uint64()),
        ("h2", pa.uint64()),
        ("priority", pa.int64()),
        ("key", pa.string()),
        ("rank", pa.int64()),
        ("tomb", pa.bool_()),
        ("reason", pa.string()),
        ("hpart", pa.uint32()),
        ("kpart", pa.uint32()),
    ]
)


def hash_texts(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two uint64 halves of xxh3-128 of each UTF-8 text."""
    h1 = np.empty(len(texts), dtype=np.uint64)
    h2 = np.empty(len(texts), dtype=np.uint64)
    for i, t in enumerate(texts):
        d = xxhash.xxh3_128_intdigest(t.encode("utf-8"))
        h1[i] = d >> 64
        h2[i] = d & 0xFFFFFFFFFFFFFFFF
    return h1, h2


def _kpart(keys: list[str | None], parts: int) -> np.ndarray:
    return np.array([xxhash.xxh64_intdigest(k.encode()) % parts if k is not None else 0 for k in keys], dtype=np.uint32)


def keys_table(
    table: pa.Table, source: str, priority: int, unit_id: str, parts: int, tombstones: list | None = None
) -> pa.Table:
    """The map-side key rows for a unit's surviving documents (+ its tombstones)."""
    texts = table.column("text").to_pylist()
    h1, h2 = hash_texts(texts)
    n = len(texts)
    keys = table.column("key").to_pylist()
    ranks = [r or 0 for r in table.column("rank").to_pylist()]
    tombs = tombstones or []
    all_keys = keys + [t.key for t in tombs]
    cols = {
        "unit_id": [unit_id] * (n + len(tombs)),
        "source": [source] * (n + len(tombs)),
        "doc_id": table.column("doc_id").to_pylist() + [None] * len(tombs),
        "h1": np.concatenate([h1, np.zeros(len(tombs), np.uint64)]),
        "h2": np.concatenate([h2, np.zeros(len(tombs), np.uint64)]),
        "priority": [priority] * (n + len(tombs)),
        "key": all_keys,
        "rank": ranks + [t.rank for t in tombs],
        "tomb": [False] * n + [True] * len(tombs),
        "reason": [None] * n + [t.reason for t in tombs],
        "hpart": np.concatenate([(h1 % np.uint64(parts)).astype(np.uint32), np.zeros(len(tombs), np.uint32)]),
        "kpart": _kpart(all_keys, parts),
    }
    out = pa.table(cols, schema=KEYS_SCHEMA)
    return out.sort_by([("hpart", "ascending")])


def _read_many(uris: list[str], filters, schema: pa.Schema) -> pl.DataFrame:
    tables = [fsio.read_parquet(u, filters=filters) for u in uris]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pl.from_arrow(schema.empty_table())
    return pl.from_arrow(pa.concat_tables(tables))


def _drops_frame(df: pl.DataFrame) -> pa.Table:
    cols = {}
    for f in DROP_SCHEMA:
        cols[f.name] = df[f.name].to_arrow().cast(f.type) if f.name in df.columns else pa.nulls(df.height, f.type)
    return pa.table(cols, schema=DROP_SCHEMA)


def reduce_supersede(part: int, key_uris: list[str], out_uri: str, parts: int) -> dict:
    """Latest version wins per key for partition ``part``; writes drops (+ ``hpart``) to ``out_uri``."""
    df = _read_many(key_uris, [("kpart", "=", part), ("key", "!=", "")], KEYS_SCHEMA)
    df = df.filter(pl.col("key").is_not_null())
    docs = df.filter(~pl.col("tomb"))
    tombs = df.filter(pl.col("tomb")).group_by("key").agg(
        pl.col("rank").max().alias("trank"), pl.col("reason").sort_by("rank").last().alias("treason")
    )
    docs = docs.join(tombs, on="key", how="left")
    deleted = docs.filter(pl.col("trank").is_not_null() & (pl.col("rank") <= pl.col("trank")))
    alive = docs.filter(pl.col("trank").is_null() | (pl.col("rank") > pl.col("trank")))
    alive = alive.sort(["key", "rank", "doc_id"], descending=[False, True, False])
    alive = alive.with_columns(pl.col("doc_id").first().over("key").alias("keeper"))
    superseded = alive.filter(pl.col("doc_id") != pl.col("keeper"))
    drops = pl.concat(
        [
            deleted.select(
                "unit_id", "source", "doc_id", "hpart",
                pl.lit("filtered").alias("bucket"), pl.lit("supersede").alias("stage"),
                pl.format("deleted upstream: {}", pl.col("treason")).alias("reason"),
                pl.lit(None, pl.String).alias("dup_of"),
            ),
            superseded.select(
                "unit_id", "source", "doc_id", "hpart",
                pl.lit("filtered").alias("bucket"), pl.lit("supersede").alias("stage"),
                pl.lit("superseded by a newer version").alias("reason"),
                pl.col("keeper").alias("dup_of"),
            ),
        ]
    ).sort(["hpart", "doc_id"])
    t = _drops_frame(drops)
    t = t.append_column("hpart", drops["hpart"].to_arrow().cast(pa.uint32()))
    fsio.write_parquet(out_uri, t)
    return {"deleted": deleted.height, "superseded": superseded.height}


def reduce_exact(part: int, key_uris: list[str], supersede_uris: list[str], out_uri: str) -> dict:
    """One keeper per text hash in partition ``part``; writes ``exact_dup`` drops to ``out_uri``."""
    df = _read_many(key_uris, [("hpart", "=", part), ("tomb", "=", False)], KEYS_SCHEMA)
    if supersede_uris:
        gone = [fsio.read_parquet(u, filters=[("hpart", "=", part)], columns=["doc_id"]) for u in supersede_uris]
        gone_ids = pl.from_arrow(pa.concat_tables(gone)) if gone else None
        if gone_ids is not None and gone_ids.height:
            df = df.join(gone_ids, on="doc_id", how="anti")
    df = df.sort(["h1", "h2", "priority", "rank", "doc_id"], descending=[False, False, True, True, False])
    df = df.with_columns(pl.col("doc_id").first().over(["h1", "h2"]).alias("keeper"))
    dups = df.filter(pl.col("doc_id") != pl.col("keeper")).select(
        "unit_id", "source", "doc_id",
        pl.lit("exact_dup").alias("bucket"), pl.lit("exact_dedup").alias("stage"),
        pl.lit("exact duplicate of the normalized text").alias("reason"),
        pl.col("keeper").alias("dup_of"),
    ).sort("doc_id")
    fsio.write_parquet(out_uri, _drops_frame(dups))
    return {"docs": df.height, "dropped": dups.height}

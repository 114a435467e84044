"""Packed-row shards: Arrow IPC files, zstd-compressed, one packed row per record.

Columns (docs/ARCHITECTURE.md, "The design"):

* ``input_ids``  list<uint16> (list<uint32> when the tokenizer's largest id is above 65,535)
* ``doc_lens``   list<int32>: segment lengths, summing to ``len(input_ids)``
* ``doc_ids``    list<string>: the source document of each segment
* ``source``     dictionary<int32, string>

Schema metadata: ``format_version``, ``tokenizer_sha256``, ``max_seq_len``,
``special_ids`` (JSON), ``build_id``.  Writing is deterministic: the same rows
give the same bytes.  Reading is :mod:`engine.output.reader`'s.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from engine.core import fsio

FORMAT_VERSION = 1


def token_type(max_id: int) -> pa.DataType:
    """uint16 only when every id fits (the largest id, not the vocabulary's size, decides)."""
    return pa.uint16() if max_id <= 0xFFFF else pa.uint32()


def shard_schema(max_id: int, meta: dict[str, str] | None = None) -> pa.Schema:
    schema = pa.schema(
        [
            pa.field("input_ids", pa.list_(token_type(max_id)), nullable=False),
            pa.field("doc_lens", pa.list_(pa.int32()), nullable=False),
            pa.field("doc_ids", pa.list_(pa.string()), nullable=False),
            pa.field("source", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        ]
    )
    return schema.with_metadata({k: str(v) for k, v in (meta or {}).items()})


def shard_metadata(tokenizer_sha256: str, max_seq_len: int, special_ids: dict[str, int], build_id: str) -> dict[str, str]:
    return {
        "format_version": str(FORMAT_VERSION),
        "tokenizer_sha256": tokenizer_sha256,
        "max_seq_len": str(max_seq_len),
        "special_ids": json.dumps(special_ids, sort_keys=True),
        "build_id": build_id,
    }


@dataclass
class Row:
    ids: np.ndarray  # 1-D token ids of the packed row
    doc_lens: list[int]
    doc_ids: list[str]


def rows_to_batch(rows: Sequence[Row], source: str, schema: pa.Schema) -> pa.RecordBatch:
    """Build one record batch from packed rows without per-token Python work."""
    tok = schema.field("input_ids").type.value_type
    np_tok = np.uint16 if tok == pa.uint16() else np.uint32
    lens = np.fromiter((len(r.ids) for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    flat = np.concatenate([r.ids for r in rows]).astype(np_tok, copy=False) if rows else np.zeros(0, np_tok)
    input_ids = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=tok))
    dl_off = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(r.doc_lens) for r in rows], out=dl_off[1:])
    doc_lens = pa.ListArray.from_arrays(
        pa.array(dl_off), pa.array([x for r in rows for x in r.doc_lens], type=pa.int32())
    )
    doc_ids = pa.ListArray.from_arrays(pa.array(dl_off), pa.array([x for r in rows for x in r.doc_ids], type=pa.string()))
    src = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(len(rows), dtype=np.int32)), pa.array([source], type=pa.string())
    )
    return pa.RecordBatch.from_arrays([input_ids, doc_lens, doc_ids, src], schema=schema)


@dataclass
class ShardInfo:
    path: str  # URI where the shard was written
    source: str
    rows: int
    tokens: int
    segments: int
    bytes: int
    sha256: str


def write_shard(uri: str, rows: Sequence[Row], source: str, schema: pa.Schema, batch_rows: int) -> ShardInfo:
    """Serialize rows into an Arrow IPC file in memory, then write it atomically."""
    sink = pa.BufferOutputStream()
    opts = ipc.IpcWriteOptions(compression="zstd")
    with ipc.new_file(sink, schema, options=opts) as w:
        for i in range(0, len(rows), batch_rows):
            w.write_batch(rows_to_batch(rows[i : i + batch_rows], source, schema))
    data = sink.getvalue().to_pybytes()
    fsio.write_bytes_atomic(uri, data)
    return ShardInfo(
        path=uri,
        source=source,
        rows=len(rows),
        tokens=int(sum(len(r.ids) for r in rows)),
        segments=int(sum(len(r.doc_lens) for r in rows)),
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )

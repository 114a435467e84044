"""A finished build as input for other tools: MosaicML streaming (MDS), Hugging Face datasets, Ray Data.

Every export reads the shards listed in build.json through :mod:`engine.output.reader` (sha256
checked, remote shards cached locally) one record batch at a time.

* :func:`export_mds` writes one MDS stream per source (``DIR/<source>/index.json`` + shards) with the
  columns ``input_ids`` (``ndarray`` of the shard's token dtype), ``doc_lens`` (``ndarray:int32``, the
  document lengths inside the packed row) and ``doc_ids`` (``json``), plus ``DIR/export.json`` with
  the per-source weights; :func:`mds_streams` turns that into ``streaming.Stream`` objects whose
  ``repeat`` is the source's weight, so the mix of the build carries over.
* :func:`hf_datasets` gives a ``datasets.DatasetDict`` with one ``Dataset`` per source.
* :func:`arrow_dataset` gives a ``pyarrow.dataset.Dataset`` over all shards with ``source`` read as
  a plain string (each shard holds its own one-entry dictionary, which a multi-file group-by
  cannot unify).
* :func:`ray_dataset` gives a ``ray.data.Dataset`` whose blocks are read by Ray tasks, never by
  the driver.

``mosaicml-streaming``, ``datasets`` and ``ray`` are imported only by the function that needs them.
"""
from __future__ import annotations

import argparse
import sys
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.ipc as ipc

from engine.core import fsio
from engine.output.reader import ShardEntry, open_shard, shard_entries, verified_local_path

EXPORT_JSON = "export.json"


class ExportError(ValueError):
    """The output cannot be exported (no build.json, build not complete, unknown source)."""


def load_build(out: str) -> dict:
    uri = fsio.join(out, "build.json")
    if not fsio.exists(uri):
        raise ExportError(f"{uri} not found: not a build output")
    build = fsio.read_json(uri)
    if not build.get("complete"):
        raise ExportError(f"{out}: build.json says the build is not complete; finish it with --resume first")
    return build


def entries(out: str, build: dict) -> list[ShardEntry]:
    return shard_entries(out, build.get("shards", []))


def sources_of(build: dict, only: Iterable[str] | None = None) -> list[str]:
    """Source names in manifest order (sources without shards included), checked against ``only``."""
    names = [s["name"] for s in (build.get("manifest") or {}).get("sources", [])] or sorted(build.get("sources", {}))
    if only is None:
        return names
    only = list(only)
    unknown = [s for s in only if s not in names]
    if unknown:
        raise ExportError(f"unknown source(s) {', '.join(unknown)}; the build has {', '.join(names)}")
    return [s for s in names if s in only]


def weights_of(build: dict) -> dict[str, float]:
    w = {}
    for s in (build.get("manifest") or {}).get("sources", []):
        w[s["name"]] = float(s.get("weight") if s.get("weight") is not None else 1.0)
    return w


def plain_source(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``source`` decoded from its per-shard dictionary to a plain string column."""
    i = batch.schema.get_field_index("source")
    if i < 0 or not pa.types.is_dictionary(batch.schema.field(i).type):
        return batch
    col = batch.column(i).cast(pa.string())
    return batch.set_column(i, pa.field("source", pa.string(), nullable=False), col)


def iter_batches(entry: ShardEntry, shard_cache: str | None = None, tokenizer_sha256: str | None = None) -> Iterator[pa.RecordBatch]:
    """The record batches of one shard after its sha256 check (and, given ``tokenizer_sha256``, the
    check that the shard was tokenized by it), memory-mapped when local."""
    yield from open_shard(entry, shard_cache, expect_tokenizer=tokenizer_sha256).batches()


# --------------------------------------------------------------------------- MDS
def _mds_columns(build: dict) -> dict[str, str]:
    dtype = "uint16" if int(build["tokenizer"]["vocab_size"]) <= 65536 else "uint32"
    return {"input_ids": f"ndarray:{dtype}", "doc_lens": "ndarray:int32", "doc_ids": "json"}


def export_mds(out: str, dest: str, sources: Iterable[str] | None = None, compression: str | None = None,
               size_limit: int = 1 << 27, shard_cache: str | None = None) -> dict:
    """Write one MDS stream per source under ``dest`` and ``dest/export.json``; returns that summary."""
    from streaming import MDSWriter

    build = load_build(out)
    names = sources_of(build, sources)
    weights = weights_of(build)
    columns = _mds_columns(build)
    np_dtype = columns["input_ids"].split(":")[1]
    by_source: dict[str, list[ShardEntry]] = {}
    for e in entries(out, build):
        by_source.setdefault(e.source, []).append(e)
    streams = []
    for name in names:
        rows = tokens = 0
        local = fsio.join(dest, name)
        with MDSWriter(out=local, columns=columns, compression=compression, size_limit=size_limit) as w:
            for entry in by_source.get(name, []):
                for batch in iter_batches(entry, shard_cache, build["tokenizer"]["sha256"]):
                    ids = batch.column("input_ids")
                    dl = batch.column("doc_lens")
                    flat_ids = ids.values.to_numpy(zero_copy_only=False).astype(np_dtype, copy=False)
                    flat_dl = dl.values.to_numpy(zero_copy_only=False)
                    io, do = ids.offsets.to_numpy(), dl.offsets.to_numpy()
                    doc_ids = batch.column("doc_ids").to_pylist()
                    for j in range(batch.num_rows):
                        w.write({"input_ids": flat_ids[io[j] : io[j + 1]], "doc_lens": flat_dl[do[j] : do[j + 1]],
                                 "doc_ids": doc_ids[j]})
                    rows += batch.num_rows
                    tokens += int(io[-1] - io[0])
        streams.append({"source": name, "local": name, "repeat": weights.get(name, 1.0), "rows": rows, "tokens": tokens})
    summary = {
        "format": "mds",
        "build_id": build["build_id"],
        "max_seq_len": build["max_seq_len"],
        "tokenizer": build["tokenizer"],
        "columns": columns,
        "streams": streams,
    }
    fsio.write_json_atomic(fsio.join(dest, EXPORT_JSON), summary)
    return summary


def mds_streams(dest: str, weights: dict[str, float] | None = None) -> list:
    """``streaming.Stream`` per exported source, ``repeat`` = the build's weight (or ``weights[source]``);
    sources of weight 0 or without rows are left out."""
    from streaming import Stream

    summary = fsio.read_json(fsio.join(dest, EXPORT_JSON))
    out = []
    for s in summary["streams"]:
        w = float((weights or {}).get(s["source"], s["repeat"]))
        if w > 0 and s["rows"]:
            out.append(Stream(local=fsio.join(dest, s["local"]), repeat=w))
    return out


# --------------------------------------------------------------------------- Arrow / HF / Ray
def arrow_dataset(out: str, sources: Iterable[str] | None = None, shard_cache: str | None = None):
    """``pyarrow.dataset.Dataset`` over the (verified) shards, ``source`` as a plain string."""
    import pyarrow.dataset as pads

    build = load_build(out)
    names = set(sources_of(build, sources))
    files = [verified_local_path(e, shard_cache) for e in entries(out, build) if e.source in names]
    if not files:
        raise ExportError(f"{out}: no shards for {', '.join(sorted(names))}")
    schema = ipc.open_file(pa.memory_map(files[0], "r")).schema
    schema = schema.set(schema.get_field_index("source"), pa.field("source", pa.string(), nullable=False))
    return pads.dataset(files, schema=schema, format="ipc")


def hf_datasets(out: str, sources: Iterable[str] | None = None, shard_cache: str | None = None, **load_kwargs):
    """``datasets.DatasetDict`` with one ``Dataset`` per source that has shards (memory-mapped Arrow
    in the datasets cache; ``source`` a plain string column).  ``load_kwargs`` go to
    ``datasets.load_dataset`` (e.g. ``cache_dir``, ``num_proc``); remote shards are copied to ``shard_cache`` while their
    checksum is checked."""
    import datasets

    build = load_build(out)
    names = sources_of(build, sources)
    files: dict[str, list[str]] = {}
    for e in entries(out, build):
        if e.source in names:
            files.setdefault(e.source, []).append(verified_local_path(e, shard_cache))
    parts = {}
    for name in names:
        if name in files:
            ds = datasets.load_dataset("arrow", data_files={name: files[name]}, split=name, **load_kwargs)
            if ds.features["source"].dtype != "string":
                ds = ds.cast_column("source", datasets.Value("string"))
            parts[name] = ds
    return datasets.DatasetDict(parts)


def _read_shard_rows(batch: dict) -> Iterator[pa.Table]:
    """Ray Data task: the listed shards' record batches (``source`` as a plain string)."""
    fields = ShardEntry.__dataclass_fields__
    for i in range(len(batch["uri"])):
        entry = ShardEntry(**{k: (batch[k][i].item() if hasattr(batch[k][i], "item") else batch[k][i]) for k in fields})
        for rb in iter_batches(entry):
            yield pa.Table.from_batches([plain_source(rb)])


def ray_dataset(out: str, sources: Iterable[str] | None = None):
    """``ray.data.Dataset`` of packed rows: the driver only lists shards; Ray tasks verify and read them."""
    import ray

    build = load_build(out)
    names = set(sources_of(build, sources))
    items = [e.__dict__ for e in entries(out, build) if e.source in names]
    if not items:
        raise ExportError(f"{out}: no shards for {', '.join(sorted(names))}")
    listing = ray.data.from_items(items, override_num_blocks=len(items))
    return listing.map_batches(_read_shard_rows, batch_size=1, batch_format="numpy")


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m engine.export",
        description="Export a finished build for other tools. mds: one MosaicML streaming (MDS) stream per "
        "source (input_ids, doc_lens, doc_ids) and export.json with each source's weight as the stream's repeat.",
    )
    ap.add_argument("out", help="build output holding build.json (local path or fsspec URI)")
    ap.add_argument("--format", required=True, choices=["mds"], help="export format (required): mds = MosaicML streaming")
    ap.add_argument("--out", dest="dest", required=True, metavar="DIR", help="folder (or fsspec URI) to write the export to (required)")
    ap.add_argument("--sources", metavar="A,B", help="comma-separated sources to export (default: all)")
    ap.add_argument("--compression", default=None, help="MDS shard compression, e.g. zstd (default: none)")
    ap.add_argument("--size-limit", type=int, default=1 << 27, metavar="BYTES", help="MDS shard size limit in bytes (default 128 MiB)")
    a = ap.parse_args(argv)
    only = [s.strip() for s in a.sources.split(",") if s.strip()] if a.sources else None
    try:
        load_build(a.out)
        import streaming  # noqa: F401
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ImportError:
        print("error: the mds export needs mosaicml-streaming: pip install -e '.[export]'", file=sys.stderr)
        return 2
    try:
        summary = export_mds(a.out, a.dest, only, a.compression, a.size_limit)
    except (ExportError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in summary["streams"]:
        print(f"{s['source']}: {s['rows']:,} rows, {s['tokens']:,} tokens, repeat {s['repeat']:g} -> {fsio.join(a.dest, s['local'])}")
    print(f"wrote {fsio.join(a.dest, EXPORT_JSON)}")
    return 0

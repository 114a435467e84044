"""Exports of a build for other tools: MDS read back by mosaicml-streaming, HF datasets per source,
a pyarrow dataset with a readable ``source`` across files, Ray Data read by tasks."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.ipc as ipc
import pytest

from engine.output import export, shards


def _rows(rng, n, max_len, vocab, prefix):
    out = []
    for i in range(n):
        lens = rng.integers(3, max_len // 3, size=int(rng.integers(1, 4))).tolist()
        ids = rng.integers(5, vocab, size=sum(lens)).astype(np.uint32)
        out.append(shards.Row(ids, lens, [f"{prefix}:{i}:{k}" for k in range(len(lens))]))
    return out


def make_build(root, vocab=4000, layout=(("notes", 2.0, (7, 5)), ("pubmed", 0.5, (6,)), ("empty", 1.0, ())),
               complete=True):
    """A build written by the engine's shard writer: per source (name, weight, rows per shard)."""
    rng = np.random.default_rng(7)
    schema = shards.shard_schema(vocab, shards.shard_metadata("t" * 64, 64, {"cls": 1, "sep": 2}, "b1"))
    listed, man = [], []
    for name, weight, sizes in layout:
        man.append({"name": name, "weight": weight})
        for k, n in enumerate(sizes):
            rel = f"shards/{name}/{name}-{k:05d}.arrow"
            os.makedirs(root / "shards" / name, exist_ok=True)
            info = shards.write_shard(str(root / rel), _rows(rng, n, 64, vocab, f"{name}{k}"), name, schema, batch_rows=3)
            listed.append({"path": rel, "source": name, "rows": info.rows, "tokens": info.tokens, "sha256": info.sha256})
    doc = {"build_id": "b1", "complete": complete, "max_seq_len": 64,
           "tokenizer": {"name": "t", "sha256": "t" * 64, "vocab_size": vocab, "special_ids": {"cls": 1, "sep": 2}},
           "manifest": {"name": "t", "sources": man}, "sources": {n: {} for n, _, _ in layout}, "shards": listed}
    (root / "build.json").write_text(json.dumps(doc))
    return root


def arrow_rows(root, source):
    """(input_ids, doc_lens, doc_ids) of every row of a source, read straight from its Arrow files."""
    doc = json.loads((root / "build.json").read_text())
    out = []
    for s in doc["shards"]:
        if s["source"] == source:
            t = ipc.open_file(pa.memory_map(str(root / s["path"]))).read_all()
            out += list(zip(t["input_ids"].to_pylist(), t["doc_lens"].to_pylist(), t["doc_ids"].to_pylist()))
    return out


def test_arrow_dataset_groups_by_source_across_files(tmp_path):
    out = make_build(tmp_path / "out")
    files = [str(p) for p in sorted((out / "shards").rglob("*.arrow"))]
    with pytest.raises(pa.ArrowNotImplementedError, match="Unifying differing dictionaries"):  # a plain read
        pads.dataset(files, format="ipc").to_table().group_by("source").aggregate([("source", "count")])
    t = export.arrow_dataset(str(out)).to_table()
    assert t.schema.field("source").type == pa.string()
    counts = t.group_by("source").aggregate([("source", "count")])
    assert dict(zip(counts["source"].to_pylist(), counts["source_count"].to_pylist())) == {"notes": 12, "pubmed": 6}


def test_arrow_dataset_checks_shard_checksums(tmp_path):
    out = make_build(tmp_path / "out")
    p = next((out / "shards" / "pubmed").glob("*.arrow"))
    b = bytearray(p.read_bytes())
    b[-40] ^= 0xFF
    p.write_bytes(bytes(b))
    with pytest.raises(ValueError, match="checksum"):
        export.arrow_dataset(str(out))


def test_incomplete_build_and_unknown_source_refused(tmp_path):
    with pytest.raises(export.ExportError, match="not complete"):
        export.load_build(str(make_build(tmp_path / "a", complete=False)))
    out = make_build(tmp_path / "b")
    with pytest.raises(export.ExportError, match="unknown source.*nots.*notes, pubmed, empty"):
        export.arrow_dataset(str(out), sources=["nots"])


def test_hf_datasets_one_per_source(tmp_path):
    datasets = pytest.importorskip("datasets")
    out = make_build(tmp_path / "out")
    dd = export.hf_datasets(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert isinstance(dd, datasets.DatasetDict) and sorted(dd) == ["notes", "pubmed"]
    for name in dd:
        ds = dd[name]
        want = arrow_rows(out, name)
        assert len(ds) == len(want)
        assert set(ds["source"]) == {name}
        assert [(r["input_ids"], r["doc_lens"], r["doc_ids"]) for r in ds] == want


def test_mds_export_reads_back_with_streaming_dataset(tmp_path):
    streaming = pytest.importorskip("streaming")
    out = make_build(tmp_path / "out", vocab=70000)  # uint32 ids
    dest = tmp_path / "mds"
    summary = export.export_mds(str(out), str(dest), size_limit=1 << 12)  # several MDS shards per stream
    assert [(s["source"], s["repeat"], s["rows"]) for s in summary["streams"]] == [("notes", 2.0, 12), ("pubmed", 0.5, 6), ("empty", 1.0, 0)]
    assert summary["columns"]["input_ids"] == "ndarray:uint32"
    for s in ("notes", "pubmed"):
        idx = json.loads((dest / s / "index.json").read_text())
        assert sum(sh["samples"] for sh in idx["shards"]) == len(arrow_rows(out, s))
        ds = streaming.StreamingDataset(local=str(dest / s), shuffle=False, batch_size=1)
        got = [ds[i] for i in range(ds.num_samples)]
        want = arrow_rows(out, s)
        assert len(got) == len(want)
        for g, (ids, lens, dids) in zip(got, want):
            assert g["input_ids"].dtype == np.uint32 and g["input_ids"].tolist() == ids
            assert g["doc_lens"].tolist() == lens and int(g["doc_lens"].sum()) == len(ids)
            assert g["doc_ids"] == dids
    streams = export.mds_streams(str(dest))
    assert [(os.path.basename(st.local), st.repeat) for st in streams] == [("notes", 2.0), ("pubmed", 0.5)]
    mixed = streaming.StreamingDataset(streams=streams, shuffle=False, batch_size=1)
    assert mixed.epoch_size == 12 * 2 + 3  # the weights carry over: notes twice, half of pubmed
    seen = [row["doc_ids"][0].split(":")[0].rstrip("0123456789") for row in mixed]
    assert sorted(seen) == ["notes"] * 24 + ["pubmed"] * 3


def test_mds_cli(tmp_path, capsys):
    pytest.importorskip("streaming")
    out = make_build(tmp_path / "out")
    assert export.main([str(out), "--format", "mds", "--out", str(tmp_path / "mds"), "--sources", "pubmed"]) == 0
    assert "pubmed: 6 rows" in capsys.readouterr().out
    assert json.loads((tmp_path / "mds" / "export.json").read_text())["streams"][0]["source"] == "pubmed"
    assert export.main([str(out), "--format", "mds", "--out", str(tmp_path / "mds2"), "--sources", "x"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown source(s) x")


def test_cli_errors_before_work(tmp_path, capsys):
    assert export.main([str(tmp_path), "--format", "mds", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "build.json" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


@pytest.mark.ray
def test_ray_dataset_reads_in_tasks(tmp_path, ray_session):
    out = make_build(tmp_path / "out")
    ds = export.ray_dataset(str(out))
    assert ds.count() == 18
    counts = {r["source"]: r["count()"] for r in ds.groupby("source").count().take_all()}
    assert counts == {"notes": 12, "pubmed": 6}
    got = sorted((list(r["doc_ids"]), np.asarray(r["input_ids"]).tolist(), np.asarray(r["doc_lens"]).tolist())
                 for r in ds.filter(lambda r: r["source"] == "pubmed").take_all())
    want = sorted((d, i, n) for i, n, d in arrow_rows(out, "pubmed"))
    assert got == want
    assert export.ray_dataset(str(out), sources=["notes"]).count() == 12

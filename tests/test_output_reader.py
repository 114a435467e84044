"""The one shard reader: sha256 verification and its cache, and that audit, report and inspect read through it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.output import audit, reader, report, rows
from engine.output.reader import ShardChecksumError, open_shard, shard_entries, verified_local_path
from helpers_stream import write_build

SOURCES = {"a": (2, 5), "b": (1, 7)}


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new mtime even on coarse clocks


@pytest.fixture
def build(tmp_path):
    """A build whose ledger the audit accepts: every segment is a written document."""
    out = tmp_path / "out"
    b = write_build(str(out), SOURCES, batch_rows=2)
    for name, led in b["sources"].items():
        listed = [s for s in b["shards"] if s["source"] == name]
        docs = sum(s["segments"] for s in listed)
        led.update(read=docs, written=docs, tokens=sum(s["tokens"] for s in listed), rows=sum(s["rows"] for s in listed))
    (out / "build.json").write_text(json.dumps(b))
    return out, b


def test_entries_and_rows_match_the_ledger(build):
    out, b = build
    entries = shard_entries(str(out), b["shards"])
    assert [e.path for e in entries] == [s["path"] for s in b["shards"]]
    assert [e.start for e in entries] == list(np.cumsum([0] + [s["rows"] for s in b["shards"]])[:-1])
    for e in entries:
        r = open_shard(e)
        assert r.metadata["tokenizer_sha256"] == b["tokenizer"]["sha256"]
        assert sum(x.num_rows for x in r.batches()) == e.rows
        got = r.rows(np.arange(e.rows))
        assert sum(len(ids) for ids, _ in got) == e.tokens
        assert all(int(dl.sum()) == len(ids) for ids, dl in got)


def test_verified_once_then_rehashed_when_the_file_changes(build):
    out, b = build
    e = shard_entries(str(out), b["shards"])[0]
    assert verified_local_path(e) == str(out / e.path)
    assert (e.uri, e.sha256) in reader._VERIFIED
    tamper(out / e.path)
    with pytest.raises(ShardChecksumError, match="checksum mismatch"):
        verified_local_path(e)


def test_unverified_read_is_not_remembered_as_verified(build):
    out, b = build
    e = shard_entries(str(out), b["shards"])[1]
    tamper(out / e.path)
    verified_local_path(e, verify=False)
    with pytest.raises(ShardChecksumError):
        verified_local_path(e)


def test_remote_shard_is_cached_locally_after_verification(tmp_path):
    out = "memory://reader-test/out"
    b = write_build(out, {"a": (1, 3)})
    e = shard_entries(out, b["shards"])[0]
    local = verified_local_path(e, cache_dir=str(tmp_path / "cache"))
    assert local.startswith(str(tmp_path / "cache")) and Path(local).name == f"{e.sha256}.arrow"
    assert sum(x.num_rows for x in open_shard(e, cache_dir=str(tmp_path / "cache")).batches()) == 3


def test_audit_reports_an_altered_shard(build):
    out, b = build
    clean = audit.audit(str(out))
    assert clean["ok"], clean["errors"]
    tamper(out / b["shards"][2]["path"])
    res = audit.audit(str(out))
    assert not res["ok"]
    assert any(b["shards"][2]["path"] in x and "sha256" in x for x in res["errors"])


def test_report_sample_skips_an_altered_shard(build, capsys):
    out, b = build
    total = sum(s["rows"] for s in b["shards"])
    assert report.sample_shards(str(out), b["shards"])["rows_sampled"] == total
    tamper(out / b["shards"][0]["path"])
    sample = report.sample_shards(str(out), b["shards"])
    assert sample["rows_sampled"] == total - b["shards"][0]["rows"]
    assert f"cannot read {b['shards'][0]['path']}: ShardChecksumError" in capsys.readouterr().err


def test_report_sample_spreads_over_a_bounded_number_of_shards(tmp_path):
    out = tmp_path / "many"
    b = write_build(str(out), {"a": (6, 2)})
    sample = report.sample_shards(str(out), b["shards"], max_rows=100, max_shards=3)
    assert sample["rows_sampled"] == 6 and sample["sampled"]


def test_inspect_refuses_an_altered_shard(build, capsys):
    out, b = build
    assert rows.main([str(out), "--limit", "0"]) == 0
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(printed) == sum(s["rows"] for s in b["shards"])
    assert [p["row"] for p in printed if p["shard"] == b["shards"][0]["path"]] == list(range(b["shards"][0]["rows"]))
    tamper(out / b["shards"][1]["path"])
    assert rows.main([str(out), "--limit", "0"]) == 1
    assert "checksum mismatch" in capsys.readouterr().err

"""The audit passes a good build every time and fails (exit 1) on each kind of tampering; an output
it cannot read is a configuration error (exit 2)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from engine.output.audit import audit

ROOT = Path(__file__).resolve().parent.parent


def cli_audit(out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.audit", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture
def build(demo_build, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo_build, out)
    return out


def ledger(out):
    return json.loads((out / "build.json").read_text())


def save(out, doc):
    (out / "build.json").write_text(json.dumps(doc, indent=1))


def rewrite_shard(out, edit):
    """Rewrite the first shard through ``edit(table) -> table`` and re-list its sha256 (a consistent forgery)."""
    doc = ledger(out)
    sh = doc["shards"][0]
    path = out / sh["path"]
    with ipc.open_file(pa.memory_map(str(path))) as r:
        table = r.read_all()
    table = edit(table)
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_table(table)
    data = sink.getvalue().to_pybytes()
    path.write_bytes(data)
    sh["sha256"] = hashlib.sha256(data).hexdigest()
    save(out, doc)


def test_good_build_passes(build):
    res = audit(str(build))
    assert res["ok"], res["errors"]


@pytest.mark.slow
def test_good_build_exit_status_is_zero_every_time(build):
    """100 runs of the CLI: the exit status is the verdict, never an abort at interpreter exit."""
    codes = [cli_audit(build).returncode for _ in range(100)]
    assert codes == [0] * 100, sorted(set(codes))


def test_flipped_shard_byte(build):
    p = next((build / "shards").rglob("*.arrow"))
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF
    p.write_bytes(bytes(b))
    r = cli_audit(build)
    assert r.returncode == 1 and "sha256" in r.stdout


def test_deleted_shard(build):
    next((build / "shards").rglob("*.arrow")).unlink()
    r = cli_audit(build)
    assert r.returncode == 1 and "missing" in r.stdout


def test_edited_counts(build):
    doc = ledger(build)
    name = next(iter(doc["sources"]))
    doc["sources"][name]["written"] += 1
    doc["sources"][name]["read"] += 1
    save(build, doc)
    assert cli_audit(build).returncode == 1


def test_removed_quarantine_file_with_matching_edits(build):
    doc = ledger(build)
    q = next(q for q in doc["quarantine"] if sum(q["counts"].values()))
    (build / q["path"]).unlink()
    doc["quarantine"].remove(q)
    s = doc["sources"][q["source"]]
    for b, n in q["counts"].items():
        s[b] -= n
        s["read"] -= n
    save(build, doc)
    # every count now agrees; the listing digest of the quarantine files does not
    res = audit(str(build))
    assert not res["ok"]


def test_replaced_quarantine_file(build):
    doc = ledger(build)
    q = next(q for q in doc["quarantine"] if sum(q["counts"].values()))
    other = next(o for o in doc["quarantine"] if o is not q and o["counts"] == q["counts"] and o["source"] == q["source"]) \
        if any(o is not q and o["counts"] == q["counts"] and o["source"] == q["source"] for o in doc["quarantine"]) else None
    if other is None:
        import pyarrow.parquet as pq

        t = pq.read_table(build / q["path"])
        pq.write_table(t.set_column(t.schema.get_field_index("reason"), "reason", pa.array(["edited"] * t.num_rows)), build / q["path"])
    else:
        shutil.copy(build / other["path"], build / q["path"])
    r = cli_audit(build)
    assert r.returncode == 1 and "quarantine file" in r.stdout


def test_duplicate_doc_ids(build):
    def dup(t):
        ids = t.column("doc_ids").to_pylist()
        first = ids[0][0]
        ids = [[first] * len(row) for row in ids]
        return t.set_column(t.schema.get_field_index("doc_ids"), "doc_ids", pa.array(ids, t.schema.field("doc_ids").type))

    rewrite_shard(build, dup)
    r = cli_audit(build)
    assert r.returncode == 1 and "share an id" in r.stdout


def test_out_of_range_token_id(build):
    doc = ledger(build)
    top = doc["tokenizer"]["max_id"]

    def bump(t):
        col = t.column("input_ids")
        rows = col.to_pylist()
        rows[0][1] = top + 1
        return t.set_column(0, "input_ids", pa.array(rows, col.type))

    rewrite_shard(build, bump)
    r = cli_audit(build)
    assert r.returncode == 1 and "above the tokenizer's largest id" in r.stdout


def test_unreadable_ledger_is_a_configuration_error(build, tmp_path):
    (build / "build.json").write_text(ledger(build).__repr__()[:200])
    for target in (build, tmp_path / "no_such_build"):
        r = cli_audit(target)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.returncode == 2 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr

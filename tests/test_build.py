"""End to end on the bundled demo (local executor, no Ray): ledger, audit, determinism, resume, CLIs."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.ipc as ipc
import pytest

from engine.output import audit
from engine.core import fsio
from engine.run.build import Build, BuildError
from engine.run.console import ConsoleProgress
from engine.core.manifest import load_manifest
from engine.tokenizer import load_tokenizer

from conftest import run_build, shard_bytes

ROOT = Path(__file__).resolve().parent.parent


def build(out, manifest=ROOT / "manifests" / "demo.yaml", **kw):
    return run_build(manifest, out, **kw)


def test_demo_ledger_and_audit(demo_build):
    doc = json.loads((demo_build / "build.json").read_text())
    assert doc["complete"] and doc["token_counts_include_special_tokens"]
    s = doc["sources"]
    for name, c in s.items():
        assert c["read"] == sum(c[b] for b in ("written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined")), name
    # the demo's planted problems, each in its bucket
    assert s["mimic_notes"]["quarantined"] == 1 and "ragged CSV row" in " ".join(s["mimic_notes"]["reasons"]["quarantined"])
    assert s["mimic_notes"]["filtered"] >= 2  # ISERROR rows + the empty note
    assert s["pubmed"]["quarantined"] == 2 and s["case_reports"]["quarantined"] == 1
    assert s["mimic_notes"]["exact_dup"] >= 8 and s["pubmed"]["exact_dup"] >= 8
    assert s["mimic_notes"]["near_dup"] >= 1  # the note whose dose changed
    assert s["mimic_notes"]["deid_rejected"] >= 10 and s["mimic_notes"]["phi_hits"]["PHONE_NUMBER"] >= 10
    assert s["pubmed"]["deid_rejected"] == 0 and not s["pubmed"]["phi_hits"]  # deid: skip
    res = audit.audit(str(demo_build))
    assert res["ok"], res["errors"]
    assert set(res["sources"]["pubmed"]) == {"read", "written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined", "tokens", "rows"}
    assert res["sources"]["pubmed"]["written"] == s["pubmed"]["written"]


def test_cross_source_exact_duplicate(demo_build):
    """case_999.txt repeats a PubMed abstract: one copy is kept (priority tie -> smaller doc id)."""
    q = fsio.listdir(str(demo_build / "quarantine" / "pubmed"))
    from engine.core.fsio import read_parquet
    import pyarrow as pa

    t = pa.concat_tables([read_parquet(u) for u in q]).to_pylist()
    cross = [r for r in t if r["bucket"] == "exact_dup" and r["dup_of"].startswith("case_reports:")]
    # abstract 3 and its erratum copy both lose to the case report (same priority, smaller doc id)
    assert sorted(r["doc_id"] for r in cross) == ["pubmed:30000003", "pubmed:31000003"]
    assert {r["dup_of"] for r in cross} == {"case_reports:reports/case_999.txt"}
    assert all(r["text"] is None for r in t if r["bucket"] == "exact_dup")  # no text kept for duplicates


def test_every_token_of_every_document_once(demo_build):
    """Re-tokenize the written documents from the source and compare with the shards' segments."""
    doc = json.loads((demo_build / "build.json").read_text())
    tok = load_tokenizer(doc["tokenizer"]["name"])
    L = doc["max_seq_len"]
    segs: dict[str, list[np.ndarray]] = {}
    for sh in doc["shards"]:
        r = ipc.open_file(str(demo_build / sh["path"]))
        assert r.schema.field("input_ids").type.value_type.bit_width == 16  # uint16 for a small vocabulary
        for i in range(r.num_record_batches):
            for row in r.get_batch(i).to_pylist():
                assert sum(row["doc_lens"]) == len(row["input_ids"]) <= L
                pos = 0
                for ln, did in zip(row["doc_lens"], row["doc_ids"]):
                    seg = np.array(row["input_ids"][pos:pos + ln])
                    assert seg[0] == tok.cls_id and seg[-1] == tok.sep_id
                    segs.setdefault(did, []).append(seg[1:-1])
                    pos += ln
    # the JSONL source: compare against a fresh tokenization of the normalized abstracts
    from engine.stages.normalize import normalize_text

    n = 0
    for line in (ROOT / "demo" / "data" / "pubmed_abstracts.jsonl").read_bytes().splitlines():
        try:
            rec = json.loads(line)
        except Exception:
            continue
        did = f"pubmed:{rec['pmid']}"
        if did not in segs:
            continue
        got = np.sort(np.concatenate(segs[did]))  # windows may be packed out of order: compare as multisets
        want = np.sort(np.array(tok.tokenizer.encode(normalize_text(rec["abstract"]), add_special_tokens=False).ids))
        assert np.array_equal(got, want), did
        n += 1
    assert n == doc["sources"]["pubmed"]["written"]


def test_long_documents_split_into_windows(tmp_path, manifest_writer):
    data = tmp_path / "long.jsonl"
    words = " ".join(f"token{i % 50}" for i in range(3000))
    data.write_text(json.dumps({"id": "long", "text": words}) + "\n" + json.dumps({"id": "short", "text": "a short note"}) + "\n")
    mp = manifest_writer([{"name": "x", "connector": "jsonl", "uri": str(data), "options": {"id_field": "id"}}], max_seq_len=64)
    doc = build(tmp_path / "out", mp)
    s = doc["sources"]["x"]
    assert s["written"] == 2 and s["split_documents"] == 1 and s["segments"] > 10
    assert audit.audit(str(tmp_path / "out"))["ok"]


@pytest.mark.slow
def test_byte_identical_rebuild_on_a_process_pool(tmp_path, demo_build):
    """Two worker processes give the same shards and ledger as the in-process worker."""
    out = tmp_path / "again"
    build(out, workers=2)
    assert shard_bytes(out) == shard_bytes(demo_build)
    a = json.loads((out / "build.json").read_text())
    b = json.loads((demo_build / "build.json").read_text())
    for d in (a, b):
        d["manifest"].pop("output"), d.pop("manifest_sha256")  # where it was written differs
    assert a == b


def test_audit_catches_tampering(tmp_path, demo_build):
    out = tmp_path / "t"
    shutil.copytree(demo_build, out)
    shard = sorted((out / "shards").rglob("*.arrow"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    res = audit.audit(str(out))
    assert not res["ok"] and any("sha256" in e for e in res["errors"])
    assert subprocess.run([sys.executable, "-m", "engine.audit", str(out)], capture_output=True).returncode == 1

    out2 = tmp_path / "t2"
    shutil.copytree(demo_build, out2)
    next((out2 / "quarantine" / "pubmed").glob("dedup-*.parquet")).unlink()
    res = audit.audit(str(out2))
    assert not res["ok"] and any("listed but missing" in e for e in res["errors"])

    out3 = tmp_path / "t3"
    shutil.copytree(demo_build, out3)
    doc = json.loads((out3 / "build.json").read_text())
    doc["sources"]["pubmed"]["read"] += 1
    (out3 / "build.json").write_text(json.dumps(doc))
    res = audit.audit(str(out3))
    assert not res["ok"] and any("unaccounted" in e for e in res["errors"])


def test_resume_redoes_units_whose_staged_files_were_lost(tmp_path, demo_build, monkeypatch):
    """Staging files are written without an fsync: after a crash a file may be short or empty while
    its marker survived.  --resume checks each marker's stamps and redoes those units."""
    out = tmp_path / "lost"
    m, _ = load_manifest(ROOT / "manifests" / "demo.yaml", output=str(out))
    import engine.run.build as eb

    def crash(*a, **kw):
        raise KeyboardInterrupt("simulated crash before packing")

    monkeypatch.setattr(eb, "pack_phase", crash)
    with pytest.raises(KeyboardInterrupt):
        Build(m, str(out), progress=ConsoleProgress(False), executor="local").run()
    monkeypatch.undo()
    staging = out / "_staging"
    docs = sorted((staging / "docs").rglob("*.arrow"))
    tokens = sorted((staging / "tokens").glob("*.arrow"))
    keys = sorted((staging / "keys").glob("*.arrow"))
    assert docs and tokens and keys
    docs[0].write_bytes(docs[0].read_bytes()[:-40])  # short
    tokens[-1].write_bytes(b"")  # empty
    keys[0].write_bytes(b"\0" * keys[0].stat().st_size)  # the right size, zeros
    (staging / "units" / f"{tokens[0].stem}.json").write_text('{"unit_id": ')  # a marker cut off
    redone = {docs[0].stem, tokens[-1].stem, keys[0].stem, tokens[0].stem}
    before = {p.relative_to(staging): p.stat().st_mtime_ns for p in staging.glob("*/*.json")}
    build(out, resume=True, keep_staging=True)
    after = {p.relative_to(staging): p.stat().st_mtime_ns for p in staging.glob("*/*.json")}
    rewritten = {(p.parent.name, p.stem) for p in before if after[p] != before[p]}
    assert {("units", docs[0].stem), ("units", keys[0].stem), ("units", tokens[0].stem), ("tokens", tokens[-1].stem)} <= rewritten
    assert {u for _, u in rewritten} <= redone
    assert shard_bytes(out) == shard_bytes(demo_build)
    assert audit.audit(str(out))["ok"]


def test_resume_after_crash_mid_pack(tmp_path, demo_build, monkeypatch):
    """The driver dies after the first committed pack group; --resume finishes byte-identically."""
    out = tmp_path / "crash"
    m, _ = load_manifest(ROOT / "manifests" / "demo.yaml", output=str(out))
    b = Build(m, str(out), progress=ConsoleProgress(False), executor="local")
    import engine.run.build as eb

    real = eb.fsio.write_json_atomic
    calls = {"n": 0}

    def dying(uri, obj, *a, **kw):
        real(uri, obj, *a, **kw)
        if "/_staging/groups/" in uri:
            calls["n"] += 1
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(eb.fsio, "write_json_atomic", dying)
    with pytest.raises(KeyboardInterrupt):
        b.run()
    monkeypatch.setattr(eb.fsio, "write_json_atomic", real)
    bj = out / "build.json"
    assert not bj.exists() or not json.loads(bj.read_text())["complete"]
    assert list((out / "shards").rglob("*.arrow"))  # the first group was committed before the crash
    with pytest.raises(BuildError, match="--resume"):
        build(out)
    build(out, resume=True)
    assert shard_bytes(out) == shard_bytes(demo_build)
    assert audit.audit(str(out))["ok"]
    # a finished build is not redone, and a different manifest is refused
    assert build(out, resume=True)["complete"]


def test_output_not_empty_and_force(tmp_path, demo_build):
    out = tmp_path / "f"
    shutil.copytree(demo_build, out)
    assert build(out)["complete"]  # same manifest, complete: nothing to do
    doc = json.loads((out / "build.json").read_text())
    doc["fingerprint"] = "other"
    (out / "build.json").write_text(json.dumps(doc))
    with pytest.raises(BuildError, match="different manifest"):
        build(out)
    build(out, force=True)
    assert shard_bytes(out) == shard_bytes(demo_build)


def run_cli(*args, **kw):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_AUTH_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, **kw)


@pytest.mark.parametrize("mod", ["engine.build", "engine.audit", "engine.inspect", "engine.report", "engine.tokenizer", "engine.train", "engine.deid"])
def test_cli_help(mod):
    r = run_cli(mod, "--help")
    assert r.returncode == 0 and "usage" in r.stdout


def test_cli_check_and_bad_manifest(tmp_path):
    r = run_cli("engine.build", "--manifest", "demo", "--check")
    assert r.returncode == 0, r.stderr
    assert "mimic_notes" in r.stdout and "1 unit(s)" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\noutput: o\ntokenizer: t.json\nsources:\n  - {name: a, connector: jsonl, uri: x, weigth: 2}\n")
    r = run_cli("engine.build", "--manifest", str(bad))
    assert r.returncode == 2 and "sources[0](a).weigth: unknown field" in r.stderr and "Traceback" not in r.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text("name: x\noutput: o\ntokenizer: t.json\nsources:\n  - {name: a, connector: jsonl, uri: nowhere/*.jsonl}\n")
    r = run_cli("engine.build", "--manifest", str(missing), "--check")
    assert r.returncode == 2 and "source 'a': no input matches" in r.stderr


def test_cli_build_inspect_audit_without_ray(tmp_path, demo_build):
    """`--executor local` with `import ray` made impossible: builds, audits, same shards as the fixture's build."""
    blocker = tmp_path / "noray" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('ray must not be imported by a local build')\n")
    out = tmp_path / "cli"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": f"{blocker.parent}{os.pathsep}{ROOT}"}
    r = subprocess.run([sys.executable, "-m", "engine.build", "--manifest", "demo", "--output", str(out), "--executor", "local"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "read 3/3 units" in r.stderr and "packing efficiency" in r.stderr and "executor local, in-process" in r.stderr
    assert shard_bytes(out) == shard_bytes(demo_build)
    r = run_cli("engine.audit", str(out), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"]
    r = run_cli("engine.inspect", str(out), "--decode", "--limit", "2", "--source", "pubmed")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["source"] == "pubmed" and len(rows[0]["texts"]) == len(rows[0]["doc_ids"])


def _planted_phi() -> list[str]:
    """Surrogate identifiers the demo generator (bench.synth.demo) leaked into some notes."""
    import csv
    import gzip
    import io
    import re

    text = gzip.decompress((ROOT / "demo" / "data" / "mimic_notes.csv.gz").read_bytes()).decode()
    vals = []
    for row in csv.reader(io.StringIO(text)):
        t = row[-1] if row else ""
        vals += re.findall(r"Dictated by: Dr\. ([A-Z][a-z]+ [A-Z][a-z]+)", t)
        vals += re.findall(r"Patient phone: (\(617\) \d{3}-\d{4})", t)
        vals += re.findall(r"MRN: (\d{7})", t)
    assert len(vals) >= 30
    return sorted(set(vals))


@pytest.mark.slow
def test_redact_policy_leaves_no_planted_phi_in_shards_or_logs(tmp_path):
    """mimic_notes with deid: redact through the CLI: shards, ledger and logs hold none of the planted values."""
    import yaml

    m = yaml.safe_load((ROOT / "manifests" / "demo.yaml").read_text())
    m["sources"] = [s for s in m["sources"] if s["name"] == "mimic_notes"]
    m["sources"][0]["deid"] = "redact"
    m["sources"][0]["uri"] = str(ROOT / "demo" / "data" / "mimic_notes.csv.gz")
    m["tokenizer"] = str(ROOT / "demo" / "tokenizer.json")
    m["output"] = str(tmp_path / "out")
    mp = tmp_path / "redact.yaml"
    mp.write_text(yaml.safe_dump(m))
    r = run_cli("engine.build", "--manifest", str(mp))
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((tmp_path / "out" / "build.json").read_text())
    s = doc["sources"]["mimic_notes"]
    assert s["deid_rejected"] == 0 and s["phi_hits"]["PERSON"] >= 10  # redacted, not rejected
    rows = run_cli("engine.inspect", str(tmp_path / "out"), "--decode", "--limit", "0").stdout
    assert "[PHONE]" in rows or "[NAME]" in rows
    planted = _planted_phi()
    logs = r.stdout + r.stderr + (tmp_path / "out" / "build.json").read_text() + (tmp_path / "out" / "report" / "summary.txt").read_text()
    for v in planted:
        assert v not in rows, "planted value left in a shard"
        assert v not in logs, "planted value in a log or the ledger"

"""Inputs and outputs on object storage: the demo built from s3:// into s3:// against moto's S3 server.

Credentials come only from the environment (AWS_* variables, read by botocore/s3fs); the test
checks that the secret never appears in the manifest, the output objects or the build's logs.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from s3_fixtures import ROOT, build_cmd, build_env, s3_env, s3_server, upload_dir  # noqa: F401

pytestmark = pytest.mark.timeout(400)


def demo_manifest_on(path: Path, inputs: str, output: str, **resources) -> Path:
    """The bundled demo manifest with its inputs under ``inputs`` (any URI) and output ``output``."""
    doc = yaml.safe_load((Path(ROOT) / "manifests" / "demo.yaml").read_text())
    doc["output"] = output
    doc["tokenizer"] = str(Path(ROOT) / "demo" / "tokenizer.json")
    for s in doc["sources"]:
        s["uri"] = inputs.rstrip("/") + "/" + Path(s["uri"]).name
        s["deid"] = "skip"  # storage is under test here, not the PHI check (no PHI model to load)
    doc["resources"].update({"workers": 2, "cpus_per_worker": 0.5} | resources)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def s3_build(s3_server, tmp_path_factory):
    """Demo inputs uploaded to s3://corpus/in, built (subprocess, embedded Ray) into s3://corpus/out."""
    tmp = tmp_path_factory.mktemp("s3build")
    fs = s3_server.filesystem()
    fs.mkdir("corpus")
    upload_dir(fs, str(Path(ROOT) / "demo" / "data"), "corpus/in")
    man = demo_manifest_on(tmp / "s3demo.yaml", "s3://corpus/in", "s3://corpus/out")
    env = build_env(s3_server.env())
    p = subprocess.run(build_cmd(man), env=env, capture_output=True, text=True, timeout=300, cwd=tmp)
    assert p.returncode == 0, p.stderr[-3000:]
    a = subprocess.run([*build_cmd(man)[:1], "-m", "engine.audit", "s3://corpus/out", "--json"], env=env,
                       capture_output=True, text=True, timeout=120, cwd=tmp)
    return {"man": man, "build": p, "audit": a, "fs": fs, "tmp": tmp}


def test_build_s3_to_s3_audits_ok(s3_build, s3_server):
    fs = s3_build["fs"]
    a = s3_build["audit"]
    assert a.returncode == 0, a.stdout[-2000:] + a.stderr[-2000:]
    res = json.loads(a.stdout)
    assert res["ok"], res["errors"]
    assert set(res["sources"]) == {"mimic_notes", "pubmed", "case_reports"}
    doc = json.loads(fs.cat_file("corpus/out/build.json"))
    assert doc["complete"] and doc["shards"]
    for sh in doc["shards"]:
        assert fs.exists("corpus/out/" + sh["path"])
    assert fs.find("corpus/out/quarantine"), "quarantine records are written to the bucket too"
    assert not fs.exists("corpus/out/_staging") and not fs.exists("corpus/out/_lock.json")
    assert s3_build["build"].stderr.count("done") >= 1


def test_s3_shards_read_back(s3_build, s3_env):
    from engine.core import fsio
    from engine.output.reader import iter_batches

    doc = fsio.read_json("s3://corpus/out/build.json")
    rows = tokens = 0
    for _, b in iter_batches("s3://corpus/out"):
        rows += b.num_rows
        tokens += sum(len(x) for x in b.column("input_ids").to_pylist())
    assert rows == sum(sh["rows"] for sh in doc["shards"])
    assert tokens == sum(sh["tokens"] for sh in doc["shards"])


def test_s3_stream(s3_build, s3_env, tmp_path):
    """engine.train.stream reads the build straight from the bucket (verified against build.json's sha256)."""
    stream = pytest.importorskip("engine.train.stream")
    from engine.core import fsio

    doc = fsio.read_json("s3://corpus/out/build.json")
    ds = stream.ShardStream("s3://corpus/out", seed=0, epochs=1, weights={s: 1.0 for s in doc["sources"]},
                            cache_dir=str(tmp_path / "cache"))
    n = sum(1 for _ in ds)
    assert n == sum(sh["rows"] for sh in doc["shards"])


def test_credentials_never_written_or_logged(s3_build, s3_server):
    fs = s3_build["fs"]
    secret = s3_server.secret
    assert secret not in s3_build["man"].read_text()
    for text in (s3_build["build"].stdout, s3_build["build"].stderr, s3_build["audit"].stdout, s3_build["audit"].stderr):
        assert secret not in text and s3_server.key_id not in text
    for key in fs.find("corpus/out"):
        data = fs.cat_file(key)
        assert secret.encode() not in data and s3_server.key_id.encode() not in data, key
    # Ray session logs written since the build started (none when it ran on the local executor)
    for logdir in Path("/tmp/ray").glob("session_*/logs"):
        if logdir.stat().st_mtime < s3_build["tmp"].stat().st_mtime - 5:
            continue
        for f in logdir.rglob("*"):
            if f.is_file() and f.stat().st_size < 50 << 20:
                assert secret.encode() not in f.read_bytes(), f

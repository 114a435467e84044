"""The Ray executor gives byte-identical results to the local one (the builds of the local tier, on Ray)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, run_build, shard_bytes
from engine.core import fsio

pytestmark = pytest.mark.ray


def comparable_ledger(out: Path) -> dict:
    doc = json.loads((out / "build.json").read_text())
    doc["manifest"].pop("output")  # where it was written differs
    doc.pop("manifest_sha256")
    return doc


def quarantine_rows(out: Path) -> list[dict]:
    rows = []
    for u in fsio.listdir(str(out / "quarantine")):
        rows += fsio.read_parquet(u).to_pylist()
    return sorted(rows, key=lambda r: (r["source"], r["doc_id"], r["bucket"]))


def test_demo_on_ray_matches_local(tmp_path, demo_build, ray_session):
    out = tmp_path / "ray"
    doc = run_build(ROOT / "manifests" / "demo.yaml", out, executor="ray", workers=2)
    assert doc["complete"]
    assert shard_bytes(out) == shard_bytes(demo_build)
    assert comparable_ledger(out) == comparable_ledger(demo_build)
    assert quarantine_rows(out) == quarantine_rows(demo_build)


def test_near_dedup_build_on_ray_matches_local(tmp_path, near_build, ray_session):
    man, local = near_build
    run_build(man, tmp_path / "ray", executor="ray", workers=2)
    assert shard_bytes(tmp_path / "ray") == shard_bytes(local)
    assert comparable_ledger(tmp_path / "ray") == comparable_ledger(local)
    near = [r for r in quarantine_rows(tmp_path / "ray") if r["bucket"] == "near_dup"]
    assert len(near) == 11 and near == [r for r in quarantine_rows(local) if r["bucket"] == "near_dup"]


def test_near_dedup_steps_on_ray_actors(tmp_path, ray_session):
    from engine.core.executor import no_worker_state
    from engine.run.ray_executor import RayExecutor
    from test_near_dedup import determinism_corpus, drop_key, run

    m, corpus = determinism_corpus()
    local, s_local = run(m, tmp_path / "local", corpus)
    ex = RayExecutor(no_worker_state, workers=2, cpus_per_worker=0.5)
    try:
        remote, s_remote = run(m, tmp_path / "ray", corpus, executor=ex)
    finally:
        ex.close()
    assert drop_key(remote) == drop_key(local) and len(local) > 20
    assert s_remote["clusters"] == s_local["clusters"]

"""The tokenizer benches: identity check, per-stage profile, in-process memory, the 50k bench tokenizer's corpus."""
from __future__ import annotations

import pytest

from tests.conftest import DEMO_TOKENIZER

TOK = str(DEMO_TOKENIZER)
pytest.importorskip("fastokens")


def test_tokenize_pack_checks_ids_against_tokenizers(tmp_path):
    from bench import tokenize_pack

    res = tokenize_pack.run(mb=0.2, threads=[1], tokenizer=TOK, workdir=str(tmp_path), with_datasets=False, repeat=1)
    r = res["rows"][0]
    assert r["backend"] == "fastokens" and r["ids_identical"] and res["ids_identical"]
    assert res["targets"] == {"vs_ceiling": 4.0, "vs_datasets": 5.0}
    assert "ids identical to tokenizers: yes" in tokenize_pack.table(res)


def test_identity_digest_sees_one_changed_id():
    from bench.tokenize_pack import _digest

    assert _digest([[1, 2], [3]]) == _digest([[1, 2], [3]])
    assert _digest([[1, 2], [3]]) != _digest([[1, 2], [4]]) != _digest([[1], [2, 3]])


def test_stage_profile_times_every_stage(tmp_path):
    from bench import stage_profile

    res = stage_profile.profile(0.6, TOK, "auto", str(tmp_path))
    lit = res["seconds"]["literature"]
    for stage in ("parse", "normalize", "exact_keys", "near_map", "tokenize", "window", "pack", "shard_write"):
        assert lit.get(stage, 0) > 0, stage
    assert res["seconds"]["clinical"].get("deid", 0) > 0  # the clinical source runs deid: verify
    assert res["global_seconds"]["dedup_exact"] > 0 and res["global_seconds"]["dedup_near"] > 0
    e = res["all20"]
    assert e["core_hours"] > 0 and e["bounding_stage"] in e["stage_core_hours"]
    assert abs(sum(e["stage_core_hours"].values()) - e["core_hours"]) < 1e-6 * e["core_hours"]
    assert "all20" in stage_profile.table(res)


def test_memory_inprocess_reports_a_worker_peak(tmp_path):
    from bench import memory

    res = memory.run(mb=0.2, factors=(1, 2), tokenizer=TOK, workdir=str(tmp_path))
    a, b = res["rows"]
    assert res["mode"] == "inprocess" and 50 < a["max_worker_peak_mib"] and b["tokens"] > a["tokens"] > 0
    assert b["growth_vs_1x"] == pytest.approx(b["max_worker_peak_mib"] / a["max_worker_peak_mib"])


def test_tokenizer50k_pseudo_corpus_is_deterministic_and_varied():
    from bench.tokenizer50k import pseudo_text

    a, b = pseudo_text(0.05, seed=1), pseudo_text(0.05, seed=1)
    assert a == b and sum(map(len, a)) >= 50_000
    words = {w for p in a for w in p.split()}
    assert len(words) > 2000

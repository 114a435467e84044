"""Every bench runs on a tiny input and returns well-formed results (numbers meaningless here).

Benchmarks are not timed tests: this only keeps them working.  ``python -m bench all`` is the real run.
"""
from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import DEMO_TOKENIZER

TOK = str(DEMO_TOKENIZER)


def test_data_is_deterministic_and_long_tailed(tmp_path):
    from bench.synth import corpus as data

    a = [d["text"] for d in data.iter_docs(0.3, "mixed", seed=7, dup_rate=0.1, near_dup_rate=0.1)]
    b = [d["text"] for d in data.iter_docs(0.3, "mixed", seed=7, dup_rate=0.1, near_dup_rate=0.1)]
    assert a == b and sum(len(t) for t in a) >= 300_000
    assert len(set(a)) < len(a)  # exact duplicates are there
    lens = data.token_lengths(5000, "clinical")
    assert max(lens) > 20 * sorted(lens)[len(lens) // 2]  # long tail
    paths = data.write_jsonl(tmp_path / "in", 0.1, files=3)
    rows = [json.loads(line) for p in paths for line in p.open()]
    assert len(paths) == 3 and all({"id", "text", "source"} <= r.keys() for r in rows)
    assert "{" not in "".join(a)  # every template slot was filled


def test_packing_bench():
    from bench import packing

    res = packing.run(docs=400, lengths_at=(512, 8192))
    for r in res["rows"]:
        e, m = r["engine"], r["modernbert"]
        assert 0.5 < e["efficiency"] <= 1.0 and 0.0 <= m["efficiency"] <= 1.0
        assert m["tokens"] + m["dropped_tokens"] == e["tokens"]  # the ModernBERT packer conserves or drops, never invents
    assert "8,192" in packing.table(res)


def test_modernbert_packer_best_fit():
    from bench.packing import modernbert_pack

    # two rows of 10: 6 and 4 share a row; 5 and 5 the other; nothing left over
    r = modernbert_pack([6, 5, 4, 5], 10, batch=2, buffer_size=8)
    assert r["rows"] == 2 and r["efficiency"] == 1.0 and r["dropped_tokens"] == 0


def test_tokenize_pack_bench(tmp_path):
    from bench import tokenize_pack

    with_ds = importlib.util.find_spec("transformers") is not None
    res = tokenize_pack.run(mb=0.2, threads=[1], tokenizer=TOK, workdir=str(tmp_path), with_datasets=with_ds, repeat=1)
    r = res["rows"][0]
    assert r["engine"]["tokens"] > 0 and r["engine"]["tokens"] >= r["ceiling"]["tokens"]  # + [CLS]/[SEP] per window
    assert r["engine_mb_s"] > 0 and r["ceiling_mb_s"] > 0
    assert not with_ds or r["datasets_mb_s"] > 0
    assert "T=1" in tokenize_pack.table(res)


@pytest.mark.ray  # builds on Ray workers (what the bench measures)
def test_end_to_end_bench(tmp_path):
    from bench import end_to_end

    with_dt = importlib.util.find_spec("datatrove") is not None and importlib.util.find_spec("orjson") is not None
    res = end_to_end.run(mb=0.3, workers=1, tokenizer=TOK, workdir=str(tmp_path), with_datatrove=with_dt)
    e = res["engine"]
    assert e["read"] == res["docs"] and e["written"] + e["exact_dup"] + e["near_dup"] <= e["read"]
    assert e["exact_dup"] > 0  # the generator's duplicates were found
    if with_dt:
        assert 0 < res["datatrove"]["written"] < res["docs"] and res["datatrove"]["tokens"] > 0
        assert res["ratio"] > 0
    assert "docs/s" in end_to_end.table(res)


@pytest.mark.ray  # builds on Ray workers (what the bench measures)
def test_scaling_bench(tmp_path):
    from bench import scaling

    res = scaling.run(mb=0.4, workdir=str(tmp_path), tokenizer=TOK)
    e = res["all20"]
    assert res["speedup_2_vs_1"] > 0 and e["core_hours"] > 0 and e["bounding_stage"]
    assert set(res["stage_seconds_per_source"]) == {"clinical", "literature"}
    assert "core-hours" in scaling.table(res)


@pytest.mark.ray  # builds on Ray workers (what the bench measures)
def test_memory_bench(tmp_path):
    pytest.importorskip("psutil")
    from bench import memory

    res = memory.run(mb=0.2, factors=(1,), workers=2, tokenizer=TOK, workdir=str(tmp_path))
    r = res["rows"][0]
    assert r["max_worker_peak_mib"] > 20 and (res["mode"] != "ray" or r["driver_peak_mib"] > 20)
    assert "worker peak MiB" in memory.table(res)


def test_bench_main_runs_a_subset_and_writes_json(tmp_path, capsys):
    from bench.__main__ import headline, main

    out = tmp_path / "r.json"
    assert main(["all", "--small", "--only", "packing,nonexistent_bench", "--json-out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["packing"]["rows"] and res["nonexistent_bench"]["skipped"]
    text = capsys.readouterr().out
    assert "== summary" in text and "packing 8192" in text
    assert headline({}) == []

"""The report's first screen: warnings (a source that wrote nothing, one that lost more than half,
a tokenizer that does not match), the token mix after weights, dedup counters in words, no local paths."""
from __future__ import annotations

import json

import numpy as np

from engine.output import findings, report
from tests.test_export import make_build


def _src(read, written, tokens=0, weight=1.0, **drops):
    s = {"read": read, "written": written, "tokens": tokens, "rows": 1 if tokens else 0, "weight": weight,
         "exact_dup": 0, "near_dup": 0, "deid_rejected": 0, "filtered": 0, "quarantined": 0}
    s.update(drops)
    return s


def _doc():
    return {
        "build_id": "b", "complete": True, "max_seq_len": 64, "engine_version": "0",
        "tokenizer": {"name": "/home/someone/private/tok.json", "sha256": "a" * 64, "vocab_size": 100, "special_ids": {"cls": 1}},
        "manifest": {"name": "t"},
        "sources": {
            "notes": _src(100, 90, 3000, weight=2.0, filtered=10),
            "typo": _src(161, 0, filtered=161),
            "lossy": _src(10, 4, 1000, exact_dup=5, quarantined=1),
        },
    }


def test_warnings_name_each_problem():
    w = findings.warnings(_doc(), {"a" * 64, "b" * 64}, out_tokenizer_sha256="c" * 64)
    assert "typo: wrote 0 documents of 161 read (most went to filtered: 161)" in w
    assert "lossy: 6 of 10 documents dropped (60%: exact_dup 5, quarantined 1)" in w
    assert any("bbbbbbbbbbbb" in x and "aaaaaaaaaaaa" in x for x in w)
    assert any("tokenizer in the output (cccccccccccc)" in x for x in w)
    assert not any(x.startswith("notes") for x in w)
    assert findings.warnings({**_doc(), "sources": {"notes": _src(100, 90, 3000)}}, {"a" * 64}) == []


def test_mix_after_weights():
    rows = {r[0]: r for r in findings.mix_rows(_doc())}
    assert rows["notes"][2] == 75.0 and rows["lossy"][2] == 25.0
    assert abs(rows["notes"][4] - 6000 / 7000 * 100) < 1e-9 and rows["typo"][4] == 0.0


def test_dedup_counters_in_words_each_once():
    rows = findings.dedup_rows({"near:candidate_pairs": 18, "near:candidates_pairs": 18, "near:dropped:notes": 2, "new:thing": 1})
    assert rows == [["candidate pairs from LSH", 18], ["near duplicates dropped from notes", 2], ["new:thing", 1]]


def test_report_shows_warnings_first_and_no_local_paths(tmp_path):
    out = make_build(tmp_path / "out")
    doc = json.loads((out / "build.json").read_text())
    doc["tokenizer"]["name"] = "/home/someone/private/tok.json"
    doc["sources"] = {"notes": _src(30, 12, 400, weight=2.0, near_dup=18), "pubmed": _src(6, 6, 200, weight=0.5),
                      "empty": _src(0, 0)}
    doc["totals"] = {"tokens": 600, "rows": 18}
    sample = report.sample_shards(str(out), doc["shards"])
    assert set(sample["doc_lens_by_source"]) == {"notes", "pubmed"}
    assert sample["tokenizers"] == {"t" * 64}
    page = report.render(doc, {"dedup": {"exact:dropped": 3}}, sample)
    assert page.index("Warnings (2)") < page.index("documents read") < page.index('id="mix"')
    assert "notes: 18 of 30 documents dropped" in page and "empty: wrote 0 documents (the input held no documents)" in page
    assert "/home/someone" not in page and "tok.json" in page
    assert "exact duplicates dropped" in page
    assert page.count("<svg ") >= 5 and "Document-length histogram per source" in page
    lens = np.concatenate(list(sample["doc_lens_by_source"].values()))
    assert len(lens) == len(sample["doc_lens"])


def test_console_summary_starts_with_the_warnings():
    from engine.run.finish import summary_text

    doc = {**_doc(), "shards": [], "max_seq_len": 64}
    for s in doc["sources"].values():
        s.update(segments=0, split_documents=0, bytes_read=0, chars_written=0, phi_hits={}, reasons={})
    text = summary_text(doc)
    assert text.splitlines()[2] == "WARNING: typo: wrote 0 documents of 161 read (most went to filtered: 161)"
    assert text.index("WARNING: lossy") < text.index("source ")

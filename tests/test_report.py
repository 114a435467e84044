"""The HTML build report: written by every build, self-contained, has its tables and plots, never document text."""
from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil

from engine.output import report

TABLE_IDS = ("sources", "drops", "reasons", "phi", "packing", "throughput", "shards")


def _html(out) -> str:
    return (out / "report" / "index.html").read_text(encoding="utf-8")


def test_build_writes_report_with_tables_and_plots(demo_build):
    page = _html(demo_build)
    for tid in TABLE_IDS:
        assert f'<table id="{tid}">' in page, tid
    assert page.count("<svg ") >= 5
    assert page.count("<svg ") == page.count("</svg>")
    assert "<img" not in page and "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    doc = json.loads((demo_build / "build.json").read_text())
    for sh in doc["shards"]:
        assert sh["sha256"] in page and sh["path"] in page
    for name in doc["sources"]:
        assert f"<td>{name}</td>" in page
    assert f"{doc['totals']['tokens']:,}" in page
    assert "packing efficiency" in page
    # self-contained: nothing fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    assert "<script" not in page and "<link" not in page


def test_report_never_contains_document_text(demo_build):
    from tests.conftest import ROOT

    page = _html(demo_build)
    data = ROOT / "demo" / "data"
    snippets = []
    for line in (data / "pubmed_abstracts.jsonl").read_bytes().splitlines():
        try:
            t = json.loads(line).get("abstract") or ""
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        if len(t) > 60:
            snippets.append(t[20:50])
    with gzip.open(data / "mimic_notes.csv.gz", "rt", encoding="utf-8", errors="replace") as f:
        for row in csv.reader(io.StringIO(f.read())):
            for cell in row:
                if len(cell) > 60:
                    snippets.append(cell[20:50])
    assert len(snippets) > 100
    leaked = [s for s in snippets if s in page]
    assert not leaked, f"{len(leaked)} document snippets found in the report"


def test_regenerate_cli(demo_build, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(demo_build, out)
    (out / "report" / "index.html").unlink()
    assert report.main([str(out), "--max-rows", "5"]) == 0
    assert capsys.readouterr().out.strip().endswith("index.html")
    page = _html(out)
    assert all(f'<table id="{t}">' in page for t in TABLE_IDS)
    total = sum(sh["rows"] for sh in json.loads((out / "build.json").read_text())["shards"])
    assert re.search(rf"Rows sampled: [1-5] of {total}\b", page)  # the histograms say they are a sample


def test_regenerate_cli_not_a_build(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    assert "not a build output" in capsys.readouterr().err


def test_render_without_timings_or_shards():
    doc = {
        "build_id": "x", "max_seq_len": 128, "complete": True, "manifest": {"name": "empty"},
        "tokenizer": {"name": "t", "sha256": "0" * 64, "vocab_size": 10},
        "sources": {"a": {"read": 3, "written": 0, "exact_dup": 0, "near_dup": 0, "deid_rejected": 1, "filtered": 2,
                          "quarantined": 0, "tokens": 0, "rows": 0, "phi_hits": {"US_SSN": 1}, "reasons": {"filtered": {"empty": 2}}}},
        "totals": {"read": 3, "written": 0, "tokens": 0, "rows": 0, "deid_rejected": 1, "filtered": 2},
        "shards": [], "quarantine": [],
    }
    import numpy as np

    sample = {"row_lens": np.zeros(0), "seg_lens": np.zeros(0), "doc_lens": np.zeros(0), "rows_sampled": 0, "rows_total": 0, "sampled": False}
    page = report.render(doc, None, sample)
    assert '<table id="phi">' in page and "US_SSN" in page
    assert page.count("<svg ") == 6  # five fixed plots + PHI


def test_svg_charts_scale_and_escape():
    """Charts: ticks cover the data, bar heights follow the values, labels are escaped."""
    import numpy as np

    from engine.output import svgplot as S

    assert S.nice_ticks(173) == [0, 50, 100, 150, 200]
    assert S.nice_ticks(0) == [0.0, 1.0]
    assert S.log_ticks(40, 250) == [50.0, 100.0, 200.0]
    svg = S.bars("t", ["a<b", "c"], [("read", [100, 50], "#111111")], ylabel="docs")
    assert "a&lt;b" in svg and "a<b" not in svg
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)" fill="#111111"><title>', svg)]
    assert len(heights) == 2 and abs(heights[0] / heights[1] - 2.0) < 0.02
    h = S.histogram("h", [("x", np.array([1, 1, 2, 9]), "#222222")], np.array([0, 5, 10]))
    assert h.count('fill="#222222"') == 2
    empty = S.histogram("e", [], np.array([0, 1]))
    assert empty.startswith("<svg") and empty.endswith("</svg>")


def test_start_up_is_timed_and_reported(demo_build):
    """The driver's start-up (wall) and each worker's set-up (per stage) reach timings.json and the report."""
    t = json.loads((demo_build / "report" / "timings.json").read_text())
    assert 0 < t["wall_seconds"]["start-up"] < t["wall_seconds"]["total"]
    setup = {k: v for k, v in t["worker_seconds"].items() if k.startswith("setup.")}
    assert setup.get("setup.deid", 0) > 0 and set(setup) >= {"setup.normalize", "setup.filter"}
    page = _html(demo_build)
    assert 'id="startup"' in page and "deid " in page.split('id="startup"')[1].split("</p>")[0]
    assert "start-up" in (demo_build / "report" / "summary.txt").read_text()

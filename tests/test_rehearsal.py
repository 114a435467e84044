"""The rehearsal generator: the all20 shape in the providers' formats, read back by the real connectors."""
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench import rehearsal
from connectors import registry
from engine.core.manifest import load_manifest
from engine.core.records import Doc

ROOT = Path(__file__).resolve().parent.parent


def test_all20_shape_reads_through_the_real_connectors(tmp_path):
    info = rehearsal.generate(tmp_path, 0.00002)
    assert len(info) == 20
    man = rehearsal.write_manifest(tmp_path / "r.yaml", str(tmp_path), str(tmp_path / "out"),
                                   str(ROOT / "tests" / "fixtures" / "tokenizer.json"))
    m, _ = load_manifest(str(man))
    assert [s.name for s in m.sources] == [s.name for s in rehearsal.SHAPE]
    docs = Counter()
    for src in m.sources:
        conn = registry.get(src.connector)(src, m)
        units = conn.discover()
        assert units, src.name
        for u in units:
            docs[src.name] += sum(isinstance(r, Doc) for r in conn.read(u))
    for s in rehearsal.SHAPE:
        assert docs[s.name] > 0, s.name
    assert docs["pubmed"] >= info["pubmed"]["docs"] - 5  # a revision and a DeleteCitation per update file
    assert docs["mimic_cxr_reports"] == info["mimic_cxr_reports"]["docs"]
    assert docs["codiesp"] == info["codiesp"]["docs"]


def test_scaled_counts_and_full_small():
    cxr = next(s for s in rehearsal.SHAPE if s.name == "mimic_cxr_reports")
    assert rehearsal.scaled(cxr, 0.001, False) == (228, 228, 1300)
    files, docs, size = rehearsal.scaled(cxr, 0.001, True)
    assert files == docs == 227_835 and size < cxr.doc_bytes
    notes = next(s for s in rehearsal.SHAPE if s.name == "mimic_iii_notes")
    assert rehearsal.scaled(notes, 0.001, True)[:2] == (1, 2083)


def test_small_shape_cli_writes_manifest(tmp_path):
    p = subprocess.run([sys.executable, "-m", "bench.rehearsal", "--out", str(tmp_path), "--shape", "small",
                        "--files", "5", "--docs-per-file", "3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(list((tmp_path / "small").glob("*.jsonl"))) == 5
    m, _ = load_manifest(str(tmp_path / "rehearsal.yaml"))
    units = registry.get("jsonl")(m.sources[0], m).discover()
    assert len(units) == 5


def test_plan_scales_measured_seconds_and_fits_requests():
    from bench import rehearsal_plan

    units = rehearsal_plan.all20_units()
    assert units["pubmed"] == 1524 and units["mimic_iii_notes"] == 1 and units["mimic_cxr_reports"] == 112
    inputs = {s.name: {"files": 1, "docs": max(1, s.docs // 100_000), "doc_bytes": s.doc_bytes} for s in rehearsal.SHAPE}
    all20 = {"inputs": inputs, "worker_seconds": {"total": 10.0, "normalize": 1.0, "filter": 1.0, "deid": 2.0,
                                                  "tokenize.total": 4.0, "tokenize.tokenize": 3.0, "pack.total": 1.0},
             "build": {"phases": {"dedup": {"all_cpu": 2.0}}, "staging_bytes": {"docs": 1000}}}

    def small(n):
        return {"units": n, "requests": {"read": {"GET": 2 * n, "PUT": 3 * n}, "dedup": {"GET": n + 7}}}

    text = rehearsal_plan.plan(all20, [small(100), small(1000)], 8, 64, 2.5, 80.0, 2.86)
    total_units = sum(units.values())
    assert f"all20 ({total_units:,} units)" in text
    assert f"{5 * total_units:,}" in text  # read: 5 requests per unit, nothing fixed
    assert "mimic_iii_notes" in text and "critical path" in text

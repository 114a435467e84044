"""manifests/all20.yaml and manifests/fixtures20.yaml: the 20 sources, their connectors, and a
read of every fixture source in which every record is accounted for."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from connectors import registry
from connectors.base import PLACEHOLDER_MIMIC_III, PLACEHOLDER_MIMIC_IV
from engine.core.manifest import ManifestError, load_manifest
from engine.core.records import DROP_BUCKETS, Doc, Drop, Tombstone

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "pubmed", "pmc_oa", "mimic_iii_notes", "mimic_iv_discharge", "mimic_iv_radiology", "mimic_cxr_reports", "chexpert_plus",
    "n2c2_2018_ade", "n2c2_2014_deid", "mednli", "mtsamples", "aci_bench", "mts_dialog", "pmc_patients", "asclepius_notes",
    "augmented_clinical_notes", "clinical_guidelines", "clinical_trials", "medquad", "codiesp",
]
ROOT_VARS = ("PUBMED", "PMC_OA", "PHYSIONET", "CHEXPERT_PLUS", "N2C2", "HF_DATASETS", "CTGOV", "PUBLIC_DATA", "CORPUS_OUT")

#: (documents, filtered, quarantined, tombstones) each fixture source yields
EXPECTED = {
    "pubmed": (6, 0, 0, 1), "pmc_oa": (2, 1, 0, 0), "mimic_iii_notes": (4, 1, 0, 0), "mimic_iv_discharge": (4, 0, 0, 0),
    "mimic_iv_radiology": (3, 0, 0, 0), "mimic_cxr_reports": (3, 0, 0, 0), "chexpert_plus": (5, 0, 0, 0),
    "n2c2_2018_ade": (2, 2, 0, 0), "n2c2_2014_deid": (2, 0, 0, 0), "mednli": (6, 0, 0, 0), "mtsamples": (3, 1, 0, 0),
    "aci_bench": (4, 0, 0, 0), "mts_dialog": (4, 0, 0, 0), "pmc_patients": (3, 0, 0, 0), "asclepius_notes": (2, 2, 0, 0),
    "augmented_clinical_notes": (4, 0, 0, 0), "clinical_guidelines": (2, 0, 0, 0), "clinical_trials": (2, 1, 0, 0),
    "medquad": (2, 2, 0, 0), "codiesp": (4, 0, 0, 0),
}


def test_registry_has_a_connector_for_every_source():
    m, _ = load_manifest(ROOT / "manifests" / "fixtures20.yaml")
    assert [s.name for s in m.sources] == NAMES
    for s in m.sources:
        assert s.connector in registry.available()
    conns = registry.available()
    assert conns["mimic_iii_notes"].placeholder == PLACEHOLDER_MIMIC_III
    assert conns["mimic_iv_note"].placeholder == conns["mimic_cxr_reports"].placeholder == PLACEHOLDER_MIMIC_IV
    assert conns["pubmed"].placeholder is None and conns["pmc_oa"].placeholder is None
    assert conns["codiesp"].language == "es"


def test_fixture_manifest_reads_every_source_and_accounts_for_every_record():
    m, _ = load_manifest(ROOT / "manifests" / "fixtures20.yaml")
    assert m.tokenizer.endswith("tests/fixtures/tokenizer.json") and m.max_seq_len == 8192
    assert m.dedup.near is not None and (m.dedup.near.threshold, m.dedup.near.num_perm, m.dedup.near.ngram) == (0.8, 128, 5)
    got = {}
    for s in m.sources:
        c = registry.get(s.connector)(s, m)
        units = c.discover()
        assert units and units == c.discover()  # deterministic
        assert len({u.unit_id for u in units}) == len(units)
        n = Counter()
        for u in units:
            for r in c.read(u):
                if isinstance(r, Doc):
                    assert r.doc_id.startswith(f"{s.name}:") and r.text and isinstance(r.meta, dict) and "language" in r.meta
                    n["doc"] += 1
                elif isinstance(r, Drop):
                    assert r.bucket in DROP_BUCKETS and r.reason and r.location
                    n[r.bucket] += 1
                else:
                    assert isinstance(r, Tombstone)
                    n["tomb"] += 1
        got[s.name] = (n["doc"], n["filtered"], n["quarantined"], n["tomb"])
    assert got == EXPECTED


def test_all20_manifest_real_layout(monkeypatch, tmp_path):
    for v in ROOT_VARS:
        monkeypatch.setenv(v, str(tmp_path / v.lower()))
    m, _ = load_manifest(ROOT / "manifests" / "all20.yaml")
    assert [s.name for s in m.sources] == NAMES
    assert m.tokenizer == "answerdotai/ModernBERT-base" and m.max_seq_len == 8192
    assert m.dedup.exact and (m.dedup.near.threshold, m.dedup.near.num_perm, m.dedup.near.ngram) == (0.8, 128, 5)
    src = {s.name: s for s in m.sources}
    assert src["mimic_iv_discharge"].uris == [f"{tmp_path}/physionet/mimic-iv-note/2.2/note/discharge.csv.gz"]
    assert src["pubmed"].uris == [f"{tmp_path}/pubmed/baseline/pubmed*.xml.gz", f"{tmp_path}/pubmed/updatefiles/pubmed*.xml.gz"]
    policies = {s.name: m.deid_policy(s) for s in m.sources}
    assert policies["pubmed"] == policies["pmc_oa"] == "skip"
    assert policies["n2c2_2014_deid"] == "redact"
    for n in ("mimic_iii_notes", "mimic_iv_discharge", "mimic_iv_radiology", "mimic_cxr_reports", "chexpert_plus", "n2c2_2018_ade", "mednli"):
        assert policies[n] == "verify"
    assert all(s.priority > 0 and s.weight > 0 for s in m.sources)
    # a missing input is an error naming the source
    s = src["mimic_iii_notes"]
    with pytest.raises(FileNotFoundError, match="mimic_iii_notes"):
        registry.get(s.connector)(s, m).discover()


def test_all20_unset_variable_names_the_source(monkeypatch, tmp_path):
    for v in ROOT_VARS:
        monkeypatch.setenv(v, str(tmp_path))
    monkeypatch.delenv("PHYSIONET")
    with pytest.raises(ManifestError, match=r"PHYSIONET.*mimic_iii_notes"):
        load_manifest(ROOT / "manifests" / "all20.yaml")


def test_fixtures_are_what_the_generator_writes(tmp_path):
    """The committed fixtures are exactly the generator's output (nothing edited by hand)."""
    import importlib.util

    gen = ROOT / "tests" / "fixtures" / "all20" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_fixtures_all20", gen)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.HERE = tmp_path
    mod.main()
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(gen.parent) for p in gen.parent.rglob("*") if p.is_file() and p.name != "make_fixtures.py" and "__pycache__" not in p.parts)
    assert made == committed
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (gen.parent / rel).read_bytes(), rel

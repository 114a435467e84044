"""De-identification stage: planted identifiers found, placeholders ignored, policies, no PHI in logs."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pyarrow as pa
import pytest

from engine.deid import patterns as P
from engine.deid.evaluate import read_gold, score
from bench.synth.phi_notes import check_gold, generate
from engine.core.manifest import DeidConfig, Manifest
from engine.core.records import DOC_SCHEMA
from engine.stages.base import SourceContext

GOLD = Path(__file__).parent / "data" / "deid" / "gold.jsonl"

# one planted value of every type, each in a clinical context the offline default must see
PLANTED = {
    "PERSON": ["Margaret Okafor", "Hiroshi Yamamoto", "Kowalski", "Deborah Haddad", "Priya Singh", "Olga Ivanova"],
    "DATE_TIME": ["03/14/2019", "2019-03-02", "March 3, 2019", "7/4/21"],
    "PHONE_NUMBER": ["(617) 555-2931", "617-432-1189"],
    "EMAIL_ADDRESS": ["m.okafor@gmail.com"],
    "URL": ["https://www.okafor-family.com/photos"],
    "IP_ADDRESS": ["192.168.14.201"],
    "US_SSN": ["536-22-8765"],
    "MEDICAL_RECORD_NUMBER": ["4482913", "7730118"],
    "ACCOUNT_NUMBER": ["A88120931"],
    "ACCESSION_NUMBER": ["S19-22341"],
    "AGE": ["93"],
    "STREET_ADDRESS": ["12 Chestnut Street"],
    "LOCATION": ["Worcester"],
    "ZIP_CODE": ["01609"],
}
NOTE = (
    "DISCHARGE SUMMARY\n"
    "Name: Margaret Okafor    MRN: 4482913    DOB: 03/14/2019\n"
    "Unit No: 7730118   Acct #: A88120931\n"
    "Admission Date: 2019-03-02\n"
    "HPI: 93 yo F with CHF, BP 142/88, HR 96, SpO2 93% on RA, Na 138, K 4.2. Lasix 40 mg IV x1.\n"
    "Seen by Dr. Hiroshi Yamamoto on March 3, 2019; discussed with Dr. Kowalski.\n"
    "Social: lives at 12 Chestnut Street, Worcester, MA 01609 with her daughter Deborah Haddad.\n"
    "Emergency Contact: Priya Singh (617) 555-2931. Fax 617-432-1189. Email m.okafor@gmail.com\n"
    "Portal https://www.okafor-family.com/photos login from 192.168.14.201. SSN 536-22-8765.\n"
    "Accession No: S19-22341 collected 7/4/21.\n"
    "Electronically signed by: Olga Ivanova, MD\n"
)
CLEAN = "Assessment: CHF exacerbation, improving. BP 118/72, HR 80. Continue Lasix 40 mg PO daily. Na 138, Cr 1.1.\n"
PLACEHOLDER_ONLY = (
    "Name: [**Known lastname 123**], [**Known firstname 44**]   MRN: [**Medical Record Number 12**]\n"
    "Admission Date: [**2151-3-4**]   Discharge Date: ___\n"
    "Seen by Dr. ___ and Dr. [**Last Name (STitle) 99**]; discussed with ___.\n"
    "Phone: [**Telephone/Fax (1) 2345**]   SSN: XXXX   Age: [**Age over 90 **]\n"
    "Lives at ___, ___, MA ___ with her daughter ___.\n"
    "Electronically signed by: ___, MD on ___\n"
    "Redacted before: Dr. [NAME] on [DATE], MRN [ID], call [PHONE].\n"
)


def _manifest(**deid) -> Manifest:
    return Manifest.model_validate(
        {
            "name": "t",
            "output": "/tmp/deid-test-out",
            "tokenizer": "tok.json",
            "deid": deid,
            "sources": [{"name": "notes", "connector": "jsonl", "uri": "x.jsonl"}],
        }
    )


def _ctx(m: Manifest, policy: str, placeholder: str | None = None) -> SourceContext:
    return SourceContext(name="notes", config=m.sources[0], manifest=m, placeholder=placeholder, deid_policy=policy)


def _table(texts, ids=None) -> pa.Table:
    ids = ids or [f"notes:{i}" for i in range(len(texts))]
    return pa.Table.from_pylist(
        [{"doc_id": d, "text": t, "meta": None, "key": None, "rank": 0} for d, t in zip(ids, texts)], schema=DOC_SCHEMA
    )


@pytest.fixture(scope="module")
def engine():
    from engine.deid.detector import DeidEngine

    return DeidEngine().setup()


@pytest.fixture(scope="module")
def gold():
    return read_gold(str(GOLD))


def _stage(engine, **deid):
    from engine.stages.deid import DeidStage

    m = _manifest(**deid)
    st = DeidStage(m, engine=engine)
    st.setup()
    return st, m


# -- detection -------------------------------------------------------------------------------------------
def test_every_planted_type_found(engine):
    (hits,) = engine.annotate([NOTE])
    for ent, values in PLANTED.items():
        for v in values:
            s, e = re.search(r"(?<![\w@.])" + re.escape(v) + r"(?![\w])", NOTE).span()
            assert any(h.entity == ent and h.start <= s and h.end >= e for h in hits), (ent, v)
    assert {h.entity for h in hits} == set(PLANTED)
    assert set(PLANTED) == set(P.ENTITIES)


def test_no_false_alarm_on_clinical_numbers(engine):
    assert engine.annotate([CLEAN]) == [[]]


NO_PHI_LINES = """Patient Denies chest pain. Patient Reports improvement.
Pt Tolerated the procedure well. Pt Ambulating with walker.
Seen by Cardiology and Nephrology. Discussed with Renal fellow.
Hx of Parkinson disease, Hodgkin lymphoma, Crohn disease. Glasgow Coma Scale 15. Apgar 8/9.
MS Contin 15 mg PO BID. D5W at 75 cc/hr. PA catheter removed. Foley to gravity.
Follow up with PCP in 2 weeks. Dr. appointment tomorrow. Called Family, no answer.
Family Meeting held. Contact Precautions for MRSA. Team Aware.
Signed out to night float. Cc: chart. Name Brand medication preferred.
Vitals: BP 120/80 mmHg, HR 72, T 98.6 F, RR 16, SpO2 98% RA. Wt 82.5 kg. Ht 175 cm.
Labs: Na 140. INR 1.2. Hct 32.1. Trop < 0.01. Lactate 1.9. pH 7.35/40/90.
EKG: NSR 72, PR 160, QRS 90, QTc 440. Echo: EF 55-60%, LVIDd 4.8 cm.
Insulin sliding scale. Heparin 5,000 units SC TID. Vancomycin trough 15.2.
Age 45. 89 year old. Aged 67. Case discussed at tumor board. Specimen sent to lab.
1000 mL NS bolus, 250 mL/hr. Temp max 101.2. Pain 7/10. GCS 3-4-6. Stage IIIA. BMI 31.4.
Plan: Continue ASA 81 mg, Plavix 75 mg. NPO after midnight. Code Status: Full Code.
""".splitlines()


def test_no_false_alarms_on_clinical_sentences(engine):
    hits = engine.annotate(NO_PHI_LINES)
    assert [(i, h.entity) for i, hs in enumerate(hits) for h in hs] == []


def test_placeholders_never_hits(engine):
    assert engine.annotate([PLACEHOLDER_ONLY]) == [[]]


def test_source_placeholder_regex(engine):
    text = "DOB: {{DATE:2019-03-04}} seen by {{NAME:Smith}}"
    assert engine.annotate([text])[0]  # without the source's convention these are hits
    assert engine.annotate([text], r"\{\{[A-Z]+:[^}]*\}\}") == [[]]


def test_gold_recall_per_type(engine, gold):
    hits = engine.annotate([d["text"] for d in gold])
    res = score(gold, [[(h.start, h.end, h.entity) for h in hs] for hs in hits])
    for ent in P.ENTITIES:
        assert res[ent]["gold"] > 0, ent
        floor = 0.95 if ent == "PERSON" else 0.99  # names with no clinical context need NER
        assert res[ent]["recall"] >= floor, (ent, res[ent])
        assert res[ent]["precision"] >= 0.95, (ent, res[ent])
    assert res["_summary"]["leaked_chars"] / res["_summary"]["gold_chars"] < 0.02


def test_prescreen_changes_nothing(gold):
    from engine.deid.detector import DeidEngine

    texts = [d["text"] for d in gold[:80]] + [CLEAN, PLACEHOLDER_ONLY, NOTE, "", "no candidates at all here"]
    on = DeidEngine(prescreen="doc").setup().annotate(texts)
    off = DeidEngine(prescreen="off").setup().annotate(texts)
    assert on == off


def test_gate_is_necessary(engine, gold):
    """The line holding any hit passes the document gate (so the gate loses nothing)."""
    for d in gold[:60] + [{"text": NOTE}]:
        t = d["text"]
        for h in engine.annotate([t])[0]:
            line_s = t.rfind("\n", 0, h.start) + 1
            line_e = t.find("\n", h.end)
            line = t[line_s : len(t) if line_e < 0 else line_e]
            assert P.could_match(line), h
    assert not P.could_match(CLEAN)


# -- stage policies --------------------------------------------------------------------------------------
def test_skip_returns_table_unchanged(engine):
    st, m = _stage(engine)
    t = _table([NOTE, CLEAN])
    r = st.process(t, _ctx(m, "skip"))
    assert r.table is t and r.drops == [] and r.counters == {}


def test_verify_rejects_over_threshold(engine):
    st, m = _stage(engine, reject_threshold=2)
    few = "Seen by Dr. Kowalski on 03/14/2019.\n"  # 2 hits: passes at threshold 2
    many = "Seen by Dr. Kowalski on 03/14/2019. MRN: 4482913.\n"  # 3 hits: rejected
    t = _table([many, CLEAN, few], ["notes:a", "notes:b", "notes:c"])
    r = st.process(t, _ctx(m, "verify", r"_{3,}"))
    assert r.table.schema == DOC_SCHEMA
    assert r.table.column("doc_id").to_pylist() == ["notes:b", "notes:c"]
    assert r.table.column("text").to_pylist() == [CLEAN, few]
    (d,) = r.drops
    assert d.doc_id == "notes:a" and d.bucket == "deid_rejected" and d.stage == "deid"
    assert d.reason == "3 PHI hits (DATE_TIME=1, MEDICAL_RECORD_NUMBER=1, PERSON=1) > reject_threshold 2"
    assert d.text == many  # the worker decides what of it is written (never under OUT)
    assert [tuple(x[2:]) for x in json.loads(d.spans)] == [("PERSON",), ("DATE_TIME",), ("MEDICAL_RECORD_NUMBER",)]
    assert r.counters == {"phi:DATE_TIME": 2, "phi:MEDICAL_RECORD_NUMBER": 1, "phi:PERSON": 2,
                          "phi_rejected:DATE_TIME": 1, "phi_rejected:MEDICAL_RECORD_NUMBER": 1, "phi_rejected:PERSON": 1}


def test_verify_default_threshold_rejects_any_hit(engine):
    st, m = _stage(engine)
    r = st.process(_table([NOTE, CLEAN, PLACEHOLDER_ONLY]), _ctx(m, "verify"))
    assert [d.doc_id for d in r.drops] == ["notes:0"]
    assert r.table.column("doc_id").to_pylist() == ["notes:1", "notes:2"]
    assert sum(v for k, v in r.counters.items() if k.startswith("phi:")) == sum(len(v) for v in PLANTED.values())
    assert sum(v for k, v in r.counters.items() if k.startswith("phi_rejected:")) == sum(len(v) for v in PLANTED.values())


def test_redact_leaves_no_planted_value(engine):
    st, m = _stage(engine)
    r = st.process(_table([NOTE, CLEAN, PLACEHOLDER_ONLY]), _ctx(m, "redact"))
    assert r.drops == []
    assert r.table.schema == DOC_SCHEMA
    assert r.table.column("doc_id").to_pylist() == ["notes:0", "notes:1", "notes:2"]
    red, clean, ph = r.table.column("text").to_pylist()
    assert clean == CLEAN and ph == PLACEHOLDER_ONLY
    for values in PLANTED.values():
        for v in values:
            assert not re.search(r"(?<![\w@.])" + re.escape(v) + r"(?![\w%])", red), v
    assert "93 yo" not in red and "[AGE] yo" in red
    for tok in ("[NAME]", "[DATE]", "[PHONE]", "[ID]", "[EMAIL]", "[URL]", "[IP]", "[SSN]", "[AGE]", "[ADDRESS]", "[ZIP]"):
        assert tok in red
    assert "BP 142/88" in red and "Lasix 40 mg" in red  # clinical content kept
    assert r.counters["phi:PERSON"] == len(PLANTED["PERSON"])
    # the redacted text passes the gate: redacting it again changes nothing
    r2 = st.process(r.table, _ctx(m, "redact"))
    assert r2.table.column("text").to_pylist() == [red, clean, ph] and r2.counters == {}


def test_redact_on_gold_set(engine, gold):
    st, m = _stage(engine)
    docs = gold[:100]
    r = st.process(_table([d["text"] for d in docs], [d["doc_id"] for d in docs]), _ctx(m, "redact"))
    out = dict(zip(r.table.column("doc_id").to_pylist(), r.table.column("text").to_pylist()))
    leaked = total = 0
    for d in docs:
        if d["doc_id"] not in out:
            continue
        for s, e, _ in d["spans"]:
            v = d["text"][s:e]
            if len(v) >= 5:
                total += 1
                leaked += v in out[d["doc_id"]]
    assert total > 300 and leaked / total < 0.02


def test_redact_gate_rejects_what_survives(engine, monkeypatch):
    """A document whose redaction leaves a hit behind is rejected, not written."""
    import engine.deid.detector as E

    st, m = _stage(engine)
    monkeypatch.setattr(E, "redact", lambda text, hits: text)  # a broken redactor
    r = st.process(_table([NOTE, CLEAN]), _ctx(m, "redact"))
    assert [d.doc_id for d in r.drops] == ["notes:0"]
    assert r.drops[0].reason.endswith("remain after redaction") and r.drops[0].bucket == "deid_rejected"
    assert r.table.column("doc_id").to_pylist() == ["notes:1"]


def test_deterministic_and_order_kept(engine, gold):
    st, m = _stage(engine, reject_threshold=5)
    t = _table([d["text"] for d in gold[:50]], [d["doc_id"] for d in gold[:50]])
    a = st.process(t, _ctx(m, "verify"))
    b = st.process(t, _ctx(m, "verify"))
    assert a.table.equals(b.table) and a.counters == b.counters
    assert [(d.doc_id, d.reason) for d in a.drops] == [(d.doc_id, d.reason) for d in b.drops]
    ids = a.table.column("doc_id").to_pylist()
    assert ids == sorted(ids, key=[d["doc_id"] for d in gold].index)


def test_empty_table_and_empty_text(engine):
    st, m = _stage(engine)
    r = st.process(_table([]), _ctx(m, "verify"))
    assert r.table.num_rows == 0 and r.drops == []
    r = st.process(_table(["", "   "]), _ctx(m, "redact"))
    assert r.table.column("text").to_pylist() == ["", "   "] and r.counters == {}


# -- nothing sensitive leaves the stage --------------------------------------------------------------------
def test_no_phi_in_logs_reasons_or_counters(engine, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    st, m = _stage(engine)
    results = [st.process(_table([NOTE, PLACEHOLDER_ONLY]), _ctx(m, pol)) for pol in ("verify", "redact")]
    st2, m2 = _stage(engine)
    st2.engine.annotate([NOTE])
    captured = capsys.readouterr()
    blob = caplog.text + captured.out + captured.err
    for r in results:
        blob += json.dumps(r.counters) + " ".join(d.reason + d.doc_id for d in r.drops)
    assert "deid" in caplog.text  # the stage does log (counts)
    for values in PLANTED.values():
        for v in values:
            if len(v) >= 4:  # "93" (an age) is also a count-sized number
                assert v not in blob, v
    for k in results[0].counters:
        assert re.fullmatch(r"phi(_rejected)?:[A-Z_]+", k)


# -- manifest ----------------------------------------------------------------------------------------------
def test_deid_config_fields():
    c = DeidConfig(prescreen="off", ner_entities=["PERSON", "LOCATION"])
    assert c.prescreen == "off" and c.nlp_model is None and c.reject_threshold == 0
    with pytest.raises(Exception):
        DeidConfig(prescreen="never")
    with pytest.raises(Exception):
        DeidConfig(unknown_field=1)
    with pytest.raises(Exception, match="unknown entity types"):
        DeidConfig(entities=["PERSON", "SHOE_SIZE"])
    assert DeidConfig(entities=["PERSON", "US_SSN"]).entities == ["PERSON", "US_SSN"]


def test_unknown_entity_is_an_error():
    from engine.deid.detector import DeidEngine

    with pytest.raises(ValueError, match="unknown deid entities"):
        DeidEngine(entities=["PERSON", "SHOE_SIZE"])


def test_entity_subset(gold):
    from engine.deid.detector import DeidEngine

    hits = DeidEngine(entities=["DATE_TIME", "US_SSN"]).setup().annotate([NOTE])[0]
    assert {h.entity for h in hits} == {"DATE_TIME", "US_SSN"}


# -- gold set and CLI ----------------------------------------------------------------------------------------
def test_shipped_gold_set_is_valid_and_reproducible(gold):
    assert len(gold) == 200
    for d in gold:
        check_gold(d)
    assert gold[:20] == list(generate(20, seed=7))
    texts = "\n".join(d["text"] for d in gold)
    assert "[**" in texts and "___" in texts and "XXXX" in texts
    assert {t for d in gold for _, _, t in d["spans"]} == set(P.ENTITIES)


def test_eval_cli_on_shipped_set(capsys):
    from engine.deid.__main__ import main

    assert main(["eval", "--gold", str(GOLD), "--text", str(GOLD), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ANY"]["recall"] >= 0.98 and res["ANY"]["precision"] >= 0.98
    assert set(P.ENTITIES) <= set(res)
    assert main(["eval", "--gold", str(GOLD)]) == 0
    out = capsys.readouterr().out
    assert "PERSON" in out and "F1" in out


def test_eval_cli_generate_roundtrip(tmp_path, capsys):
    from engine.deid.__main__ import main

    p = tmp_path / "g.jsonl"
    assert main(["generate", "--n", "5", "--seed", "3", "--out", str(p)]) == 0
    assert len(read_gold(str(p))) == 5
    assert main(["scan", str(p)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["docs"] == 5 and out["docs_with_hits"] == 5


def test_score_counts():
    gold = [{"doc_id": "a", "text": "x" * 40, "spans": [[0, 5, "PERSON"], [10, 20, "DATE_TIME"]]}]
    res = score(gold, [[(0, 5, "PERSON"), (12, 15, "PHONE_NUMBER"), (30, 35, "PERSON")]])
    assert res["PERSON"]["recall"] == 1.0 and res["PERSON"]["precision"] == 0.5
    assert res["DATE_TIME"]["recall"] == 0.0
    assert res["ANY"]["found"] == 2 and res["ANY"]["correct"] == 2
    assert res["_summary"]["leaked_chars"] == 7


def test_detector_setup_keeps_torch_and_transformers_out():
    """The spaCy-only detector never imports the Hugging Face stack presidio's package drags in."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from engine.deid.detector import DeidEngine\n"
        "e = DeidEngine().setup()\n"
        "assert e.annotate(['Seen by Dr. Smith on 3/4/2011.'])[0], 'no hit'\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('torch') is not None:\n"
        "    import torch\n"
        "    print(torch.ones(2).sum().item())\n"
        "else:\n"
        "    print(2.0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded, total = out.stdout.split("\n")[:2]
    assert loaded == "[]"
    assert total == "2.0"  # torch stays importable afterwards when installed

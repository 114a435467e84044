"""A ``deid_rejected`` document leaves no text under OUT; ``deid.rejected_text_uri`` sends the
text elsewhere; the ledger and report split PHI hits into passed vs rejected documents."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from engine.core.manifest import Manifest

NOTES = [
    {"id": "a", "text": "Seen by Dr. Hiroshi Yamamoto on 03/14/2019; wife Margaret Okafor called (617) 555-2931."},
    {"id": "b", "text": "Assessment: CHF exacerbation, improving. Continue Lasix 40 mg PO daily."},
]
SECRET = "Hiroshi Yamamoto on 03/14/2019"


def _manifest(tmp_path: Path, **deid) -> Manifest:
    src = tmp_path / "notes.jsonl"
    src.write_text("".join(json.dumps(n) + "\n" for n in NOTES))
    return Manifest.model_validate(
        {
            "name": "q", "output": str(tmp_path / "out"), "tokenizer": "tok.json",
            "dedup": {"exact": True, "near": None},
            "deid": {"default": "verify", "reject_threshold": 0, **deid},
            "sources": [{"name": "notes", "connector": "jsonl", "uri": str(src), "options": {"id_field": "id"}}],
        }
    )


def _run_phase1(m: Manifest) -> list[dict]:
    """The read step of a build (connector -> stages -> staging and quarantine), without Ray."""
    from engine.run.worker import Worker
    from engine.steps.read import read_unit

    w = Worker(m, m.output)
    conn = w.connector("notes")
    return [read_unit(w, u).to_json() for u in conn.discover()]


def _every_value(root: Path):
    """Every string under ``root``: parquet cells, and the raw bytes of other files."""
    for f in root.rglob("*"):
        if not f.is_file():
            continue
        if f.suffix == ".parquet":
            t = pq.read_table(f)
            for col in t.columns:
                for v in col.to_pylist():
                    if isinstance(v, str):
                        yield f, v
        else:
            yield f, f.read_bytes().decode("utf-8", "replace")


def test_rejected_document_leaves_no_text_under_out(tmp_path):
    m = _manifest(tmp_path)
    markers = _run_phase1(m)
    assert sum(mk["counts"].get("deid_rejected", 0) for mk in markers) == 1
    leaks = [str(f) for f, v in _every_value(Path(m.output)) if SECRET in v or "Okafor" in v]
    assert leaks == []
    (q,) = list(Path(m.output).rglob("quarantine/notes/*.parquet"))
    rec = pq.read_table(q).to_pylist()[0]
    assert rec["doc_id"] == "notes:a" and rec["bucket"] == "deid_rejected" and rec["text"] is None
    spans = json.loads(rec["phi_spans"])
    assert {t for _, _, t in spans} == {"PERSON", "DATE_TIME", "PHONE_NUMBER"}
    assert all(isinstance(s, int) and isinstance(e, int) and s < e for s, e, _ in spans)
    counts = {k: v for mk in markers for k, v in mk["counts"].items() if k.startswith("phi")}
    assert counts["phi_rejected:PERSON"] == counts["phi:PERSON"] >= 2


def test_rejected_text_uri_outside_out(tmp_path):
    side = tmp_path / "rejected-text"
    m = _manifest(tmp_path, rejected_text_uri=str(side))
    _run_phase1(m)
    assert [str(f) for f, v in _every_value(Path(m.output)) if SECRET in v] == []
    (f,) = list(side.rglob("*.parquet"))
    rows = pq.read_table(f).to_pylist()
    assert [r["doc_id"] for r in rows] == ["notes:a"] and SECRET in rows[0]["text"] and rows[0]["phi_spans"]


def test_rejected_text_uri_inside_out_is_an_error(tmp_path):
    with pytest.raises(Exception, match="must be outside output"):
        _manifest(tmp_path, rejected_text_uri=str(tmp_path / "out" / "rej"))


def test_ledger_and_report_split_phi_hits():
    from engine.output.ledger import aggregate
    from engine.output.report import phi_split_rows

    m = Manifest.model_validate(
        {"name": "q", "output": "/tmp/x", "tokenizer": "t.json",
         "sources": [{"name": "notes", "connector": "jsonl", "uri": "x"}]}
    )
    marker = {"source": "notes", "read": 2000, "counts": {"deid_rejected": 3, "written": 1997, "phi:PERSON": 50,
                                                          "phi:DATE_TIME": 30, "phi_rejected:PERSON": 20}}
    src = aggregate(m, [marker], [], [])
    assert src["notes"]["phi_hits"] == {"DATE_TIME": 30, "PERSON": 50}
    assert src["notes"]["phi_hits_rejected"] == {"PERSON": 20}
    assert phi_split_rows(src) == [["notes", 60, 20, 3, 30.0, 10.0]]

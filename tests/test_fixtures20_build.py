"""A build over all 20 fixture sources (manifests/fixtures20.yaml), local executor: de-id, exact + near dedup on, audit OK."""
import json
from pathlib import Path

import pytest

from conftest import run_build
from engine.output import audit

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_fixtures20_build_end_to_end(tmp_path):
    out = tmp_path / "f20"
    doc = run_build(ROOT / "manifests" / "fixtures20.yaml", out)
    assert doc["complete"] and len(doc["sources"]) == 20
    for name, s in doc["sources"].items():
        assert s["read"] > 0, name
        assert s["read"] == sum(s[b] for b in ("written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined")), name
        assert s["written"] > 0 and s["tokens"] > 0, name
    s = doc["sources"]
    assert s["pubmed"]["filtered"] >= 2  # a superseded version and a DeleteCitation
    assert s["mimic_iii_notes"]["filtered"] >= 1  # ISERROR=1
    assert s["medquad"]["filtered"] >= 1  # empty answers
    res = audit.audit(str(out))
    assert res["ok"], res["errors"]
    (tmp_path / "ledger.json").write_text(json.dumps(res["sources"]))

"""Near dedup inside a real build (local executor): ledger near_dup per source, keeper by priority, audit."""
from __future__ import annotations

import json
import random
from pathlib import Path

from conftest import write_manifest
from engine.core import fsio
from engine.core.fsio import read_parquet
from engine.output import audit

WORDS = [f"{a}{b}" for a in ("pa", "ti", "car", "dio", "neu", "ro", "hem", "lo", "ab", "do")
         for b in ("ic", "al", "ous", "ia", "oma", "itis", "osis", "ine", "ate", "ol")]


def _note(rng, n=120):
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def near_manifest(tmp_path: Path) -> Path:
    """Two sources with planted near duplicates: 5 within ``notes``, 6 ``copies`` of ``notes`` documents."""
    rng = random.Random(1)
    notes = [_note(rng) for _ in range(30)]
    a = [{"id": f"n{i}", "text": f"Date: 2150-01-0{i % 9 + 1}. " + t} for i, t in enumerate(notes)]
    a += [{"id": f"n{i}-v2", "text": f"Date: 2151-12-2{i % 9}. " + notes[i]} for i in range(5)]  # within-source near dups
    b = [{"id": f"c{i}", "text": f"Date: 2150-01-0{i % 9 + 1}. " + notes[i] + " Copied."} for i in range(10, 16)]  # cross-source
    b += [{"id": f"u{i}", "text": _note(rng)} for i in range(20)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b))
    opts = {"text_field": "text", "id_field": "id"}
    return write_manifest(
        tmp_path / "near.yaml",
        [{"name": "notes", "connector": "jsonl", "uri": str(tmp_path / "a.jsonl"), "priority": 5, "options": opts},
         {"name": "copies", "connector": "jsonl", "uri": str(tmp_path / "b.jsonl"), "priority": 1, "options": opts}],
        dedup={"exact": True, "near": {"threshold": 0.8}},
    )


def test_build_with_near_dedup(near_build):
    out = near_build[1]
    doc = json.loads((out / "build.json").read_text())
    s = doc["sources"]
    assert s["notes"]["near_dup"] == 5 and s["copies"]["near_dup"] == 6, s
    for name, c in s.items():
        assert c["read"] == sum(c[k] for k in ("written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined"))
    res = audit.audit(str(out))
    assert res["ok"], res["errors"]
    rows = []
    for src in ("notes", "copies"):
        for u in fsio.listdir(str(out / "quarantine" / src)):
            rows += [r for r in read_parquet(u).to_pylist() if r["bucket"] == "near_dup"]
    assert len(rows) == 11 and all(r["text"] is None and r["reason"].startswith("near-duplicate") for r in rows)
    cross = [r for r in rows if r["source"] == "copies"]
    assert all(r["dup_of"].startswith("notes:") for r in cross)

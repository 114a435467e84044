"""Precision / recall / F1 per entity type against span-annotated gold (JSONL, one note a line:
``{"doc_id", "text", "spans": [[start, end, TYPE], ...]}``; :func:`read_gold` reads it).

Matching is by overlap: a gold span is *found* when a predicted span of the same type
overlaps it; a prediction is *correct* when it overlaps a gold span of the same type.
``ANY`` ignores types (what matters for de-identification: was the value caught at all), and
``leaked_chars`` counts gold characters no prediction of any type covers (what a ``redact``
run would leave behind).
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Iterable, Sequence


def _overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(gold_docs: Sequence[dict], predicted: Sequence[Iterable[tuple[int, int, str]]]) -> dict:
    """``{type: {"tp_gold", "gold", "tp_pred", "pred", "precision", "recall", "f1"}, ...}``
    plus ``ANY`` and ``_summary``."""
    c = defaultdict(lambda: {"gold": 0, "found": 0, "pred": 0, "correct": 0})
    gold_chars = leaked = 0
    for doc, preds in zip(gold_docs, predicted):
        preds = [(int(s), int(e), t) for s, e, t in preds]
        gold = [(int(s), int(e), t) for s, e, t in doc["spans"]]
        for g in gold:
            for key, ok in ((g[2], lambda p: p[2] == g[2]), ("ANY", lambda p: True)):
                c[key]["gold"] += 1
                if any(ok(p) and _overlap(p, g) for p in preds):
                    c[key]["found"] += 1
            covered = set()
            for p in preds:
                if _overlap(p, g):
                    covered.update(range(max(p[0], g[0]), min(p[1], g[1])))
            gold_chars += g[1] - g[0]
            leaked += (g[1] - g[0]) - len(covered)
        for p in preds:
            for key, ok in ((p[2], lambda g: g[2] == p[2]), ("ANY", lambda g: True)):
                c[key]["pred"] += 1
                if any(ok(g) and _overlap(p, g) for g in gold):
                    c[key]["correct"] += 1
    out = {}
    for k, v in c.items():
        prec = v["correct"] / v["pred"] if v["pred"] else (1.0 if not v["gold"] else 0.0)
        rec = v["found"] / v["gold"] if v["gold"] else (1.0 if not v["pred"] else 0.0)
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[k] = dict(v, precision=round(prec, 4), recall=round(rec, 4), f1=round(f1, 4))
    out["_summary"] = {"docs": len(gold_docs), "gold_chars": gold_chars, "leaked_chars": leaked}
    return out


def table(result: dict) -> str:
    rows = [f"{'entity':24s} {'gold':>6s} {'found':>6s} {'pred':>6s} {'P':>7s} {'R':>7s} {'F1':>7s}"]
    keys = sorted(k for k in result if not k.startswith("_") and k != "ANY") + (["ANY"] if "ANY" in result else [])
    for k in keys:
        v = result[k]
        rows.append(
            f"{k:24s} {v['gold']:6d} {v['found']:6d} {v['pred']:6d} {v['precision']:7.3f} {v['recall']:7.3f} {v['f1']:7.3f}"
        )
    s = result.get("_summary", {})
    rows.append(f"docs={s.get('docs')} gold_chars={s.get('gold_chars')} leaked_chars={s.get('leaked_chars')}")
    return "\n".join(rows)


def read_gold(path: str) -> list[dict]:
    """Span-annotated notes from a JSONL file (a note without ``spans`` has none)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                d = json.loads(line)
                d.setdefault("spans", [])
                out.append(d)
    return out

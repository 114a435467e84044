"""Precision / recall / F1 per entity type and per gold category against span-annotated gold
(JSONL, one note a line: ``{"doc_id", "text", "spans": [[start, end, TYPE(, CATEGORY)], ...]}``;
:func:`read_gold` reads it).

Matching is by overlap: a gold span is *found* when a predicted span of the same type
overlaps it; a prediction is *correct* when it overlaps a gold span of the same type.
``ANY`` ignores types (what matters for de-identification: was the value caught at all), and
``leaked_chars`` counts gold characters no prediction of any type covers (what a ``redact``
run would leave behind).

When the gold carries a fourth field (the corpus's own category, e.g. ``HCPName``, ``Date``,
``Location``), ``categories`` reports, per category, the gold spans, how many any prediction
overlaps (type-agnostic, as a ``redact`` build sees it), recall and leaked characters.
"""
from __future__ import annotations

import bisect
import json
from collections import defaultdict
from typing import Iterable, Sequence


def read_gold(path: str) -> list[dict]:
    """Gold documents from a JSONL file (``spans`` defaults to ``[]``)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                d = json.loads(line)
                d.setdefault("spans", [])
                out.append(d)
    return out


def _covered(preds: list[tuple[int, int, str]], s: int, e: int) -> tuple[set[str], int]:
    """(types of the predictions overlapping [s, e), characters of [s, e) they cover)."""
    types: set[str] = set()
    chars: set[int] = set()
    for ps, pe, t in preds:
        if ps < e and s < pe:
            types.add(t)
            chars.update(range(max(ps, s), min(pe, e)))
    return types, len(chars)


def score(gold_docs: Sequence[dict], predicted: Sequence[Iterable[tuple[int, int, str]]]) -> dict:
    """``{type: {"found", "gold", "correct", "pred", "precision", "recall", "f1"}, ...}`` plus
    ``ANY``, ``_summary`` and (when the gold has categories) ``categories``."""
    c = defaultdict(lambda: {"gold": 0, "found": 0, "pred": 0, "correct": 0})
    cats = defaultdict(lambda: {"gold": 0, "found": 0, "gold_chars": 0, "leaked_chars": 0})
    gold_chars = leaked = 0
    for doc, preds in zip(gold_docs, predicted):
        preds = sorted((int(p[0]), int(p[1]), p[2]) for p in preds)
        gold = sorted((int(g[0]), int(g[1]), g[2], g[3] if len(g) > 3 else None) for g in doc["spans"])
        pstarts = [p[0] for p in preds]
        for s, e, t, cat in gold:
            # predictions that may overlap: those starting before e (spans are short)
            near = preds[max(0, bisect.bisect_left(pstarts, s - 4096)) : bisect.bisect_left(pstarts, e)]
            types, cov = _covered(near, s, e)
            for key, ok in ((t, t in types), ("ANY", bool(types))):
                c[key]["gold"] += 1
                c[key]["found"] += ok
            gold_chars += e - s
            leaked += (e - s) - cov
            if cat is not None:
                k = cats[cat]
                k["gold"] += 1
                k["found"] += bool(types)
                k["gold_chars"] += e - s
                k["leaked_chars"] += (e - s) - cov
        gstarts = [g[0] for g in gold]
        for s, e, t in preds:
            near = gold[max(0, bisect.bisect_left(gstarts, s - 4096)) : bisect.bisect_left(gstarts, e)]
            types = {g[2] for g in near if g[0] < e and s < g[1]}
            for key, ok in ((t, t in types), ("ANY", bool(types))):
                c[key]["pred"] += 1
                c[key]["correct"] += ok
    out = {}
    for k, v in c.items():
        prec = v["correct"] / v["pred"] if v["pred"] else (1.0 if not v["gold"] else 0.0)
        rec = v["found"] / v["gold"] if v["gold"] else (1.0 if not v["pred"] else 0.0)
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[k] = dict(v, precision=round(prec, 4), recall=round(rec, 4), f1=round(f1, 4))
    out["_summary"] = {"docs": len(gold_docs), "gold_chars": gold_chars, "leaked_chars": leaked}
    if cats:
        out["categories"] = {
            k: dict(v, recall=round(v["found"] / v["gold"], 4) if v["gold"] else 1.0) for k, v in sorted(cats.items())
        }
    return out


def table(result: dict) -> str:
    rows = [f"{'entity':24s} {'gold':>6s} {'found':>6s} {'pred':>6s} {'P':>7s} {'R':>7s} {'F1':>7s}"]
    keys = sorted(k for k in result if not k.startswith("_") and k not in ("ANY", "categories"))
    keys += ["ANY"] if "ANY" in result else []
    for k in keys:
        v = result[k]
        rows.append(
            f"{k:24s} {v['gold']:6d} {v['found']:6d} {v['pred']:6d} {v['precision']:7.3f} {v['recall']:7.3f} {v['f1']:7.3f}"
        )
    s = result.get("_summary", {})
    rows.append(f"docs={s.get('docs')} gold_chars={s.get('gold_chars')} leaked_chars={s.get('leaked_chars')}")
    if result.get("categories"):
        rows.append("")
        rows.append(f"{'gold category':24s} {'gold':>6s} {'found':>6s} {'R':>7s} {'leaked chars':>13s}")
        for k, v in result["categories"].items():
            rows.append(f"{k:24s} {v['gold']:6d} {v['found']:6d} {v['recall']:7.3f} {v['leaked_chars']:6d}/{v['gold_chars']:<6d}")
    return "\n".join(rows)


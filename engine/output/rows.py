"""``python -m engine.inspect OUT``: print packed rows as JSON lines for a person to look at.

Each line: shard, row index, source, token count, segment lengths and document ids; with
``--decode`` the text of every segment (decoded with the build's tokenizer, which must be
loadable from build.json's ``tokenizer.name``, or given with ``--tokenizer``).  Every shard is
checked against the sha256 in build.json before it is read; a mismatch is an error (exit 1).
"""
from __future__ import annotations

import argparse
import json
import sys

from engine.core import fsio
from engine.output.reader import ShardChecksumError, iter_batches


def iter_rows(out: str, source: str | None = None):
    """``(shard path, row number in the shard, row dict)`` of every listed shard, each checked
    against build.json before it is read."""
    row, current = 0, None
    for entry, batch in iter_batches(out, source):
        if entry.index != current:
            row, current = 0, entry.index
        for r in batch.to_pylist():
            yield entry.path, row, r
            row += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.inspect", description="Print packed rows of a build as JSON lines.")
    ap.add_argument("out", help="build output (local path or fsspec URI)")
    ap.add_argument("--source", help="only rows of this source")
    ap.add_argument("--decode", action="store_true", help="add the decoded text of each segment")
    ap.add_argument("--limit", type=int, default=10, help="rows to print (default 10; 0 = all)")
    ap.add_argument("--tokenizer", help="tokenizer to decode with (default: the one named in build.json)")
    args = ap.parse_args(argv)
    if not fsio.exists(fsio.join(args.out, "build.json")):
        print(f"error: {args.out} has no build.json", file=sys.stderr)
        return 2
    tok = None
    if args.decode:
        from engine.tokenizer import load_tokenizer

        spec = args.tokenizer or fsio.read_json(fsio.join(args.out, "build.json"))["tokenizer"]["name"]
        tok = load_tokenizer(spec).tokenizer
    try:
        return _print_rows(args.out, args.source, tok, args.limit)
    except ShardChecksumError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _print_rows(out: str, source: str | None, tok, limit: int) -> int:
    n = 0
    for path, row, r in iter_rows(out, source):
        rec = {"shard": path, "row": row, "source": r["source"], "tokens": len(r["input_ids"]),
               "doc_lens": r["doc_lens"], "doc_ids": r["doc_ids"]}
        if tok is not None:
            texts, pos = [], 0
            for ln in r["doc_lens"]:
                texts.append(tok.decode(r["input_ids"][pos:pos + ln], skip_special_tokens=True))
                pos += ln
            rec["texts"] = texts
        print(json.dumps(rec, ensure_ascii=False))
        n += 1
        if limit and n >= limit:
            break
    return 0

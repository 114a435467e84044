"""Fixture builds for the loader / trainer tests: random packed shards + build.json, written with
engine.output.shards (the real shard writer)."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from engine.core import fsio
from engine.output.shards import Row, shard_metadata, shard_schema, write_shard

SPECIAL = {"unk": 0, "cls": 1, "sep": 2, "pad": 3, "mask": 4}
TOK_SHA = "f" * 64


def make_rows(rng: np.random.Generator, n_rows: int, max_seq_len: int, vocab: int, src: str, shard_no: int,
              learnable: bool = False) -> list[Row]:
    rows = []
    for r in range(n_rows):
        total = int(rng.integers(max_seq_len // 2, max_seq_len + 1))
        lens, left = [], total
        while left > 0:
            n = int(min(left, rng.integers(3, max(4, max_seq_len // 2))))
            if left - n in (1, 2):
                n = left
            lens.append(n)
            left -= n
        ids = []
        for d, n in enumerate(lens):
            if learnable:  # a repeating pattern per source: a tiny model can learn it
                start = int(rng.integers(0, 8))
                body = (np.arange(start, start + n - 2) % 16) + 5 + 16 * (hash(src) % 3)
            else:
                body = rng.integers(5, vocab, n - 2)
            ids.append(np.concatenate([[SPECIAL["cls"]], body, [SPECIAL["sep"]]]))
        rows.append(Row(np.concatenate(ids).astype(np.uint16), lens, [f"{src}-{shard_no}-{r}-{d}" for d in range(len(lens))]))
    return rows


def write_build(out: str, sources: dict[str, tuple[int, int]], *, weights: dict[str, float] | None = None,
                max_seq_len: int = 64, vocab: int = 200, batch_rows: int = 4, seed: int = 0,
                complete: bool = True, learnable: bool = False, build_id: str = "test-build",
                tokenizer_file: str | None = None) -> dict:
    """``sources``: {name: (shards, rows per shard)}.  Shards are committed source by source,
    shard by shard (interleaved by shard number).  ``tokenizer_file``: record that tokenizer (its
    sha256, size and special ids) instead of a placeholder.  Returns the build.json dict."""
    rng = np.random.default_rng(seed)
    tok = {"name": "test", "sha256": TOK_SHA, "vocab_size": vocab, "special_ids": SPECIAL}
    if tokenizer_file:
        from engine.tokenizer import load_tokenizer

        lt = load_tokenizer(tokenizer_file)
        tok = {"name": tokenizer_file, "sha256": lt.sha256, "vocab_size": lt.vocab_size, "special_ids": lt.special_ids}
        assert lt.special_ids == SPECIAL and lt.vocab_size >= vocab
    meta = shard_metadata(tok["sha256"], max_seq_len, SPECIAL, build_id)
    schema = shard_schema(vocab, meta)
    shards = []
    nmax = max(n for n, _ in sources.values())
    for k in range(nmax):
        for src, (n, rows) in sources.items():
            if k >= n:
                continue
            rel = f"shards/{src}/{src}-{k:05d}.arrow"
            info = write_shard(fsio.join(out, rel), make_rows(rng, rows, max_seq_len, vocab, src, k, learnable),
                               src, schema, batch_rows)
            shards.append({"path": rel, "source": src, "rows": info.rows, "tokens": info.tokens,
                           "segments": info.segments, "bytes": info.bytes, "sha256": info.sha256})
    weights = weights or {}
    build = {
        "format_version": 1, "complete": complete, "build_id": build_id, "engine_version": "0.1.0",
        "max_seq_len": max_seq_len,
        "tokenizer": tok,
        "manifest": {"name": "t", "sources": [{"name": s, "weight": weights.get(s, 1.0), "priority": 1} for s in sources]},
        "manifest_sha256": hashlib.sha256(b"m").hexdigest(),
        "sources": {s: {"rows": sum(x["rows"] for x in shards if x["source"] == s), "weight": weights.get(s, 1.0)} for s in sources},
        "shards": shards,
    }
    fsio.write_json_atomic(fsio.join(out, "build.json"), build)
    return build


def set_shards(out: str, build: dict, n: int, complete: bool, final_order: bool = False) -> None:
    """Rewrite build.json listing only the first ``n`` shards in commit order (a build in progress);
    ``final_order`` lists them source by source, as a completed build does."""
    listed = build["shards"][:n]
    if final_order:
        order = list(dict.fromkeys(s["source"] for s in listed))
        listed = sorted(listed, key=lambda s: order.index(s["source"]))
    b = dict(build, shards=listed, complete=complete)
    fsio.write_json_atomic(fsio.join(out, "build.json"), b)


def row_key(row: dict) -> tuple:
    """Identity of a row by content (doc lens + first ids): unique in random fixtures."""
    return (row["source"], tuple(int(x) for x in row["doc_lens"]), bytes(np.asarray(row["input_ids"]).tobytes()))


DEMO_LIKE = {"mimic_notes": (4, 60), "pubmed": (2, 60), "case_reports": (1, 30)}
DEMO_WEIGHTS = {"mimic_notes": 2.0, "pubmed": 1.0, "case_reports": 1.0}


def write_demo_like(out: str, **kw) -> dict:
    """A build shaped like the bundled demo (three sources, clinical notes at weight 2), ten times larger."""
    return write_build(out, DEMO_LIKE, weights=DEMO_WEIGHTS, **kw)


def write_tokenizer(path: str, vocab_size: int = 300, unused: int = 0) -> str:
    """A small byte-level BPE trained by engine.tokenizer (specials at ids 0-4), optionally with
    ``[unusedN]`` placeholder tokens appended; returns the tokenizer.json path."""
    from engine.tokenizer import train_bpe

    words = ["patient", "admitted", "with", "chest", "pain", "history", "of", "diabetes", "and", "the",
             "abstract", "study", "results", "trial", "cohort", "mg", "daily", "discharged", "home", "stable"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 30)) for _ in range(300)]
    tok = train_bpe(texts, vocab_size)
    if unused:
        tok.add_tokens([f"[unused{i}]" for i in range(unused)])
    tok.save(path)
    return path

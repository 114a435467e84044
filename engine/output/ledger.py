"""The ledger: per-source counts of where every document went, and ``build.json``.

``read = written + exact_dup + near_dup + deid_rejected + filtered + quarantined`` holds
for every source.  Token counts include the ``[CLS]``/``[SEP]`` the engine adds to every
window (``token_counts_include_special_tokens: true`` in build.json).
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict

from engine import __version__
from engine.core.records import BUCKETS

FORMAT_VERSION = 1
COUNT_FIELDS = ("read", *BUCKETS, "tokens", "rows", "segments", "split_documents", "bytes_read", "chars_written")


def empty_source(weight: float, priority: int) -> dict:
    d = {k: 0 for k in COUNT_FIELDS}
    d.update({"weight": weight, "priority": priority, "phi_hits": {}, "phi_hits_rejected": {}, "reasons": {}})
    return d


def aggregate(manifest, unit_markers: list[dict], token_markers: list[dict], group_markers: list[dict]) -> dict[str, dict]:
    """Per-source ledger from the markers: phase 1 (read, reader/stage drops, PHI hits),
    phase 3a (written, dedup drops, tokens, windows) and the committed pack groups (rows)."""
    out = {s.name: empty_source(s.weight, s.priority) for s in manifest.sources}
    reasons: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    phi: dict[str, Counter] = defaultdict(Counter)
    phi_rej: dict[str, Counter] = defaultdict(Counter)
    for m in [*unit_markers, *token_markers]:
        s = out[m["source"]]
        s["read"] += m.get("read", 0)
        s["bytes_read"] += m.get("bytes_read", 0)
        for k, v in m["counts"].items():
            if k.startswith("phi:"):
                phi[m["source"]][k[4:]] += v
            elif k.startswith("phi_rejected:"):
                phi_rej[m["source"]][k[13:]] += v
            elif k in s:
                s[k] += v
        for b, rs in m.get("reasons", {}).items():
            reasons[m["source"]][b].update(rs)
    for g in group_markers:
        out[g["source"]]["rows"] += sum(sh["rows"] for sh in g["shards"])
    for name, s in out.items():
        # phi_hits: every hit the de-id stage saw; phi_hits_rejected: those in deid_rejected documents
        s["phi_hits"] = dict(sorted(phi[name].items()))
        s["phi_hits_rejected"] = dict(sorted(phi_rej[name].items()))
        s["reasons"] = {b: top_reasons(c) for b, c in sorted(reasons[name].items())}
    return out


def top_reasons(counts: Counter, keep: int = 40) -> dict[str, int]:
    """The most frequent reasons of a bucket; the rest summed under one key (the histogram stays small)."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = dict(ranked[:keep])
    rest = sum(n for _, n in ranked[keep:])
    if rest:
        out["(other reasons)"] = rest
    return out


def invariant_errors(sources: dict[str, dict]) -> list[str]:
    errs = []
    for name, s in sources.items():
        total = sum(s[b] for b in BUCKETS)
        if total != s["read"]:
            parts = " + ".join(f"{b} {s[b]}" for b in BUCKETS)
            errs.append(f"{name}: read {s['read']} != {parts} = {total}")
    return errs


def build_id(fingerprint: str, unit_ids: list[str], tokenizer_sha: str) -> str:
    h = hashlib.sha256()
    for part in (fingerprint, tokenizer_sha, *unit_ids):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def build_json(manifest, tok, bid: str, sources: dict, shards: list[dict], quarantine: list[dict], complete: bool) -> dict:
    mjson = manifest.model_dump(mode="json")
    return {
        "format_version": FORMAT_VERSION,
        "engine_version": __version__,
        "build_id": bid,
        "complete": complete,
        "max_seq_len": manifest.max_seq_len,
        "token_counts_include_special_tokens": True,
        "tokenizer": {"name": tok.name, "sha256": tok.sha256, "vocab_size": tok.vocab_size, "max_id": tok.max_id,
                      "special_ids": tok.special_ids},
        "manifest": mjson,
        "manifest_sha256": hashlib.sha256(json.dumps(mjson, sort_keys=True).encode()).hexdigest(),
        "fingerprint": manifest.fingerprint(),
        "sources": sources,
        "totals": {k: sum(s[k] for s in sources.values()) for k in COUNT_FIELDS},
        "shards": shards,
        "quarantine": quarantine,
        "ledger_sha256": ledger_digest(sources, shards, quarantine),
    }


def ledger_digest(sources: dict, shards: list[dict], quarantine: list[dict]) -> str:
    """sha256 over the counts and the listings of shards and quarantine files (with their own sha256):
    an edit of build.json after the build, however consistent, no longer matches it."""
    blob = json.dumps({"sources": sources, "shards": shards, "quarantine": quarantine}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _fmt(n: int) -> str:
    return f"{n:,}"


def table(sources: dict[str, dict], max_seq_len: int | None = None) -> str:
    """A fixed-width per-source table for terminals and the report."""
    cols = ["source", "read", "written", "exact_dup", "near_dup", "deid_rej", "filtered", "quarant", "tokens", "rows"]
    keys = ["read", "written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined", "tokens", "rows"]
    rows = [[name] + [_fmt(s[k]) for k in keys] for name, s in sources.items()]
    tot = ["TOTAL"] + [_fmt(sum(s[k] for s in sources.values())) for k in keys]
    widths = [max(len(c), *(len(r[i]) for r in rows + [tot])) for i, c in enumerate(cols)]
    line = lambda r: "  ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(r))  # noqa: E731
    out = [line(cols), "  ".join("-" * w for w in widths), *map(line, rows), line(tot)]
    if max_seq_len:
        toks = sum(s["tokens"] for s in sources.values())
        nrows = sum(s["rows"] for s in sources.values())
        if nrows:
            out.append(f"packing efficiency: {toks / (nrows * max_seq_len):.2%} of {nrows:,} rows x {max_seq_len}")
    return "\n".join(out)

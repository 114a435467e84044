"""What a reader of the build report should see first: warnings, the token mix, readable counter names.

Everything here is computed from ``build.json`` (counts only) and what the shard sample saw
(tokenizer hashes in the shards' metadata); nothing reads document text.
"""
from __future__ import annotations

from engine.core.records import DROP_BUCKETS

#: the dedup counters the build records, in words (unknown counters are shown as recorded)
DEDUP_NAMES = {
    "supersede:superseded": "older versions superseded by a newer one",
    "supersede:deleted": "documents deleted by a later tombstone",
    "exact:docs": "documents hashed for exact dedup",
    "exact:dropped": "exact duplicates dropped",
    "near:docs": "documents seen by near dedup",
    "near:excluded": "documents left out of near dedup (already exact duplicates)",
    "near:empty": "documents too short for one n-gram",
    "near:bands": "LSH bands",
    "near:rows": "LSH rows per band",
    "near:band_entries": "LSH band entries",
    "near:buckets": "LSH buckets holding two or more documents",
    "near:candidate_pairs": "candidate pairs from LSH",
    "near:candidates_pairs": "candidate pairs from LSH",
    "near:verified_pairs": "pairs confirmed by estimated Jaccard",
    "near:clusters": "near-duplicate clusters",
    "near:cc_rounds": "connected-components rounds",
    "near:dropped": "near duplicates dropped",
    "near:partitions": "hash partitions of the shuffle",
    "near:unit_groups": "work-unit groups",
}


def dedup_name(key: str) -> str:
    if key in DEDUP_NAMES:
        return DEDUP_NAMES[key]
    if key.startswith("near:dropped:"):
        return f"near duplicates dropped from {key.split(':', 2)[2]}"
    if key.startswith("exact:dropped:"):
        return f"exact duplicates dropped from {key.split(':', 2)[2]}"
    return key


def dedup_rows(counters: dict) -> list[list]:
    """``[name, value]`` per counter, each name once (aliases of one counter are merged)."""
    seen: dict[str, int] = {}
    for k in sorted(counters):
        seen.setdefault(dedup_name(k), counters[k])
    return [[k, v] for k, v in seen.items()]


def mix_rows(doc: dict) -> list[list]:
    """Per source: tokens, share of tokens, weight, and the share after weights (what a trainer
    streaming the build with the manifest's weights sees)."""
    src = doc["sources"]
    total = sum(int(s.get("tokens", 0)) for s in src.values())
    weighted = {n: float(s.get("weight", 1.0)) * int(s.get("tokens", 0)) for n, s in src.items()}
    wtotal = sum(weighted.values())
    return [[n, int(s.get("tokens", 0)), 100.0 * int(s.get("tokens", 0)) / total if total else 0.0, float(s.get("weight", 1.0)),
             100.0 * weighted[n] / wtotal if wtotal else 0.0] for n, s in src.items()]


def warnings(doc: dict, shard_tokenizers: set[str] | None = None, out_tokenizer_sha256: str | None = None) -> list[str]:
    """Plain-text warnings: sources that wrote nothing, sources that lost more than half of what was
    read, and a tokenizer that does not match the shards or the vocabulary."""
    out = []
    for n, s in doc["sources"].items():
        read, written = int(s.get("read", 0)), int(s.get("written", 0))
        if written == 0:
            why = max(DROP_BUCKETS, key=lambda b: s.get(b, 0)) if read else None
            out.append(f"{n}: wrote 0 documents" + (f" of {read:,} read (most went to {why}: {s.get(why, 0):,})" if read else
                                                   " (the input held no documents)"))
        elif read and (read - written) / read > 0.5:
            drops = sorted(((s.get(b, 0), b) for b in DROP_BUCKETS), reverse=True)
            top = ", ".join(f"{b} {c:,}" for c, b in drops if c)[:200]
            out.append(f"{n}: {read - written:,} of {read:,} documents dropped ({(read - written) / read:.0%}: {top})")
    tok = doc.get("tokenizer") or {}
    sha = tok.get("sha256")
    for other in sorted(shard_tokenizers or ()):
        if sha and other and other != sha:
            out.append(f"shards were tokenized with tokenizer {other[:12]}, build.json records {sha[:12]}")
    if out_tokenizer_sha256 and sha and out_tokenizer_sha256 != sha:
        out.append(f"the tokenizer in the output ({out_tokenizer_sha256[:12]}) is not the one build.json records ({sha[:12]})")
    vocab = int(tok.get("vocab_size") or 0)
    top_id = max((int(v) for v in (tok.get("special_ids") or {}).values() if isinstance(v, int)), default=-1)
    if vocab and top_id >= vocab:
        out.append(f"special token id {top_id} is outside the vocabulary ({vocab:,} ids)")
    return out

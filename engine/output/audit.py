"""``python -m engine.audit OUT [--json]``: re-derive the ledger from the shards and quarantine.

For every shard listed in ``build.json`` it checks the file exists, its sha256, its
schema, that ``doc_lens`` sum to the row length, no row exceeds ``max_seq_len``, every
segment starts with [CLS] and ends with [SEP], and the source column; it then recounts
rows, tokens and written documents (distinct doc ids) per source from the shards, and
every drop bucket from the quarantine records, and compares all of it with the ledger
and with ``read = written + exact_dup + near_dup + deid_rejected + filtered + quarantined``.
A document id found both in a shard and in quarantine, or a quarantine/shard file that
the ledger does not list, is an error too.  Exit status 0 only when everything matches.

``--json`` prints ``{"ok": bool, "sources": {name: {"read", "written", "exact_dup",
"near_dup", "deid_rejected", "filtered", "quarantined", "tokens", "rows"}}, "errors": [...]}``
with the re-derived integers (``read`` is the ledger's, the only count that cannot be
seen in the output).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict

import numpy as np
import pyarrow.compute as pc

from engine.core import fsio
from engine.output import ledger
from engine.output.idset import IdTally, parts_for
from engine.core.fsio import read_parquet
from engine.core.records import BUCKETS, DROP_BUCKETS
from engine.output.reader import ShardChecksumError, file_sha256, open_shard, shard_entries

AUDIT_FIELDS = ("read", "written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined", "tokens", "rows")


def _id_hashes(ids: list[str]) -> np.ndarray:
    import xxhash

    return np.fromiter((xxhash.xxh3_64_intdigest(i.encode()) for i in ids), dtype=np.uint64, count=len(ids))


def audit(out: str) -> dict:
    errors: list[str] = []
    bj_uri = fsio.join(out, "build.json")
    if not fsio.exists(bj_uri):
        return {"ok": False, "fatal": True, "sources": {}, "errors": [f"{bj_uri} not found: not a build output"]}
    try:
        doc = fsio.read_json(bj_uri)
        L = doc["max_seq_len"]
        cls_id = doc["tokenizer"]["special_ids"]["cls"]
        sep_id = doc["tokenizer"]["special_ids"]["sep"]
        max_id = int(doc["tokenizer"].get("max_id") or doc["tokenizer"]["vocab_size"] - 1)
        doc["shards"], doc["sources"]
    except (ValueError, KeyError, TypeError) as e:
        return {"ok": False, "fatal": True, "sources": {},
                "errors": [f"{bj_uri} is not a readable build ledger ({type(e).__name__}): truncated or edited by hand"]}
    if not doc.get("complete"):
        errors.append("build.json says the build is not complete")
    if doc.get("ledger_sha256") and ledger.ledger_digest(doc["sources"], doc["shards"], doc.get("quarantine", [])) != doc["ledger_sha256"]:
        errors.append("build.json was edited after the build: its counts or listings no longer match its ledger_sha256")
    # one id hash per segment and quarantine record, spilled by hash partition when there are many
    listed_ids = sum(int(sh.get("segments") or sh.get("rows") or 0) for sh in doc["shards"])
    listed_ids += sum(sum(q.get("counts", {}).values()) for q in doc.get("quarantine", []))
    with IdTally(parts_for(listed_ids)) as ids:
        return _audit(out, doc, errors, ids, (L, cls_id, sep_id, max_id))


def _audit(out: str, doc: dict, errors: list[str], ids: IdTally, limits: tuple[int, int, int, int]) -> dict:
    L, cls_id, sep_id, max_id = limits
    derived: dict[str, Counter] = defaultdict(Counter)
    listed_shards = set()

    for sh, entry in zip(doc["shards"], shard_entries(out, doc["shards"])):
        src = sh["source"]
        listed_shards.add(sh["path"])
        if not fsio.exists(entry.uri):
            errors.append(f"shard {sh['path']} is listed but missing")
            continue
        try:
            try:
                reader = open_shard(entry)
            except ShardChecksumError:
                errors.append(f"shard {sh['path']}: its sha256 differs from the ledger's")
                reader = open_shard(entry, verify=False)  # still recount what it holds
        except Exception as e:
            errors.append(f"shard {sh['path']}: unreadable ({type(e).__name__})")
            continue
        if reader.metadata.get("tokenizer_sha256", "") != doc["tokenizer"]["sha256"]:
            errors.append(f"shard {sh['path']}: tokenizer hash in its schema differs from build.json")
        rows = tokens = segs = 0
        for i in range(reader.num_batches):
            try:
                b = reader.batch(i)
                b.validate(full=True)
            except Exception as e:  # corrupt bytes: a mismatch to report, not a crash
                errors.append(f"shard {sh['path']} batch {i}: unreadable ({type(e).__name__})")
                continue
            ids_col, lens_col, dids_col = b.column("input_ids"), b.column("doc_lens"), b.column("doc_ids")
            row_len = pc.list_value_length(ids_col).to_numpy()
            flat_ids = ids_col.values.to_numpy()
            flat_lens = lens_col.values.to_numpy().astype(np.int64)
            seg_counts = pc.list_value_length(lens_col).to_numpy()
            # per-row sum of doc_lens
            seg_row = np.repeat(np.arange(len(row_len)), seg_counts)
            sums = np.bincount(seg_row, weights=flat_lens, minlength=len(row_len)).astype(np.int64)
            if not np.array_equal(sums, row_len):
                errors.append(f"shard {sh['path']} batch {i}: doc_lens do not sum to the row length")
            if (row_len > L).any():
                errors.append(f"shard {sh['path']} batch {i}: a row is longer than max_seq_len {L}")
            if (flat_lens < 2).any():
                errors.append(f"shard {sh['path']} batch {i}: a segment shorter than [CLS] [SEP]")
            ends = np.cumsum(flat_lens)
            starts = ends - flat_lens
            if len(flat_lens) and (flat_ids[starts] != cls_id).any():
                errors.append(f"shard {sh['path']} batch {i}: a segment does not start with [CLS]")
            if len(flat_lens) and (flat_ids[ends - 1] != sep_id).any():
                errors.append(f"shard {sh['path']} batch {i}: a segment does not end with [SEP]")
            if len(flat_ids) and int(flat_ids.max()) > max_id:
                errors.append(f"shard {sh['path']} batch {i}: token id {int(flat_ids.max())} is above the tokenizer's largest id {max_id}")
            if not np.array_equal(pc.list_value_length(dids_col).to_numpy(), seg_counts):
                errors.append(f"shard {sh['path']} batch {i}: doc_ids and doc_lens differ in length")
            srcs = set(b.column("source").dictionary.to_pylist()) if b.num_rows else set()
            if srcs - {src}:
                errors.append(f"shard {sh['path']}: rows of another source ({sorted(srcs - {src})})")
            ids.add(src, "written", _id_hashes(dids_col.values.to_pylist()))
            rows += b.num_rows
            tokens += int(row_len.sum())
            segs += int(seg_counts.sum())
        for k, v in (("rows", rows), ("tokens", tokens), ("segments", segs)):
            if sh.get(k) is not None and sh[k] != v:
                errors.append(f"shard {sh['path']}: {k} {v} != listed {sh[k]}")
        derived[src]["rows"] += rows
        derived[src]["tokens"] += tokens

    # files on disk the ledger does not know
    for uri in fsio.listdir(fsio.join(out, "shards")):
        rel = fsio.relpath(out, uri)
        if rel.endswith(".arrow") and rel not in listed_shards:
            errors.append(f"shard file {rel} is not listed in build.json")

    listed_q = set()
    for q in doc.get("quarantine", []):
        listed_q.add(q["path"])
        uri = fsio.join(out, q["path"])
        if not fsio.exists(uri):
            errors.append(f"quarantine file {q['path']} is listed but missing")
            continue
        if q.get("sha256") and file_sha256(uri) != q["sha256"]:
            errors.append(f"quarantine file {q['path']}: its sha256 differs from the ledger's")
        t = read_parquet(uri, columns=["doc_id", "source", "bucket"])
        counts = Counter(t.column("bucket").to_pylist())
        for b, n in counts.items():
            if b not in DROP_BUCKETS:
                errors.append(f"quarantine file {q['path']}: unknown bucket {b!r}")
            derived[q["source"]][b] += n
        for b, n in q.get("counts", {}).items():
            if b in DROP_BUCKETS and counts.get(b, 0) != n:
                errors.append(f"quarantine file {q['path']}: {counts.get(b, 0)} {b} records, listed {n}")
        ids.add(q["source"], "dropped", _id_hashes(t.column("doc_id").to_pylist()))
    for uri in fsio.listdir(fsio.join(out, "quarantine")):
        rel = fsio.relpath(out, uri)
        if rel.endswith(".parquet") and rel not in listed_q:
            errors.append(f"quarantine file {rel} is not listed in build.json")

    result: dict[str, dict] = {}
    for name, s in doc["sources"].items():
        written, both = ids.distinct_and_overlap(name, "written", "dropped")
        d = derived[name]
        d["written"] = written
        if written < s.get("written", 0):
            errors.append(f"{name}: {s['written'] - written:,} written document(s) share an id with another")
        if both:
            errors.append(f"{name}: {both} document id(s) are both in shards and in quarantine")
        dropped, dropped_distinct = ids.counts(name, "dropped")
        if dropped > dropped_distinct:
            errors.append(f"{name}: {dropped - dropped_distinct} quarantine record(s) repeat a document id")
        row = {"read": int(s["read"])}
        for k in AUDIT_FIELDS[1:]:
            row[k] = int(d.get(k, 0))
            if row[k] != s.get(k, 0):
                errors.append(f"{name}: {k} in the output is {row[k]:,}, ledger says {s.get(k, 0):,}")
        total = sum(row[b] for b in BUCKETS)
        if total != row["read"]:
            errors.append(f"{name}: read {row['read']:,} != sum of buckets {total:,} (documents unaccounted for)")
        result[name] = row
    return {"ok": not errors, "build_id": doc.get("build_id"), "sources": result, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m engine.audit",
        description="Re-derive a build's per-source ledger from its shards and quarantine, verify checksums and the "
        "invariant read = written + exact_dup + near_dup + deid_rejected + filtered + quarantined. Exit 1 on any mismatch.",
    )
    ap.add_argument("out", help="build output (local path or fsspec URI)")
    ap.add_argument("--json", action="store_true", help='print {"ok": bool, "sources": {...}, "errors": [...]}')
    args = ap.parse_args(argv)
    if not args.json:
        print(f"audit {args.out}: re-reading every listed shard (sha256 checked) and quarantine record ...", file=sys.stderr, flush=True)
    res = audit(args.out)
    if res.get("fatal"):
        print(f"error: {res['errors'][0]}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": res["ok"], "sources": res["sources"], "errors": res["errors"]}, indent=1, sort_keys=True))
    else:
        if res["sources"]:
            print(ledger.table({n: s | {"segments": 0} for n, s in res["sources"].items()}))
        for e in res["errors"]:
            print(f"MISMATCH: {e}")
        print("audit OK: every count re-derived from the output matches the ledger" if res["ok"] else
              f"audit FAILED: {len(res['errors'])} problem(s)")
    return 0 if res["ok"] else 1


"""Near-duplicate detection across sources (MinHash + LSH), memory bounded by configuration.

Map side (where documents are read): :class:`engine.dedup.near_map.NearDedupMapper` turns each
unit's surviving documents into band keys and sketches (no text).

Global side (:func:`run_near_dedup`): file-based shuffles under ``<out_prefix>.work/`` (removed at
the end; each writer writes one parquet file with one row group per destination partition, and a
reader fetches its row group from every writer's file), every step a task on the build's
executor (:mod:`engine.core.executor`), as many in flight as it has workers:

A0. *exclusions* (:mod:`engine.dedup.bands`): the exact-dedup / supersede drop tables are split by the unit group of their
    ``unit_id`` (rows without a ``unit_id`` go to every group holding a unit of their source).
A.  *band map*, one task per **unit group** (consecutive units, about ``GROUP_DOCS`` documents):
    documents in the exclusion lists are skipped; every (band key, node id, sketch) entry is
    written to band partition ``key % P``.  Node id = ``unit index << 32 | row``.
    Memory: one group's band table (~ GROUP_DOCS x b x (16 + num_perm) bytes).
B.  *band reduce*, one task per band partition: sorts its entries by key; documents sharing a
    key form a bucket; every pair in a bucket (buckets over ``BUCKET_CAP`` members: each member
    against up to ``BUCKET_CAP`` bucket leaders) is a candidate, kept when its Jaccard estimated
    from the sketches is >= threshold (``verify: true``; ``verify: false`` keeps the bucket's
    star edges unchecked).  ``P = max(resources.dedup_partitions, ceil(docs x b /
    PARTITION_ENTRIES))``, so a partition holds at most ~``PARTITION_ENTRIES`` entries whatever
    the corpus size: memory ~ PARTITION_ENTRIES x (16 + num_perm) bytes.
C.  *connected components* (:mod:`engine.dedup.components`): alternating large-star / small-star rounds (Kiveris et
    al., "Connected Components in MapReduce and Beyond", SoCC 2014) over edge files hash-
    partitioned by node into ``Pc`` partitions (``Pc`` from the edge count, same bound), until a
    round changes nothing (O(log n) rounds).  The result is a star per component around its
    smallest node id.  Memory per task: the edges of one partition.
D.  *keeper* (:mod:`engine.dedup.keeper`): members are routed to their unit group, get their ``doc_id`` / source / priority
    from the unit's staging file, then are routed by component root; per component the keeper is
    the member with the highest source ``priority``, then the smallest ``doc_id`` (then source
    name); every other member is written to ``f"{out_prefix}-{p:05d}.parquet"`` as a ``near_dup``
    drop with ``dup_of`` = the keeper's doc_id.  The reason carries the highest estimated
    Jaccard of the document's verified candidate edges (with connected components a member may
    be linked to the keeper through others, as in every MinHash-LSH + union-find dedup).

No step reads document text; the driver holds the unit list and counts only.  Partitioning
depends on the corpus and the manifest, never on ``workers``, and every reducer sorts its input,
so the result is identical across runs and worker counts.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np

from engine.core import fsio
from engine.core.executor import Executor, map_ordered
from engine.dedup.bands import band_map, band_reduce, split_exclusions
from engine.dedup.components import connected_components, star_members
from engine.dedup.keeper import attach_members, pick_keepers
from engine.dedup.near_map import NearDedupMapper, near_config
from engine.dedup.shuffle import files_of, part_uri
from kernels import lsh

__all__ = ["NearDedupMapper", "run_near_dedup"]

#: band-index entries per band partition (memory bound of a band reducer, ~1M x (16 + num_perm) B
#: = ~150 MB of entries plus sort copies at the defaults; sets P)
PARTITION_ENTRIES = 1_000_000
#: documents per unit group of the band map / keeper steps
GROUP_DOCS = 100_000


def _clear_outputs(out_prefix: str) -> None:
    parent, base = out_prefix.rsplit("/", 1) if "/" in out_prefix else (".", out_prefix)
    for u in fsio.listdir(parent):
        name = u.rsplit("/", 1)[-1]
        rel = u[len(parent.rstrip("/")) + 1 :] if u.startswith(parent.rstrip("/")) else name
        if "/" not in rel and name.startswith(base + "-") and name.endswith(".parquet"):
            fsio.remove(u)


def group_units(units: list[dict], counts: list[int]):
    """Consecutive units in groups of about ``GROUP_DOCS`` documents.  Returns the groups (lists of
    ``(unit index, unit)``), unit id -> group, unit index -> group (array), source -> its groups."""
    groups: list[list[tuple[int, dict]]] = []
    cur: list[tuple[int, dict]] = []
    cur_docs = 0
    for i, (u, c) in enumerate(zip(units, counts)):
        if cur and cur_docs + c > GROUP_DOCS:
            groups.append(cur)
            cur, cur_docs = [], 0
        cur.append((i, u))
        cur_docs += c
    if cur:
        groups.append(cur)
    unit_group = {u["unit_id"]: g for g, grp in enumerate(groups) for _, u in grp}
    unit_groups_arr = np.zeros(max(len(units), 1), np.int64)
    source_groups: dict[str, list[int]] = defaultdict(list)
    for g, grp in enumerate(groups):
        for i, u in grp:
            unit_groups_arr[i] = g
            if g not in source_groups[u["source"]]:
                source_groups[u["source"]].append(g)
    return groups, unit_group, unit_groups_arr, dict(source_groups)


def run_near_dedup(manifest, units: list[dict], exact_drops: list[str], out_prefix: str, executor: Executor) -> dict:
    """Phase 2 (see the module docstring).  ``units``: ``{"unit_id", "source", "priority", "scope",
    "path"}`` (and optionally ``"rows"``: the rows of that file, else it is read) in a deterministic
    order (``path``: the staging Arrow file written from :meth:`NearDedupMapper.map`).  ``exact_drops``: DROP_SCHEMA parquet URIs of documents already
    removed.  Writes ``f"{out_prefix}-{p:05d}.parquet"`` (DROP_SCHEMA, near_dup) and returns stats
    (ints, plus ``"files"``: the drop file URIs)."""
    t0 = time.time()
    cfg = near_config(manifest)
    bands, rows = lsh.choose(cfg.threshold, cfg.num_perm, cfg.bands, cfg.rows, cfg.verify)
    K = cfg.num_perm
    work = out_prefix + ".work"
    fsio.remove(work, recursive=True)
    _clear_outputs(out_prefix)
    units = [u for u in units if u.get("path") and ("rows" in u or fsio.exists(u["path"]))]
    counts = [u["rows"] if "rows" in u else fsio.read_arrow(u["path"], ["doc_id"]).num_rows for u in units]
    total = int(sum(counts))
    base_p = int(getattr(getattr(manifest, "resources", None), "dedup_partitions", 16) or 16)
    P = max(1, base_p, math.ceil(total * bands / PARTITION_ENTRIES))

    groups, unit_group, unit_groups_arr, source_groups = group_units(units, counts)
    G = len(groups)

    stats: dict = {"bands": bands, "rows": rows, "partitions": P, "unit_groups": G}
    # A0
    excl_files: dict[int, list[str]] = defaultdict(list)
    drops = [d for d in exact_drops if fsio.exists(d)]
    res = map_ordered(executor, split_exclusions, [(d, fi, work, unit_group, source_groups) for fi, d in enumerate(drops)])
    for fi, gs in enumerate(res):
        for g in gs:
            excl_files[g].append(fsio.join(work, "excl", f"{g:05d}", f"{fi:05d}.parquet"))
    # A
    res = map_ordered(executor, band_map, [(g, groups[g], excl_files.get(g, []), work, P, K) for g in range(G)])
    band_files: dict[int, list[str]] = defaultdict(list)
    for g, r in enumerate(res):
        for p, rg in r["written"]:
            band_files[p].append((part_uri(work, "bands", g), rg))
    stats["docs"] = sum(r["docs"] for r in res)
    stats["excluded"] = sum(r["excluded"] for r in res)
    stats["empty"] = sum(r["empty"] for r in res)
    stats["band_entries"] = sum(r["entries"] for r in res)
    # B.  Pc: partitions of the edge / member steps, from the document count (edges ~ near-dup docs <= docs)
    Pc = max(1, base_p, math.ceil(total / PARTITION_ENTRIES))
    res = map_ordered(executor, band_reduce, [(p, band_files.get(p, []), work, Pc, cfg.threshold, cfg.verify, K) for p in range(P)])
    stats["candidate_pairs"] = sum(r["candidate_pairs"] for r in res)
    stats["verified_pairs"] = sum(r["verified_pairs"] for r in res)
    stats["buckets"] = sum(r["buckets"] for r in res)

    # C
    cur_files, nodej, rounds = connected_components(executor, work, files_of(res, work, "cc0"), Pc, unit_groups_arr, G)
    stats["cc_rounds"] = rounds
    # D
    mres = map_ordered(executor, star_members, [(q, cur_files.get(q, []), work, unit_groups_arr, G) for q in range(Pc)])
    mfiles = files_of(mres, work, "members")
    todo = [g for g in range(G) if mfiles.get(g)]
    ares = map_ordered(executor, attach_members, [(g, mfiles[g], nodej.get(g, []), groups[g], work, Pc) for g in todo])
    kfiles: dict[int, list[str]] = defaultdict(list)
    for g, written in zip(todo, ares):
        for q, rg in written:
            kfiles[q].append((part_uri(work, "keep", g), rg))
    outs = [f"{out_prefix}-{q:05d}.parquet" for q in range(Pc)]
    kres = map_ordered(executor, pick_keepers, [(q, kfiles.get(q, []), outs[q]) for q in range(Pc)])
    stats["dropped"] = sum(r["dropped"] for r in kres)
    stats["clusters"] = sum(r["clusters"] for r in kres)
    per = defaultdict(int)
    for r in kres:
        for s, c in r["per_source"].items():
            per[s] += c
    for s in sorted(per):
        stats[f"dropped:{s}"] = per[s]
    fsio.remove(work, recursive=True)
    stats["seconds"] = round(time.time() - t0, 3)
    stats["files"] = outs
    return stats

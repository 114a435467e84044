"""Near dedup, keeper: one document kept per component, the others written as ``near_dup`` drops.

:func:`attach_members` gives each member (routed to its unit group) its ``doc_id`` / source /
priority from the unit's staging file and routes it by component root; :func:`pick_keepers`
keeps, per component, the member with the highest source ``priority``, then the smallest
``doc_id`` (then source name), and writes every other member as a ``near_dup`` drop with
``dup_of`` = the keeper.  The reason carries the highest estimated Jaccard of the document's
verified candidate edges (a member may be linked to the keeper through others, as in every
MinHash-LSH + union-find dedup).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.core import fsio
from engine.core.records import DROP_SCHEMA
from engine.dedup.shuffle import as_numpy, part_uri, route


def attach_members(g: int, member_uris: list[str], nodej_uris: list[str], group: list[tuple[int, dict]], work: str, Pc: int) -> list[int]:
    t = pa.concat_tables([fsio.read_parquet(u) for u in member_uris])
    gid = as_numpy(t.column("gid")).astype(np.int64)
    root = as_numpy(t.column("root")).astype(np.int64)
    order = np.argsort(gid, kind="stable")
    gid, root = gid[order], root[order]
    # best j per member (nodej files hold all nodes of a CC partition; keep ours)
    jbest = np.zeros(len(gid))
    for u in nodej_uris:
        nj = fsio.read_parquet(u)
        ng = as_numpy(nj.column("gid")).astype(np.int64)
        pos = np.searchsorted(gid, ng)
        pos = np.minimum(pos, max(len(gid) - 1, 0))
        hit = (gid[pos] == ng) if len(gid) else np.zeros(len(ng), bool)
        np.maximum.at(jbest, pos[hit], as_numpy(nj.column("j"))[hit])
    units = dict(group)
    ui = gid >> 32
    row = gid & np.int64(0xFFFFFFFF)
    doc_id = np.empty(len(gid), dtype=object)
    source = np.empty(len(gid), dtype=object)
    unit_id = np.empty(len(gid), dtype=object)
    prio = np.zeros(len(gid), np.int64)
    for u in np.unique(ui):
        unit = units[int(u)]
        sel = np.flatnonzero(ui == u)
        ids = fsio.read_arrow(unit["path"], columns=["doc_id"]).column("doc_id").combine_chunks()
        doc_id[sel] = np.array(ids.take(pa.array(row[sel])).to_pylist(), dtype=object)
        source[sel] = unit["source"]
        unit_id[sel] = unit["unit_id"]
        prio[sel] = int(unit.get("priority", 0))
    out = pa.table(
        {
            "root": pa.array(root, pa.int64()),
            "gid": pa.array(gid, pa.int64()),
            "priority": pa.array(prio, pa.int64()),
            "doc_id": pa.array(doc_id.tolist(), pa.string()),
            "source": pa.array(source.tolist(), pa.string()),
            "unit_id": pa.array(unit_id.tolist(), pa.string()),
            "j": pa.array(jbest, pa.float64()),
        }
    )
    return fsio.write_partitioned(part_uri(work, "keep", g), out, route(root, Pc), Pc)


def pick_keepers(q: int, uris: list[str], out_uri: str) -> dict:
    if uris:
        t = pa.concat_tables([fsio.read_parquet(u) for u in uris])
    else:
        t = None
    if t is None or t.num_rows == 0:
        fsio.write_parquet(out_uri, DROP_SCHEMA.empty_table(), row_group_size=None)
        return {"dropped": 0, "clusters": 0, "per_source": {}}
    t = t.append_column("neg_priority", pc.negate(t.column("priority")))
    t = t.sort_by([("root", "ascending"), ("neg_priority", "ascending"), ("doc_id", "ascending"), ("source", "ascending"), ("gid", "ascending")])
    root = as_numpy(t.column("root")).astype(np.int64)
    first = np.r_[True, root[1:] != root[:-1]]
    kidx = np.maximum.accumulate(np.where(first, np.arange(len(root)), 0))
    doc_id = t.column("doc_id").combine_chunks()
    keeper = doc_id.take(pa.array(kidx))
    drop = np.flatnonzero(~first)
    jv = as_numpy(t.column("j"))[drop]
    d = t.take(pa.array(drop))
    n = len(drop)
    reasons = [f"near-duplicate (est. Jaccard {x:.2f})" for x in jv]
    out = pa.table(
        {
            "doc_id": d.column("doc_id"),
            "source": d.column("source"),
            "bucket": pa.array(["near_dup"] * n, pa.string()),
            "stage": pa.array(["near_dedup"] * n, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "location": pa.nulls(n, pa.string()),
            "dup_of": keeper.take(pa.array(drop)),
            "unit_id": d.column("unit_id"),
            "text": pa.nulls(n, pa.large_string()),
            "phi_spans": pa.nulls(n, pa.string()),
        }
    ).cast(DROP_SCHEMA)
    out = out.sort_by([("source", "ascending"), ("doc_id", "ascending")])
    fsio.write_parquet(out_uri, out, row_group_size=None)
    per = defaultdict(int)
    for s in out.column("source").to_pylist():
        per[s] += 1
    return {"dropped": n, "clusters": int(first.sum()), "per_source": dict(per)}


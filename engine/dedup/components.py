"""Near dedup, connected components: large-star / small-star rounds over partitioned edge files.

Alternating large-star and small-star steps (Kiveris et al., "Connected Components in MapReduce
and Beyond", SoCC 2014) over edge files hash-partitioned by node into ``Pc`` partitions, until a
round changes nothing (O(log n) rounds).  The result is a star per component around its
smallest node id; :func:`star_members` turns it into (member, root) rows.  Memory per task: the
edges of one partition.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from engine.core import fsio
from engine.core.executor import Executor, map_ordered
from engine.dedup.shuffle import as_numpy, files_of, part_uri, route


def write_directed(edges: pa.Table, work: str, stage: str, p: int, Pc: int) -> list[int]:
    """Both directions of every edge (src, dst, j), partitioned by ``src``."""
    a = as_numpy(edges.column("a")).astype(np.int64)
    b = as_numpy(edges.column("b")).astype(np.int64)
    j = as_numpy(edges.column("j")).astype(np.float64) if "j" in edges.column_names else np.zeros(len(a))
    src, dst, jj = np.r_[a, b], np.r_[b, a], np.r_[j, j]
    t = pa.table({"src": pa.array(src, pa.int64()), "dst": pa.array(dst, pa.int64()), "j": pa.array(jj, pa.float64())})
    return fsio.write_partitioned(part_uri(work, stage, p), t, route(src, Pc), Pc)


# -- step C: connected components (large-star / small-star) ---------------------------------------
def load_directed(uris: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not uris:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    t = pa.concat_tables([fsio.read_parquet(u) for u in uris])
    src = as_numpy(t.column("src")).astype(np.int64)
    dst = as_numpy(t.column("dst")).astype(np.int64)
    j = as_numpy(t.column("j")).astype(np.float64)
    order = np.lexsort((dst, src))
    src, dst, j = src[order], dst[order], j[order]
    if len(src) > 1:
        keep = np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])]
        # keep the best j of a repeated edge: sort puts equal pairs together; take max via reduceat
        if not keep.all():
            starts = np.flatnonzero(keep)
            j = np.maximum.reduceat(j, starts)
            src, dst = src[starts], dst[starts]
    return src, dst, j


def star_step(kind: str, q: int, uris: list[str], work: str, out_stage: str, Pc: int, first: bool,
               unit_groups: np.ndarray | None = None, G: int = 1) -> dict:
    """One large-star or small-star step on partition ``q`` (edges keyed by ``src``).  The first step
    also writes each node's best estimated Jaccard (for the drop reason), routed by unit group."""
    src, dst, j = load_directed(uris)
    res = {"written": [], "changes": 0, "nodej": []}
    if first and len(src):
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        ng = src[starts]
        nj = pa.table({"gid": pa.array(ng, pa.int64()), "j": pa.array(np.maximum.reduceat(j, starts), pa.float64())})
        res["nodej"] = fsio.write_partitioned(part_uri(work, "nodej", q), nj,
                                    unit_groups[(ng >> 32).astype(np.int64)], G)
    if not len(src):
        return res
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    cnt = np.diff(np.r_[starts, len(src)])
    node = src[starts]
    if kind == "large":
        m = np.minimum(np.minimum.reduceat(dst, starts), node)
        mrep = np.repeat(m, cnt)
        sel = dst > src
        changes = int(np.count_nonzero(sel & (mrep < src)))
        a, b = dst[sel], mrep[sel]
    else:
        small = dst < src
        # per node: neighbours smaller than it
        nsmall = np.add.reduceat(small.astype(np.int64), starts)
        big = np.iinfo(np.int64).max
        m = np.minimum(np.minimum.reduceat(np.where(small, dst, big), starts), node)
        changes = int(np.maximum(nsmall - 1, 0).sum())
        mrep = np.repeat(m, cnt)
        a = np.r_[dst[small], node[nsmall > 0]]
        b = np.r_[mrep[small], m[nsmall > 0]]
        keep = a != b
        a, b = a[keep], b[keep]
    lo_, hi_ = np.minimum(a, b), np.maximum(a, b)
    t = pa.table({"a": pa.array(lo_, pa.int64()), "b": pa.array(hi_, pa.int64())})
    res["written"] = write_directed(t, work, out_stage, q, Pc)
    res["changes"] = changes
    return res


def star_members(q: int, uris: list[str], work: str, unit_groups: np.ndarray, G: int) -> list[int]:
    """Stars -> member rows (gid, root), routed to the unit group of ``gid``."""
    src, dst, _ = load_directed(uris)
    leaf = dst < src  # a leaf's only neighbour is its root
    is_root = dst > src  # after convergence a node with a larger neighbour is a root
    rt = np.unique(src[is_root])
    gid = np.r_[src[leaf], rt]
    root = np.r_[dst[leaf], rt]
    if len(gid) > 1:
        order = np.lexsort((root, gid))
        gid, root = gid[order], root[order]
        keep = np.r_[True, (gid[1:] != gid[:-1]) | (root[1:] != root[:-1])]
        gid, root = gid[keep], root[keep]
    t = pa.table({"gid": pa.array(gid, pa.int64()), "root": pa.array(root, pa.int64())})
    grp = unit_groups[(gid >> 32).astype(np.int64)] if len(gid) else np.zeros(0, np.int64)
    return fsio.write_partitioned(part_uri(work, "members", q), t, grp, G)


def connected_components(executor: Executor, work: str, files: dict, Pc: int, unit_groups: np.ndarray, G: int, max_rounds: int = 64):
    """Alternate large-star / small-star over the directed edge files ``files`` (partition -> URIs)
    until a round changes nothing.  Returns (star edge files, node-Jaccard files by unit group, rounds)."""
    nodej: dict[int, list[str]] = defaultdict(list)
    rounds = step = 0
    cur_files = files
    while True:
        rounds += 1
        changes = 0
        for kind in ("large", "small"):
            step += 1
            nxt = f"cc{step}"
            r = map_ordered(executor, star_step, [(kind, q, cur_files.get(q, []), work, nxt, Pc, step == 1, unit_groups, G)
                                     for q in range(Pc)])
            if step == 1:
                for q, x in enumerate(r):
                    for g, rg in x["nodej"]:
                        nodej[g].append((part_uri(work, "nodej", q), rg))
            changes += sum(x["changes"] for x in r)
            cur_files = files_of(r, work, nxt)
        if changes == 0:
            return cur_files, nodej, rounds
        if rounds >= max_rounds:
            raise RuntimeError(f"near dedup: connected components did not converge in {max_rounds} rounds")


"""Near dedup, band shuffle: exclusions, band map and band reduce (candidate pairs, verified).

* :func:`split_exclusions`: the exact-dedup / supersede drop tables split by the unit group of
  their ``unit_id`` (rows without one go to every group holding a unit of their source).
* :func:`band_map`, one task per unit group: documents in the exclusion lists are skipped; every
  (band key, node id, sketch) entry goes to band partition ``key % P``.  Node id =
  ``unit index << 32 | row``.
* :func:`band_reduce`, one task per band partition: entries sorted by key; documents sharing a
  key form a bucket; every pair in a bucket (buckets over ``BUCKET_CAP`` members: each member
  against up to ``BUCKET_CAP`` leaders) is a candidate, kept when its Jaccard estimated from the
  sketches is >= threshold (``verify: false`` keeps the bucket's star edges unchecked).  Edges go
  to the connected-components step.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.core import fsio
from engine.dedup.components import write_directed
from engine.dedup.shuffle import as_numpy, part_uri, sketch_matrix
from kernels.minhash import U64

#: all pairs are checked in buckets up to this size; larger buckets use this many leaders
BUCKET_CAP = 64
#: pairs verified per numpy chunk
_PAIR_CHUNK = 65_536


def split_exclusions(drop_uri: str, fi: int, work: str, unit_group: dict, source_groups: dict) -> list[int]:
    t = fsio.read_parquet(drop_uri, columns=["unit_id", "source", "doc_id"])
    if t.num_rows == 0:
        return []
    uids = t.column("unit_id").to_pylist()
    srcs = t.column("source").to_pylist()
    rows: dict[int, list[int]] = defaultdict(list)
    for i, (u, s) in enumerate(zip(uids, srcs)):
        if u is None:
            for g in source_groups.get(s, ()):
                rows[g].append(i)
        elif u in unit_group:
            rows[unit_group[u]].append(i)
    out = []
    for g, idx in sorted(rows.items()):
        fsio.write_parquet(fsio.join(work, "excl", f"{g:05d}", f"{fi:05d}.parquet"), t.take(pa.array(idx)), atomic=False, row_group_size=None)
        out.append(g)
    return out


# -- step A: band map -----------------------------------------------------------------------------
def band_map(g: int, group: list[tuple[int, dict]], excl_uris: list[str], work: str, P: int, K: int) -> dict:
    excl_by_unit: dict[str, set] = defaultdict(set)
    excl_by_source: dict[str, set] = defaultdict(set)
    for u in excl_uris:
        t = fsio.read_parquet(u)
        for uid, src, did in zip(t.column("unit_id").to_pylist(), t.column("source").to_pylist(), t.column("doc_id").to_pylist()):
            (excl_by_unit[uid] if uid is not None else excl_by_source[src]).add(did)
    keys, gids, sks = [], [], []
    docs = excluded = empty = 0
    for ui, unit in group:
        t = fsio.read_arrow(unit["path"], columns=["doc_id", "ok", "bands", "sketch"])
        n = t.num_rows
        docs += n
        keep = t.column("ok").to_numpy(zero_copy_only=False).astype(bool)
        empty += int(n - keep.sum())
        ex = excl_by_unit.get(unit["unit_id"], set()) | excl_by_source.get(unit["source"], set())
        if ex:
            hit = pc.is_in(t.column("doc_id"), value_set=pa.array(sorted(ex), pa.string())).to_numpy(zero_copy_only=False)
            excluded += int((hit & keep).sum())
            keep &= ~hit
        rows = np.flatnonzero(keep)
        if rows.size == 0:
            continue
        b = t.schema.field("bands").type.list_size
        bk = as_numpy(t.column("bands").combine_chunks().flatten()).reshape(n, b)[rows]
        sk = sketch_matrix(t.column("sketch"), K)[rows]
        gid = (np.int64(ui) << np.int64(32)) | rows.astype(np.int64)
        keys.append(bk.reshape(-1))
        gids.append(np.repeat(gid, b))
        sks.append(np.repeat(sk, b, axis=0))
    entries = 0
    if keys:
        key = np.concatenate(keys)
        gid = np.concatenate(gids)
        sk = np.concatenate(sks)
        entries = len(key)
        table = pa.table(
            {
                "key": pa.array(key, pa.uint64()),
                "gid": pa.array(gid, pa.int64()),
                "sketch": pa.FixedSizeBinaryArray.from_buffers(pa.binary(K), len(key), [None, pa.py_buffer(np.ascontiguousarray(sk).tobytes())]),
            }
        )
        part = (key % U64(P)).astype(np.int64)
        written = fsio.write_partitioned(part_uri(work, "bands", g), table, part, P)
    else:
        written = []
    return {"written": written, "docs": docs, "excluded": excluded, "empty": empty, "entries": entries}


# -- step B: band reduce --------------------------------------------------------------------------
def estimated_jaccard(sk: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.empty(len(i), np.float64)
    for lo in range(0, len(i), _PAIR_CHUNK):
        hi = min(lo + _PAIR_CHUNK, len(i))
        m = np.count_nonzero(sk[i[lo:hi]] == sk[j[lo:hi]], axis=1) / sk.shape[1]
        out[lo:hi] = np.clip((m - 1 / 256) / (1 - 1 / 256), 0.0, 1.0)
    return out


def band_reduce(p: int, uris: list[str], work: str, Pc: int, threshold: float, verify: bool, K: int) -> dict:
    if not uris:
        return {"written": [], "candidate_pairs": 0, "verified_pairs": 0, "buckets": 0}
    t = pa.concat_tables([fsio.read_parquet(u) for u in uris])
    key = as_numpy(t.column("key"))
    gid = as_numpy(t.column("gid")).astype(np.int64)
    sk = sketch_matrix(t.column("sketch").combine_chunks(), K)
    del t
    order = np.lexsort((gid, key))
    key, gid, sk = key[order], gid[order], sk[order]
    # drop repeated (key, gid) entries (cannot happen within one band, kept for safety)
    if len(key) > 1:
        dup = np.zeros(len(key), bool)
        dup[1:] = (key[1:] == key[:-1]) & (gid[1:] == gid[:-1])
        if dup.any():
            key, gid, sk = key[~dup], gid[~dup], sk[~dup]
    n = len(key)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, n])
    multi = sizes >= 2
    bstarts, bsizes = starts[multi], sizes[multi]
    I, J = [], []
    if verify:
        for k in np.unique(bsizes[bsizes <= BUCKET_CAP]):
            s0 = bstarts[bsizes == k]
            a, b = np.triu_indices(int(k), 1)
            I.append((s0[:, None] + a[None, :]).reshape(-1))
            J.append((s0[:, None] + b[None, :]).reshape(-1))
    else:
        # star edges to the smallest member of each bucket
        for k in np.unique(bsizes):
            s0 = bstarts[bsizes == k]
            I.append(np.repeat(s0, k - 1))
            J.append((s0[:, None] + np.arange(1, k)[None, :]).reshape(-1))
    ii = np.concatenate(I) if I else np.zeros(0, np.int64)
    jj = np.concatenate(J) if J else np.zeros(0, np.int64)
    cand = len(ii)
    jac = estimated_jaccard(sk, ii, jj)
    if verify:
        ok = jac >= threshold
        ii, jj, jac = ii[ok], jj[ok], jac[ok]
        # oversized buckets: each member against up to BUCKET_CAP leaders (first match wins)
        extra_i, extra_j, extra_s = [], [], []
        for s0, k in zip(bstarts[bsizes > BUCKET_CAP], bsizes[bsizes > BUCKET_CAP]):
            leaders = [int(s0)]
            for x in range(int(s0) + 1, int(s0 + k)):
                L = np.array(leaders)
                js = estimated_jaccard(sk, L, np.full(len(L), x))
                cand += len(L)
                hit = np.flatnonzero(js >= threshold)
                if hit.size:
                    extra_i.append(L[hit[0]])
                    extra_j.append(x)
                    extra_s.append(js[hit[0]])
                elif len(leaders) < BUCKET_CAP:
                    leaders.append(x)
        if extra_i:
            ii = np.r_[ii, np.array(extra_i, np.int64)]
            jj = np.r_[jj, np.array(extra_j, np.int64)]
            jac = np.r_[jac, np.array(extra_s, np.float64)]
    u, v = gid[ii], gid[jj]
    lo_, hi_ = np.minimum(u, v), np.maximum(u, v)
    edges = pa.table({"a": pa.array(lo_, pa.int64()), "b": pa.array(hi_, pa.int64()), "j": pa.array(jac, pa.float64())})
    written = write_directed(edges, work, "cc0", p, Pc)
    return {"written": written, "candidate_pairs": int(cand), "verified_pairs": int(len(ii)), "buckets": int(len(bstarts))}


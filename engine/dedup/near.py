"""Near-duplicate detection: MinHash + LSH across sources, on Ray, with memory bounded by configuration.

Phase 1 (where documents are read): :class:`NearDedupMapper` turns each unit's surviving documents
into a small table (no text): ``doc_id``, ``ok`` (the document has at least one word), ``bands``
(``b`` 64-bit LSH band keys) and ``sketch`` (the low 8 bits of each of the ``num_perm`` MinHash
values, 1 byte each, for verification).  For a ``scope: source`` source the band keys are salted
with the source name, so its documents can only collide with documents of the same source.

Phase 2 (:func:`run_near_dedup`), all file-based shuffles under ``<out_prefix>.work/`` (removed at
the end; each writer writes one parquet file with one row group per destination partition, and a
reader fetches its row group from every writer's file), every step a Ray task (``num_cpus=0``, at
most ``workers`` in flight, so it runs while the build's worker actors still hold the CPUs):

A0. *exclusions*: the exact-dedup / supersede drop tables are split by the unit group of their
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
C.  *connected components*, distributed: alternating large-star / small-star rounds (Kiveris et
    al., "Connected Components in MapReduce and Beyond", SoCC 2014) over edge files hash-
    partitioned by node into ``Pc`` partitions (``Pc`` from the edge count, same bound), until a
    round changes nothing (O(log n) rounds).  The result is a star per component around its
    smallest node id.  Memory per task: the edges of one partition.
D.  *keeper*: members are routed to their unit group, get their ``doc_id`` / source / priority
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

import io
import math
import time
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from engine.core import fsio
from engine.core.records import DROP_SCHEMA
from kernels import lsh
from kernels.minhash import U64, MinHasher, bbit_sketch, fmix64

#: band-index entries per band partition (memory bound of a band reducer, ~1M x (16 + num_perm) B
#: = ~150 MB of entries plus sort copies at the defaults; sets P)
PARTITION_ENTRIES = 1_000_000
#: documents per unit group of the band map / keeper steps
GROUP_DOCS = 100_000
#: all pairs are checked in buckets up to this size; larger buckets use this many leaders
BUCKET_CAP = 64
#: pairs verified per numpy chunk
_PAIR_CHUNK = 65_536


def _cfg(manifest):
    from engine.core.manifest import NearDedupConfig

    return manifest.dedup.near if manifest.dedup.near is not None else NearDedupConfig()


def source_salt(name: str) -> int:
    """Band-key salt of a ``scope: source`` source (0 for ``scope: global``)."""
    return xxhash.xxh64_intdigest(b"near-scope\x1f" + name.encode())


def map_schema(bands: int, num_perm: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("ok", pa.bool_(), nullable=False),
            pa.field("bands", pa.list_(pa.uint64(), bands), nullable=False),
            pa.field("sketch", pa.binary(num_perm), nullable=False),
        ]
    )


class NearDedupMapper:
    """Phase 1: MinHash signatures -> LSH band keys + 8-bit sketches, one small table per batch."""

    def __init__(self, manifest) -> None:
        self.cfg = _cfg(manifest)
        self.bands, self.rows = lsh.choose(self.cfg.threshold, self.cfg.num_perm, self.cfg.bands, self.cfg.rows, self.cfg.verify)
        self.hasher = MinHasher(self.cfg.num_perm, self.cfg.ngram, self.cfg.seed)
        self.schema = map_schema(self.bands, self.cfg.num_perm)

    def map(self, table: pa.Table, ctx) -> pa.Table:
        texts = table.column("text").to_pylist()
        n = len(texts)
        sig = self.hasher.signatures(texts)
        ok = ~np.all(sig == np.uint32(0xFFFFFFFF), axis=1) if n else np.zeros(0, bool)
        scope = getattr(ctx.config, "scope", "global")
        salt = source_salt(ctx.name) if scope == "source" else 0
        keys = lsh.band_keys(sig, self.bands, self.rows, salt)
        sk = bbit_sketch(sig)
        K = self.cfg.num_perm
        return pa.table(
            [
                table.column("doc_id").cast(pa.string()),
                pa.array(ok, pa.bool_()),
                pa.FixedSizeListArray.from_arrays(pa.array(keys.reshape(-1), pa.uint64()), self.bands),
                pa.FixedSizeBinaryArray.from_buffers(pa.binary(K), n, [None, pa.py_buffer(sk.tobytes())]),
            ],
            schema=self.schema,
        )


# -- file helpers ---------------------------------------------------------------------------------
def _write(uri: str, table: pa.Table, atomic: bool = False) -> None:
    """Parquet file.  Work files (``atomic=False``) are written directly, without fsync: a failed run
    starts phase 2 again from an empty work folder.  The drop tables are written atomically."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    if atomic:
        fsio.write_bytes_atomic(uri, buf.getvalue())
        return
    fs, path = fsio.fs_and_path(uri)
    if fsio.protocol_of(fs) in ("file", "local", "memory") and "/" in path:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as f:
        f.write(buf.getvalue())


def _read(ref, columns=None) -> pa.Table:
    """A parquet file (URI), or one row group of it (``(URI, row group)``, from :func:`_split_write`)."""
    if isinstance(ref, (tuple, list)):
        uri, rg = ref
        fs, path = fsio.fs_and_path(uri)
        with fs.open(path, "rb") as f:
            return pq.ParquetFile(f).read_row_group(int(rg), columns=columns)
    fs, path = fsio.fs_and_path(ref)
    return pq.read_table(path, filesystem=fs, columns=columns)


def _part_uri(work: str, stage: str, writer: int) -> str:
    return fsio.join(work, stage, f"{writer:05d}.parquet")


def _num_rows(uri: str) -> int:
    fs, path = fsio.fs_and_path(uri)
    with fs.open(path, "rb") as f:
        return pq.ParquetFile(f).metadata.num_rows


def _sketch_np(col, K: int) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) == 0:
        return np.zeros((0, K), np.uint8)
    raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
    return raw[arr.offset * K : (arr.offset + len(arr)) * K].reshape(-1, K)


def _u64(col) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.to_numpy(zero_copy_only=False)


def _route(x: np.ndarray, n: int) -> np.ndarray:
    """Partition of uint64/int64 ids: fmix64 then modulo (independent of any worker count)."""
    if n == 1:
        return np.zeros(len(x), np.int64)
    with np.errstate(over="ignore"):
        return (fmix64(x.astype(np.uint64)) % U64(n)).astype(np.int64)


def _split_write(uri: str, table: pa.Table, part: np.ndarray, n: int) -> list[tuple[int, int]]:
    """The shuffle write: ``table`` rows into ONE parquet file, one row group per destination
    partition (so a shuffle makes one file per writer, not writers x partitions).  Returns
    ``[(partition, row group)]`` for the non-empty partitions."""
    written: list[tuple[int, int]] = []
    if table.num_rows == 0:
        return written
    order = np.argsort(part, kind="stable")
    ps = part[order]
    bounds = np.searchsorted(ps, np.arange(n + 1))
    t = table.take(pa.array(order))
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, t.schema, compression="zstd") as w:
        for p in range(n):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            if hi > lo:
                w.write_table(t.slice(lo, hi - lo), row_group_size=hi - lo)
                written.append((p, len(written)))
    fs, path = fsio.fs_and_path(uri)
    if fsio.protocol_of(fs) in ("file", "local", "memory") and "/" in path:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as f:
        f.write(buf.getvalue())
    return written


# -- step A0: exclusions by unit group --------------------------------------------------------------
def _task_exclusions(drop_uri: str, fi: int, work: str, unit_group: dict, source_groups: dict) -> list[int]:
    t = _read(drop_uri, columns=["unit_id", "source", "doc_id"])
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
        _write(fsio.join(work, "excl", f"{g:05d}", f"{fi:05d}.parquet"), t.take(pa.array(idx)))
        out.append(g)
    return out


# -- step A: band map -----------------------------------------------------------------------------
def _task_band_map(g: int, group: list[tuple[int, dict]], excl_uris: list[str], work: str, P: int, K: int) -> dict:
    excl_by_unit: dict[str, set] = defaultdict(set)
    excl_by_source: dict[str, set] = defaultdict(set)
    for u in excl_uris:
        t = _read(u)
        for uid, src, did in zip(t.column("unit_id").to_pylist(), t.column("source").to_pylist(), t.column("doc_id").to_pylist()):
            (excl_by_unit[uid] if uid is not None else excl_by_source[src]).add(did)
    keys, gids, sks = [], [], []
    docs = excluded = empty = 0
    for ui, unit in group:
        t = _read(unit["path"], columns=["doc_id", "ok", "bands", "sketch"])
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
        bk = _u64(t.column("bands").combine_chunks().flatten()).reshape(n, b)[rows]
        sk = _sketch_np(t.column("sketch"), K)[rows]
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
        written = _split_write(_part_uri(work, "bands", g), table, part, P)
    else:
        written = []
    return {"written": written, "docs": docs, "excluded": excluded, "empty": empty, "entries": entries}


# -- step B: band reduce --------------------------------------------------------------------------
def _est_jaccard(sk: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.empty(len(i), np.float64)
    for lo in range(0, len(i), _PAIR_CHUNK):
        hi = min(lo + _PAIR_CHUNK, len(i))
        m = np.count_nonzero(sk[i[lo:hi]] == sk[j[lo:hi]], axis=1) / sk.shape[1]
        out[lo:hi] = np.clip((m - 1 / 256) / (1 - 1 / 256), 0.0, 1.0)
    return out


def _task_band_reduce(p: int, uris: list[str], work: str, Pc: int, threshold: float, verify: bool, K: int) -> dict:
    if not uris:
        return {"written": [], "candidate_pairs": 0, "verified_pairs": 0, "buckets": 0}
    t = pa.concat_tables([_read(u) for u in uris])
    key = _u64(t.column("key"))
    gid = _u64(t.column("gid")).astype(np.int64)
    sk = _sketch_np(t.column("sketch").combine_chunks(), K)
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
    jac = _est_jaccard(sk, ii, jj)
    if verify:
        ok = jac >= threshold
        ii, jj, jac = ii[ok], jj[ok], jac[ok]
        # oversized buckets: each member against up to BUCKET_CAP leaders (first match wins)
        extra_i, extra_j, extra_s = [], [], []
        for s0, k in zip(bstarts[bsizes > BUCKET_CAP], bsizes[bsizes > BUCKET_CAP]):
            leaders = [int(s0)]
            for x in range(int(s0) + 1, int(s0 + k)):
                L = np.array(leaders)
                js = _est_jaccard(sk, L, np.full(len(L), x))
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
    written = _write_directed(edges, work, "cc0", p, Pc)
    return {"written": written, "candidate_pairs": int(cand), "verified_pairs": int(len(ii)), "buckets": int(len(bstarts))}


def _write_directed(edges: pa.Table, work: str, stage: str, p: int, Pc: int) -> list[int]:
    """Both directions of every edge (src, dst, j), partitioned by ``src``."""
    a = _u64(edges.column("a")).astype(np.int64)
    b = _u64(edges.column("b")).astype(np.int64)
    j = _u64(edges.column("j")).astype(np.float64) if "j" in edges.column_names else np.zeros(len(a))
    src, dst, jj = np.r_[a, b], np.r_[b, a], np.r_[j, j]
    t = pa.table({"src": pa.array(src, pa.int64()), "dst": pa.array(dst, pa.int64()), "j": pa.array(jj, pa.float64())})
    return _split_write(_part_uri(work, stage, p), t, _route(src, Pc), Pc)


# -- step C: connected components (large-star / small-star) ---------------------------------------
def _load_directed(uris: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not uris:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    t = pa.concat_tables([_read(u) for u in uris])
    src = _u64(t.column("src")).astype(np.int64)
    dst = _u64(t.column("dst")).astype(np.int64)
    j = _u64(t.column("j")).astype(np.float64)
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


def _task_star(kind: str, q: int, uris: list[str], work: str, out_stage: str, Pc: int, first: bool,
               unit_groups: np.ndarray | None = None, G: int = 1) -> dict:
    """One large-star or small-star step on partition ``q`` (edges keyed by ``src``).  The first step
    also writes each node's best estimated Jaccard (for the drop reason), routed by unit group."""
    src, dst, j = _load_directed(uris)
    res = {"written": [], "changes": 0, "nodej": []}
    if first and len(src):
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        ng = src[starts]
        nj = pa.table({"gid": pa.array(ng, pa.int64()), "j": pa.array(np.maximum.reduceat(j, starts), pa.float64())})
        res["nodej"] = _split_write(_part_uri(work, "nodej", q), nj,
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
    res["written"] = _write_directed(t, work, out_stage, q, Pc)
    res["changes"] = changes
    return res


def _task_members(q: int, uris: list[str], work: str, unit_groups: np.ndarray, G: int) -> list[int]:
    """Stars -> member rows (gid, root), routed to the unit group of ``gid``."""
    src, dst, _ = _load_directed(uris)
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
    return _split_write(_part_uri(work, "members", q), t, grp, G)


# -- step D: keeper -------------------------------------------------------------------------------
def _task_attach(g: int, member_uris: list[str], nodej_uris: list[str], group: list[tuple[int, dict]], work: str, Pc: int) -> list[int]:
    t = pa.concat_tables([_read(u) for u in member_uris])
    gid = _u64(t.column("gid")).astype(np.int64)
    root = _u64(t.column("root")).astype(np.int64)
    order = np.argsort(gid, kind="stable")
    gid, root = gid[order], root[order]
    # best j per member (nodej files hold all nodes of a CC partition; keep ours)
    jbest = np.zeros(len(gid))
    for u in nodej_uris:
        nj = _read(u)
        ng = _u64(nj.column("gid")).astype(np.int64)
        pos = np.searchsorted(gid, ng)
        pos = np.minimum(pos, max(len(gid) - 1, 0))
        hit = (gid[pos] == ng) if len(gid) else np.zeros(len(ng), bool)
        np.maximum.at(jbest, pos[hit], _u64(nj.column("j"))[hit])
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
        ids = _read(unit["path"], columns=["doc_id"]).column("doc_id").combine_chunks()
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
    return _split_write(_part_uri(work, "keep", g), out, _route(root, Pc), Pc)


def _task_keeper(q: int, uris: list[str], out_uri: str) -> dict:
    if uris:
        t = pa.concat_tables([_read(u) for u in uris])
    else:
        t = None
    if t is None or t.num_rows == 0:
        _write(out_uri, DROP_SCHEMA.empty_table(), atomic=True)
        return {"dropped": 0, "clusters": 0, "per_source": {}}
    t = t.append_column("neg_priority", pc.negate(t.column("priority")))
    t = t.sort_by([("root", "ascending"), ("neg_priority", "ascending"), ("doc_id", "ascending"), ("source", "ascending"), ("gid", "ascending")])
    root = _u64(t.column("root")).astype(np.int64)
    first = np.r_[True, root[1:] != root[:-1]]
    kidx = np.maximum.accumulate(np.where(first, np.arange(len(root)), 0))
    doc_id = t.column("doc_id").combine_chunks()
    keeper = doc_id.take(pa.array(kidx))
    drop = np.flatnonzero(~first)
    jv = _u64(t.column("j"))[drop]
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
    _write(out_uri, out, atomic=True)
    per = defaultdict(int)
    for s in out.column("source").to_pylist():
        per[s] += 1
    return {"dropped": n, "clusters": int(first.sum()), "per_source": dict(per)}


def _files_of(results: list, work: str, stage: str) -> dict[int, list[str]]:
    """Files written by a step (writer index = position in ``results``), by destination partition."""
    fl: dict[int, list[str]] = defaultdict(list)
    for p, r in enumerate(results):
        for q, rg in r["written"] if isinstance(r, dict) else r:
            fl[q].append((_part_uri(work, stage, p), rg))
    return fl


def _connected_components(run, work: str, files: dict, Pc: int, unit_groups: np.ndarray, G: int, max_rounds: int = 64):
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
            r = run.map(_task_star, [(kind, q, cur_files.get(q, []), work, nxt, Pc, step == 1, unit_groups, G)
                                     for q in range(Pc)])
            if step == 1:
                for q, x in enumerate(r):
                    for g, rg in x["nodej"]:
                        nodej[g].append((_part_uri(work, "nodej", q), rg))
            changes += sum(x["changes"] for x in r)
            cur_files = _files_of(r, work, nxt)
        if changes == 0:
            return cur_files, nodej, rounds
        if rounds >= max_rounds:
            raise RuntimeError(f"near dedup: connected components did not converge in {max_rounds} rounds")


# -- driver ---------------------------------------------------------------------------------------
class _Runner:
    """Runs ``fn(*args)`` for a list of argument tuples: Ray tasks when Ray is initialised, else
    in-process.  Results come back in input order.  Tasks ask for ``num_cpus=0`` (the build's worker
    actors may hold every CPU during phase 2; asking for a CPU would wait forever), so concurrency
    (and memory: ``workers`` x one task) is limited here: at most ``workers`` in flight, spread over
    the cluster's nodes."""

    def __init__(self, workers: int):
        import sys

        self.workers = max(1, int(workers or 1))
        ray = sys.modules.get("ray")  # not imported -> cannot be initialised in this process
        self.ray = ray if ray is not None and ray.is_initialized() else None
        self._remote = {}

    def map(self, fn, arglist: list[tuple]) -> list:
        if self.ray is None:
            return [fn(*a) for a in arglist]
        ray = self.ray
        if fn not in self._remote:
            self._remote[fn] = ray.remote(num_cpus=0, max_retries=3, scheduling_strategy="SPREAD")(fn)
        rf = self._remote[fn]
        results: list = [None] * len(arglist)
        pending: dict = {}
        i = 0
        while i < len(arglist) or pending:
            while i < len(arglist) and len(pending) < self.workers:
                pending[rf.remote(*arglist[i])] = i
                i += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                results[pending.pop(ref)] = ray.get(ref)
        return results


def _clear_outputs(out_prefix: str) -> None:
    parent, base = out_prefix.rsplit("/", 1) if "/" in out_prefix else (".", out_prefix)
    for u in fsio.listdir(parent):
        name = u.rsplit("/", 1)[-1]
        rel = u[len(parent.rstrip("/")) + 1 :] if u.startswith(parent.rstrip("/")) else name
        if "/" not in rel and name.startswith(base + "-") and name.endswith(".parquet"):
            fsio.remove(u)


def run_near_dedup(manifest, units: list[dict], exact_drops: list[str], out_prefix: str, workers: int) -> dict:
    """Phase 2 (see the module docstring).  ``units``: ``{"unit_id", "source", "priority", "scope",
    "path"}`` in a deterministic order (``path``: the staging parquet written from
    :meth:`NearDedupMapper.map`).  ``exact_drops``: DROP_SCHEMA parquet URIs of documents already
    removed.  Writes ``f"{out_prefix}-{p:05d}.parquet"`` (DROP_SCHEMA, near_dup) and returns stats
    (ints, plus ``"files"``: the drop file URIs)."""
    t0 = time.time()
    cfg = _cfg(manifest)
    bands, rows = lsh.choose(cfg.threshold, cfg.num_perm, cfg.bands, cfg.rows, cfg.verify)
    K = cfg.num_perm
    work = out_prefix + ".work"
    fsio.remove(work, recursive=True)
    _clear_outputs(out_prefix)
    run = _Runner(workers)
    units = [u for u in units if u.get("path") and fsio.exists(u["path"])]
    counts = [_num_rows(u["path"]) for u in units]
    total = int(sum(counts))
    base_p = int(getattr(getattr(manifest, "resources", None), "dedup_partitions", 16) or 16)
    P = max(1, base_p, math.ceil(total * bands / PARTITION_ENTRIES))

    # unit groups: consecutive units, ~GROUP_DOCS docs each
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
    G = len(groups)
    unit_group = {u["unit_id"]: g for g, grp in enumerate(groups) for _, u in grp}
    unit_groups_arr = np.zeros(max(len(units), 1), np.int64)
    source_groups: dict[str, list[int]] = defaultdict(list)
    for g, grp in enumerate(groups):
        for i, u in grp:
            unit_groups_arr[i] = g
            if g not in source_groups[u["source"]]:
                source_groups[u["source"]].append(g)

    stats: dict = {"bands": bands, "rows": rows, "partitions": P, "unit_groups": G}
    # A0
    excl_files: dict[int, list[str]] = defaultdict(list)
    drops = [d for d in exact_drops if fsio.exists(d)]
    res = run.map(_task_exclusions, [(d, fi, work, unit_group, dict(source_groups)) for fi, d in enumerate(drops)])
    for fi, gs in enumerate(res):
        for g in gs:
            excl_files[g].append(fsio.join(work, "excl", f"{g:05d}", f"{fi:05d}.parquet"))
    # A
    res = run.map(_task_band_map, [(g, groups[g], excl_files.get(g, []), work, P, K) for g in range(G)])
    band_files: dict[int, list[str]] = defaultdict(list)
    for g, r in enumerate(res):
        for p, rg in r["written"]:
            band_files[p].append((_part_uri(work, "bands", g), rg))
    stats["docs"] = sum(r["docs"] for r in res)
    stats["excluded"] = sum(r["excluded"] for r in res)
    stats["empty"] = sum(r["empty"] for r in res)
    stats["band_entries"] = sum(r["entries"] for r in res)
    # B.  Pc: partitions of the edge / member steps, from the document count (edges ~ near-dup docs <= docs)
    Pc = max(1, base_p, math.ceil(total / PARTITION_ENTRIES))
    res = run.map(_task_band_reduce, [(p, band_files.get(p, []), work, Pc, cfg.threshold, cfg.verify, K) for p in range(P)])
    stats["candidate_pairs"] = sum(r["candidate_pairs"] for r in res)
    stats["candidates_pairs"] = stats["candidate_pairs"]
    stats["verified_pairs"] = sum(r["verified_pairs"] for r in res)
    stats["buckets"] = sum(r["buckets"] for r in res)

    # C
    cur_files, nodej, rounds = _connected_components(run, work, _files_of(res, work, "cc0"), Pc, unit_groups_arr, G)
    stats["cc_rounds"] = rounds
    # D
    mres = run.map(_task_members, [(q, cur_files.get(q, []), work, unit_groups_arr, G) for q in range(Pc)])
    mfiles = _files_of(mres, work, "members")
    todo = [g for g in range(G) if mfiles.get(g)]
    ares = run.map(_task_attach, [(g, mfiles[g], nodej.get(g, []), groups[g], work, Pc) for g in todo])
    kfiles: dict[int, list[str]] = defaultdict(list)
    for g, written in zip(todo, ares):
        for q, rg in written:
            kfiles[q].append((_part_uri(work, "keep", g), rg))
    outs = [f"{out_prefix}-{q:05d}.parquet" for q in range(Pc)]
    kres = run.map(_task_keeper, [(q, kfiles.get(q, []), outs[q]) for q in range(Pc)])
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

"""Unit groups: the dedup shuffle's storage requests in O(units + partitions), not O(units x partitions).

Without grouping, every hash-partition reducer reads every unit's key file and every unit
reads every partition's drop table: units x partitions small reads each way (10^4 units x 64
partitions = 640k GET requests for one step on an object store).  Here consecutive units form
groups of ``group_size(partitions)`` units (at least one partition's worth, so groups x
partitions <= units), and two cheap steps sit around the reducers:

* :func:`combine_keys` (one task per group) concatenates the group's key files into one file
  ordered by text-hash partition, one row group per partition (a reducer reads only its row
  group), plus, when the group has version keys or tombstones, one file of just those rows
  ordered by key partition (for the "latest version wins" reducer);
* :func:`route_drops` (one task per run of groups) reads the reducers' drop tables once and
  writes one drop table per unit group, earlier tables first ("first one wins": supersede, exact,
  near), sorted by unit and document; a unit's tokenize step reads just its group's table.

Outputs are written atomically under deterministic names, so a retried or resumed task
rewrites the same bytes.
"""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.core import fsio
from engine.core.records import DROP_SCHEMA

#: the smallest unit group (a group holds at least this many units, and at least one per partition)
MIN_GROUP_UNITS = 64


def group_size(partitions: int) -> int:
    return max(MIN_GROUP_UNITS, int(partitions))


def unit_groups(unit_ids: list[str], partitions: int) -> list[list[str]]:
    """Consecutive runs of ``group_size(partitions)`` unit ids."""
    k = group_size(partitions)
    return [unit_ids[i:i + k] for i in range(0, len(unit_ids), k)]


def _read(uri: str, filters=None, columns=None) -> pa.Table:
    fs, path = fsio.fs_and_path(uri)
    with fs.open(path, "rb") as f:
        if filters is None:
            return pq.ParquetFile(f).read(columns=columns)
        return pq.read_table(f, filters=filters, columns=columns)


def _write_by(uri: str, table: pa.Table, column: str) -> None:
    """``table`` sorted by ``column`` with one row group per distinct value (row-group pruning on read)."""
    table = table.sort_by([(column, "ascending"), ("doc_id", "ascending")])
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, table.schema, compression="zstd") as w:
        if table.num_rows == 0:
            w.write_table(table)
        else:
            col = table.column(column).to_numpy()
            starts = [0] + [i for i in range(1, len(col)) if col[i] != col[i - 1]] + [len(col)]
            for a, b in zip(starts, starts[1:]):
                w.write_table(table.slice(a, b - a), row_group_size=max(1, b - a))
    fsio.write_bytes_atomic(uri, buf.getvalue())


def combine_keys(key_uris: list[str], out_uri: str, keyed_uri: str, schema: pa.Schema) -> dict:
    """One group's key files -> ``out_uri`` by ``hpart``, and (if any) its versioned rows -> ``keyed_uri`` by ``kpart``."""
    tables = [fsio.read_arrow(u) for u in key_uris]
    tables = [t.select(schema.names).cast(schema) for t in tables if t.num_rows]
    keys = pa.concat_tables(tables) if tables else schema.empty_table()
    _write_by(out_uri, keys, "hpart")
    versioned = keys.filter(pc.or_(pc.fill_null(pc.invert(pc.is_null(keys.column("key"))), False), keys.column("tomb")))
    if versioned.num_rows:
        _write_by(keyed_uri, versioned, "kpart")
    return {"units": len(key_uris), "keys": keys.num_rows, "versioned": versioned.num_rows}


def combine_group(key_uris: list[str], out_uri: str, keyed_uri: str) -> dict:
    """:func:`combine_keys` for the exact-dedup key files (a task of the dedup phase)."""
    from engine.dedup.exact import KEYS_SCHEMA

    return combine_keys(key_uris, out_uri, keyed_uri, KEYS_SCHEMA)


def route_drops(drop_uris: list[str], groups: list[list[str]], out_uris: list[str]) -> dict:
    """The drop rows of the units in ``groups``, from every drop table, into one table per group.

    A document listed by several tables keeps its row from the earliest table (the order of
    ``drop_uris``: supersede, exact, near), as the tokenize step applies them.
    """
    wanted = [u for g in groups for u in g]
    group_of = {u: i for i, g in enumerate(groups) for u in g}
    parts = []
    for order, uri in enumerate(drop_uris):
        if not fsio.exists(uri):
            continue
        t = _read(uri, filters=[("unit_id", "in", wanted)]) if wanted else None
        if t is None or not t.num_rows:
            continue
        t = t.select(DROP_SCHEMA.names).cast(DROP_SCHEMA)
        parts.append(t.append_column("_order", pa.array([order] * t.num_rows, pa.int32())))
    rows = 0
    if parts:
        allp = pa.concat_tables(parts).sort_by([("doc_id", "ascending"), ("_order", "ascending")])
        ids = allp.column("doc_id").to_pylist()
        first = [i for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]]
        allp = allp.take(pa.array(first, pa.int64())).drop_columns(["_order"])
        gidx = pa.array([group_of[u] for u in allp.column("unit_id").to_pylist()], pa.int32())
    for i, out in enumerate(out_uris):
        t = allp.filter(pc.equal(gidx, i)) if parts else DROP_SCHEMA.empty_table()
        t = t.sort_by([("unit_id", "ascending"), ("doc_id", "ascending")])
        rows += t.num_rows
        buf = io.BytesIO()
        pq.write_table(t, buf, compression="zstd", row_group_size=1 << 16)
        fsio.write_bytes_atomic(out, buf.getvalue())
    return {"groups": len(groups), "rows": rows}


class GroupPlan:
    """Where a build's grouped dedup files live and which tasks make them (``staging``: ``OUT/_staging``)."""

    #: unit groups per routing task
    ROUTE_GROUPS = 8

    def __init__(self, staging: str, unit_ids: list[str], partitions: int) -> None:
        self.staging = staging
        self.groups = unit_groups(unit_ids, partitions)
        self.group_of = {u: i for i, g in enumerate(self.groups) for u in g}

    def keys(self, g: int) -> str:
        return fsio.join(self.staging, "keygroups", f"keys-{g:05d}.parquet")

    def keyed(self, g: int) -> str:
        return fsio.join(self.staging, "keygroups", f"keyed-{g:05d}.parquet")

    def routed(self, g: int) -> str:
        return fsio.join(self.staging, "routed", f"drops-{g:05d}.parquet")

    def combine_args(self, key_uri) -> list[tuple[int, tuple]]:
        """``(group, (key files, out, keyed out))`` for each group (``key_uri(unit_id)``: a unit's key file)."""
        return [(g, ([key_uri(u) for u in units], self.keys(g), self.keyed(g))) for g, units in enumerate(self.groups)]

    def key_files(self) -> list[str]:
        return [self.keys(g) for g in range(len(self.groups))]

    def keyed_files(self) -> list[str]:
        """The groups' versioned-key files (only groups that have versioned rows write one)."""
        folder = fsio.join(self.staging, "keygroups")
        have = {u.rsplit("/", 1)[-1] for u in fsio.listdir(folder)}
        return [self.keyed(g) for g in range(len(self.groups)) if f"keyed-{g:05d}.parquet" in have]

    def route_args(self, drop_uris: list[str]) -> list[tuple[int, tuple]]:
        """``(first group, (drop tables, groups, outs))`` per run of ``ROUTE_GROUPS`` groups."""
        out = []
        for a in range(0, len(self.groups), self.ROUTE_GROUPS):
            idx = range(a, min(a + self.ROUTE_GROUPS, len(self.groups)))
            out.append((a, (list(drop_uris), [self.groups[g] for g in idx], [self.routed(g) for g in idx])))
        return out

    def drops_for(self, unit_id: str) -> list[str]:
        """The one drop table a unit's tokenize step reads."""
        return [self.routed(self.group_of[unit_id])]

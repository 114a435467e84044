"""Unit groups around the dedup reducers: same drops as the per-unit shuffle, one drop table per group."""
import pyarrow as pa
import pyarrow.parquet as pq
import polars as pl

from engine.core import fsio
from engine.core.records import DOC_SCHEMA, DROP_SCHEMA, Tombstone
from engine.dedup import exact as dedup_exact
from engine.dedup import groups


def docs(rows):
    return pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows], "meta": [None] * len(rows),
                     "key": [r[2] if len(r) > 2 else None for r in rows], "rank": [r[3] if len(r) > 3 else 0 for r in rows]},
                    schema=DOC_SCHEMA)


def write(uri, table):
    pq.write_table(table, uri)


def read(uri):
    return pq.read_table(uri)


def _units(tmp_path, n_units, P):
    """``n_units`` key files: texts repeat across units (exact dups), one source carries versions + a tombstone."""
    uris = []
    for u in range(n_units):
        rows = [(f"s:{u}-{k}", f"text {(u * 3 + k) % 17}") for k in range(3)]
        rows.append((f"pm:{u}.v{u % 2}", f"version text {u}", f"pm:{u // 2}", u % 2))
        tombs = [Tombstone(f"pm:{u // 2 + 100}", 5, "DeleteCitation")] if u == 1 else None
        if u == 0:
            rows.append(("pm:deleted", "deleted text", "pm:100", 1))
        t = dedup_exact.keys_table(docs(rows), "s", u % 3, f"unit{u:03d}", P, tombs)
        uris.append(str(tmp_path / f"k{u:03d}.parquet"))
        write(uris[-1], t)  # the per-unit shuffle's input
        fsio.write_arrow(str(tmp_path / f"k{u:03d}.arrow"), t)  # what the read step stages
    return uris


def _reduce(tmp_path, tag, sup_inputs, exact_inputs, P):
    sup, ex = [], []
    for p in range(P):
        sup.append(str(tmp_path / f"{tag}-sup-{p}.parquet"))
        dedup_exact.reduce_supersede(p, sup_inputs, sup[-1], P)
    for p in range(P):
        ex.append(str(tmp_path / f"{tag}-ex-{p}.parquet"))
        dedup_exact.reduce_exact(p, exact_inputs, sup, ex[-1])
    return sup, ex


def _frame(uris):
    return pl.from_arrow(pa.concat_tables([read(u).select(DROP_SCHEMA.names) for u in uris])).sort("doc_id")


def test_grouped_reduce_matches_the_per_unit_shuffle(tmp_path):
    P = 4
    uris = _units(tmp_path, 150, P)
    ids = [f"unit{u:03d}" for u in range(150)]
    plan = groups.GroupPlan(str(tmp_path / "staging"), ids, P)
    assert [len(g) for g in plan.groups] == [64, 64, 22]
    for g, (inputs, out, keyed) in plan.combine_args(lambda uid: uris[int(uid[4:])].replace(".parquet", ".arrow")):
        r = groups.combine_keys(inputs, out, keyed, dedup_exact.KEYS_SCHEMA)
        assert r["units"] == len(plan.groups[g])
    # every partition is its own row group, so a reducer reads one row group per group file
    md = pq.ParquetFile(plan.keys(0)).metadata
    assert md.num_row_groups == P
    assert len(plan.keyed_files()) == 3
    sup_a, ex_a = _reduce(tmp_path, "unit", uris, uris, P)
    sup_b, ex_b = _reduce(tmp_path, "group", plan.keyed_files(), plan.key_files(), P)
    a, b = _frame(sup_a), _frame(sup_b)
    assert a.height > 50 and a.equals(b)
    a, b = _frame(ex_a), _frame(ex_b)
    assert a.height > 100 and a.equals(b)
    assert "pm:deleted" in _frame(sup_b)["doc_id"].to_list()


def test_route_drops_one_table_per_group_first_table_wins(tmp_path):
    def drops(rows):
        cols = {"doc_id": [r[0] for r in rows], "source": ["s"] * len(rows), "bucket": [r[2] for r in rows],
                "stage": ["x"] * len(rows), "reason": [r[2] for r in rows], "unit_id": [r[1] for r in rows]}
        return pa.table({f.name: cols.get(f.name, [None] * len(rows)) for f in DROP_SCHEMA}, schema=DROP_SCHEMA)

    first = str(tmp_path / "supersede-0.parquet")
    second = str(tmp_path / "exact-0.parquet")
    write(first, drops([("d1", "u1", "filtered"), ("d5", "u5", "filtered")]))
    write(second, drops([("d1", "u1", "exact_dup"), ("d2", "u2", "exact_dup"), ("d9", "u9", "exact_dup")]))
    missing = str(tmp_path / "near-0.parquet")  # a table never written is skipped
    gs = [["u1", "u2"], ["u3", "u5"]]
    outs = [str(tmp_path / "g0.parquet"), str(tmp_path / "g1.parquet")]
    r = groups.route_drops([first, second, missing], gs, outs)
    assert r == {"groups": 2, "rows": 3}
    g0, g1 = read(outs[0]), read(outs[1])
    assert g0.column("doc_id").to_pylist() == ["d1", "d2"]
    assert g0.column("bucket").to_pylist() == ["filtered", "exact_dup"]  # d1: the earlier table's row
    assert g1.column("doc_id").to_pylist() == ["d5"]
    assert g0.schema.equals(DROP_SCHEMA) and g1.schema.equals(DROP_SCHEMA)
    # u9 belongs to no group here: routed nowhere
    assert "d9" not in g0.column("doc_id").to_pylist() + g1.column("doc_id").to_pylist()


def test_group_size_covers_every_partition():
    assert groups.group_size(16) == groups.MIN_GROUP_UNITS
    assert groups.group_size(256) == 256
    ids = [str(i) for i in range(10_000)]
    for P in (16, 64, 256):
        gs = groups.unit_groups(ids, P)
        assert sum(map(len, gs)) == len(ids) and len(gs) * P <= len(ids) + P

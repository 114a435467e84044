import pyarrow as pa
import polars as pl

from engine.core import fsio
from engine.dedup import exact as dedup_exact
from engine.core.records import DOC_SCHEMA, Tombstone


def docs(rows):
    return pa.table({"doc_id": [r[0] for r in rows], "text": [r[1] for r in rows], "meta": [None] * len(rows),
                     "key": [r[2] if len(r) > 2 else None for r in rows], "rank": [r[3] if len(r) > 3 else 0 for r in rows]},
                    schema=DOC_SCHEMA)


def test_exact_dedup_keeps_higher_priority_then_smaller_id(tmp_path):
    P = 3
    k1 = dedup_exact.keys_table(docs([("a:1", "same text"), ("a:2", "unique a"), ("a:3", "same text")]), "a", 1, "u1", P)
    k2 = dedup_exact.keys_table(docs([("b:1", "same text"), ("b:2", "unique b")]), "b", 5, "u2", P)
    uris = []
    for name, t in (("u1", k1), ("u2", k2)):
        uris.append(str(tmp_path / f"{name}.parquet"))
        fsio.write_parquet(uris[-1], t)
    drops = []
    for p in range(P):
        out = str(tmp_path / f"exact-{p}.parquet")
        dedup_exact.reduce_exact(p, uris, [], out)
        drops.append(fsio.read_parquet(out))
    d = pl.from_arrow(pa.concat_tables(drops)).sort("doc_id")
    assert d["doc_id"].to_list() == ["a:1", "a:3"]
    assert set(d["dup_of"].to_list()) == {"b:1"} and set(d["bucket"].to_list()) == {"exact_dup"}


def test_supersede_latest_version_wins_and_tombstones(tmp_path):
    P = 2
    base = docs([("pm:1.1", "v1 of one", "pm:1", 10), ("pm:2.1", "two", "pm:2", 10), ("pm:3.1", "three", "pm:3", 10)])
    upd = docs([("pm:1.2", "v2 of one", "pm:1", 21), ("pm:3.2", "three", "pm:3", 22)])
    uris = [str(tmp_path / "b.parquet"), str(tmp_path / "u.parquet")]
    fsio.write_parquet(uris[0], dedup_exact.keys_table(base, "pm", 0, "ub", P))
    fsio.write_parquet(uris[1], dedup_exact.keys_table(upd, "pm", 0, "uu", P, [Tombstone("pm:2", 20, "DeleteCitation")]))
    sup = []
    for p in range(P):
        out = str(tmp_path / f"sup-{p}.parquet")
        dedup_exact.reduce_supersede(p, uris, out, P)
        sup.append(out)
    s = pl.from_arrow(pa.concat_tables([fsio.read_parquet(u) for u in sup])).sort("doc_id")
    assert s["doc_id"].to_list() == ["pm:1.1", "pm:2.1", "pm:3.1"]
    assert s.filter(pl.col("doc_id") == "pm:2.1")["reason"][0] == "deleted upstream: DeleteCitation"
    assert s.filter(pl.col("doc_id") == "pm:1.1")["dup_of"][0] == "pm:1.2"
    # pm:3.1 and pm:3.2 share their text: exact dedup must not drop the surviving version
    ex = []
    for p in range(P):
        out = str(tmp_path / f"ex-{p}.parquet")
        dedup_exact.reduce_exact(p, uris, sup, out)
        ex.append(fsio.read_parquet(out))
    assert pa.concat_tables(ex).num_rows == 0

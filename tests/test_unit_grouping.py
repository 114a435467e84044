"""Small files are grouped into work units by count and by bytes; every file lands in exactly one unit."""
import io
import zipfile

from connectors import registry
from connectors.text_files import runs
from engine.core.manifest import SourceConfig
from engine.core.records import Doc


def _units(uri, **options):
    conn = registry.get("text_files")(SourceConfig(name="s", connector="text_files", uri=str(uri), options=options))
    return conn, conn.discover()


def test_runs_close_at_files_or_bytes():
    items = [(i, 10) for i in range(10)]
    assert runs(items, 4, 10_000) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert runs(items, 100, 25) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert runs([("big", 500), ("a", 1), ("b", 1)], 100, 100) == [["big"], ["a", "b"]]
    assert runs([], 4, 10) == []


def test_tree_and_zip_grouped_by_bytes(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(12):
        (tree / f"n{i:02d}.txt").write_text(f"note {i} " + "x" * (100 if i % 2 else 1000))
    conn, units = _units(tree, unit_bytes=2300)
    assert [len(u.members) for u in units] == [4, 4, 4]  # ~1.1 kB per two files
    docs = [r for u in units for r in conn.read(u) if isinstance(r, Doc)]
    assert sorted(d.doc_id for d in docs) == [f"s:n{i:02d}.txt" for i in range(12)]
    _, many = _units(tree, unit_bytes=1 << 30, files_per_unit=5)
    assert [len(u.members) for u in many] == [5, 5, 2]

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(9):
            z.writestr(f"files/p1/s{i}.txt", "y" * 1000)  # compresses to a few bytes: grouped by uncompressed size
    (tmp_path / "r.zip").write_bytes(buf.getvalue())
    conn, units = _units(tmp_path / "r.zip", unit_bytes=3000)
    assert [len(u.members) for u in units] == [3, 3, 3]
    assert len({u.unit_id for u in units}) == 3
    docs = [r for u in units for r in conn.read(u) if isinstance(r, Doc)]
    assert len(docs) == 9

"""The four generic readers: jsonl, csv, parquet, text_files (folder trees and zip/tar members)."""
import gzip
import io
import json
import tarfile
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import registry
from engine.core.manifest import SourceConfig
from engine.core.records import Doc, Drop, Tombstone


def read_all(connector, uri, unit_bytes=None, **options):
    src = SourceConfig(name="s", connector=connector, uri=str(uri), options=options)
    conn = registry.get(connector)(src)
    if unit_bytes:
        units = []
        for u in conn.discover():
            units += conn.units_for_file(u.path, unit_bytes)
    else:
        units = conn.discover()
    recs = [r for u in units for r in conn.read(u)]
    return units, [r for r in recs if isinstance(r, Doc)], [r for r in recs if isinstance(r, Drop)]


def test_registry_lists_generic_readers():
    assert {"jsonl", "csv", "parquet", "text_files"} <= set(registry.available())


def test_jsonl_reads_fields_and_quarantines_bad_lines(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"id": "1", "text": "first", "lang": "en"}\n\n{broken\n{"id": "2", "text": "caf\xe9"}\n[1, 2]\n'
                  b'{"id": "3", "text": 5}\n{"id": "4", "text": "fourth"}\n')
    _, docs, drops = read_all("jsonl", p, id_field="id", meta_fields=["lang"])
    assert [d.doc_id for d in docs] == ["s:1", "s:4"]
    assert docs[0].meta == {"lang": "en", "language": "en"}
    reasons = sorted(d.reason.split(" (")[0].split(" at ")[0] for d in drops)
    assert reasons == ["JSON line is a list, not an object", "invalid UTF-8", "malformed JSON line", "text field 'text' is int, not a string"]
    assert all(d.bucket == "quarantined" and d.location for d in drops)
    assert not any("caf" in d.reason or "broken" in d.reason for d in drops)  # no text in reasons


def test_jsonl_byte_ranges_cover_every_line_once(tmp_path):
    p = tmp_path / "big.jsonl"
    lines = [json.dumps({"id": str(i), "text": f"document number {i} " * (i % 7 + 1)}) for i in range(500)]
    p.write_text("\n".join(lines) + "\n")
    units, docs, drops = read_all("jsonl", p, unit_bytes=1024, id_field="id")
    assert len(units) > 10 and not drops
    assert sorted(int(d.doc_id[2:]) for d in docs) == list(range(500))


def test_jsonl_gzip_and_truncated_gzip(tmp_path):
    body = "".join(json.dumps({"text": f"line {i} " * 50}) + "\n" for i in range(200)).encode()
    (tmp_path / "ok.jsonl.gz").write_bytes(gzip.compress(body))
    bad = gzip.compress(body)
    (tmp_path / "bad.jsonl.gz").write_bytes(bad[: len(bad) // 2])
    _, docs, drops = read_all("jsonl", tmp_path / "ok.jsonl.gz")
    assert len(docs) == 200 and not drops
    _, docs, drops = read_all("jsonl", tmp_path / "bad.jsonl.gz")
    assert 0 < len(docs) < 200
    assert len(drops) == 1 and drops[0].reason.startswith("unreadable input after byte") and "EOFError" in drops[0].reason


def test_csv_multiline_quoted_commas_ragged_and_case(tmp_path):
    p = tmp_path / "notes.csv"
    p.write_bytes(
        b'ROW_ID,CATEGORY,ISERROR,TEXT\n'
        b'1,Radiology,,"line one\nline two, with comma\n""quoted"""\n'
        b'2,Nursing,1,"error row"\n'
        b'3,Nursing,,"ragged",extra\n'
        b'4,Echo,,"bad \xff byte"\n'
        b'5,Echo,,""\n'
        b'6,Echo,,"last"\n'
    )
    _, docs, drops = read_all("csv", p, text_field="text", id_field="row_id", meta_fields=["category"], drop_if={"ISERROR": "1"})
    assert [d.doc_id for d in docs] == ["s:1", "s:5", "s:6"]
    assert docs[0].text == 'line one\nline two, with comma\n"quoted"'
    assert docs[0].meta["category"] == "Radiology"
    by = {d.doc_id: d for d in drops}
    assert by["s:2"].bucket == "filtered" and by["s:2"].reason == "source rule: ISERROR=1"
    assert any(d.reason.startswith("ragged CSV row at line") for d in drops)
    assert by["s:4"].bucket == "quarantined" and "invalid UTF-8" in by["s:4"].reason
    assert len(drops) == 3


def test_csv_empty_file_and_missing_column(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    _, docs, drops = read_all("csv", tmp_path / "empty.csv")
    assert not docs and not drops  # an empty file holds no records
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    _, docs, drops = read_all("csv", tmp_path / "cols.csv", text_field="text")
    assert not docs and "no column 'text'" in drops[0].reason


def test_csv_gzip_streams(tmp_path):
    rows = "id,text\n" + "".join(f'{i},"note {i}\nsecond line"\n' for i in range(3000))
    (tmp_path / "n.csv.gz").write_bytes(gzip.compress(rows.encode()))
    _, docs, drops = read_all("csv", tmp_path / "n.csv.gz", id_field="id", block_size=4096)
    assert len(docs) == 3000 and not drops and docs[-1].text == "note 2999\nsecond line"


def test_parquet_reader(tmp_path):
    t = pa.table({"patient_id": ["p1", "p2", "p3"], "note": ["a note", None, "third"], "task": ["x", "y", "z"]})
    pq.write_table(t, tmp_path / "d.parquet")
    _, docs, drops = read_all("parquet", tmp_path / "d.parquet", text_field="note", id_field="patient_id", meta_fields=["task"])
    assert [d.doc_id for d in docs] == ["s:p1", "s:p3"] and docs[1].meta["task"] == "z"
    assert len(drops) == 1 and drops[0].bucket == "filtered"


def test_text_files_tree_and_archives(tmp_path):
    (tmp_path / "tree" / "a").mkdir(parents=True)
    (tmp_path / "tree" / "a" / "n1.txt").write_text("first note")
    (tmp_path / "tree" / "a" / "n2.txt").write_bytes(b"\xff\xfe bad")
    (tmp_path / "tree" / "a" / "skip.csv").write_text("x")
    _, docs, drops = read_all("text_files", tmp_path / "tree")
    assert [d.doc_id for d in docs] == ["s:a/n1.txt"] and len(drops) == 1

    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("files/p10/s1.txt", "FINDINGS: clear.")
        z.writestr("files/p10/img.txt", b"\x89PNG\x00\x00")
        z.writestr("files/readme.md", "not matched")
    (tmp_path / "r.zip").write_bytes(zbuf.getvalue())
    _, docs, drops = read_all("text_files", tmp_path / "r.zip")
    assert [d.doc_id for d in docs] == ["s:files/p10/s1.txt"]
    assert drops[0].reason == "not a text file (NUL bytes)"

    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w:gz") as t:
        for i in range(5):
            data = f"case {i}".encode()
            info = tarfile.TarInfo(f"cases/c{i}.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    (tmp_path / "c.tar.gz").write_bytes(tbuf.getvalue())
    units, docs, drops = read_all("text_files", tmp_path / "c.tar.gz", files_per_unit=2)
    assert len(units) == 3 and [d.text for d in docs] == [f"case {i}" for i in range(5)]


def test_missing_input_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="source 's': no input matches"):
        read_all("jsonl", tmp_path / "nothing" / "*.jsonl")


def test_memory_filesystem(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/mem-test/in/a.jsonl", b'{"text": "from memory"}\n')
    _, docs, _ = read_all("jsonl", "memory://mem-test/in/*.jsonl")
    assert docs[0].text == "from memory"
    assert not any(isinstance(d, Tombstone) for d in docs)


def test_transient_storage_error_is_raised_not_quarantined(tmp_path, monkeypatch):
    """A store that does not answer must fail the task (Ray retries it), never quarantine the input."""
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "x"}\n')
    import connectors.jsonl as cj

    def boom(*a, **k):
        raise ConnectionResetError(104, "reset by peer")

    monkeypatch.setattr(cj.fsio, "open_input", boom)
    with pytest.raises(ConnectionResetError):
        read_all("jsonl", p)

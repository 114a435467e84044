"""n2c2 2018 Track 2 (brat standoff): the .txt notes are documents, the .ann annotation files are
counted as filtered non-documents (never read as text, never silently dropped)."""
from __future__ import annotations

from pathlib import Path

from connectors import registry
from engine.core.manifest import SourceConfig
from engine.core.records import Doc, Drop

FIX = Path(__file__).parent / "fixtures" / "all20" / "n2c2_2018_ade"


def read_all(uri) -> list:
    c = registry.get("n2c2_2018_ade")(SourceConfig(name="n2c2_2018_ade", connector="n2c2_2018_ade", uri=uri))
    return [r for u in c.discover() for r in c.read(u)]


def test_ann_files_are_counted_as_non_documents():
    recs = read_all(str(FIX / "*/*"))
    assert [r.doc_id for r in recs if isinstance(r, Doc)] == ["n2c2_2018_ade:training_20180910/100035", "n2c2_2018_ade:training_20180910/100039"]
    drops = [r for r in recs if isinstance(r, Drop)]
    assert [(d.doc_id, d.bucket) for d in drops] == [
        ("n2c2_2018_ade:training_20180910/100035.ann", "filtered"), ("n2c2_2018_ade:training_20180910/100039.ann", "filtered")]
    assert {d.reason for d in drops} == {"source rule: brat .ann annotation file, not a document"}
    # read == what the input holds: every file the URI matches is one record
    assert len(recs) == len([p for p in FIX.glob("*/*") if p.is_file()])


def test_ann_inside_an_archive_and_other_files_left_out(tmp_path):
    import zipfile

    z = tmp_path / "track2.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("test/104.txt", "Admission Date: [**2120-1-1**]\nLasix 40 mg daily.\n")
        zf.writestr("test/104.ann", "T1\tDrug 33 38\tLasix\n")
        zf.writestr("README.md", "not part of the corpus")
    recs = read_all(str(z))
    assert [(r.doc_id, type(r).__name__) for r in recs] == [("n2c2_2018_ade:test/104", "Doc"), ("n2c2_2018_ade:test/104.ann", "Drop")]
    assert recs[0].text.startswith("Admission Date: [**2120-1-1**]")

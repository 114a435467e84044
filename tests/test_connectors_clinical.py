"""Credentialed / DUA clinical sources: MIMIC-III, MIMIC-IV-Note, MIMIC-CXR, CheXpert Plus, n2c2, MedNLI.

Fixtures are invented text in the official layouts (tests/fixtures/all20/make_fixtures.py).
"""
from __future__ import annotations

import gzip
import zlib
import re
import zipfile
from pathlib import Path

from connectors import registry
from connectors.base import PLACEHOLDER_MIMIC_III, PLACEHOLDER_MIMIC_IV
from engine.core.manifest import SourceConfig
from engine.core.records import Doc, Drop

FIX = Path(__file__).parent / "fixtures" / "all20"


def read_all(connector: str, uri, name: str | None = None, **options) -> list:
    cls = registry.get(connector)
    c = cls(SourceConfig(name=name or connector, connector=connector, uri=uri, options=options))
    return [r for u in c.discover() for r in c.read(u)]


def ids(recs, kind=Doc):
    return [r.doc_id for r in recs if isinstance(r, kind)]


NOTE_HDR = "ROW_ID,SUBJECT_ID,HADM_ID,CHARTDATE,CHARTTIME,STORETIME,CATEGORY,DESCRIPTION,CGID,ISERROR,TEXT\n"


def test_mimic_iii_noteevents_fixture():
    recs = read_all("mimic_iii_notes", str(FIX / "mimic_iii_notes/mimiciii/1.4/NOTEEVENTS.csv.gz"))
    assert ids(recs) == ["mimic_iii_notes:174", "mimic_iii_notes:175", "mimic_iii_notes:176", "mimic_iii_notes:178"]
    (flt,) = [r for r in recs if isinstance(r, Drop)]
    assert (flt.doc_id, flt.bucket, flt.reason) == ("mimic_iii_notes:177", "filtered", "source rule: ISERROR=1")
    d = recs[0]
    # quoted multi-line TEXT with commas and doubled quotes comes through intact
    assert d.text.startswith("Admission Date:  [**2151-7-10**]       Discharge Date:   [**2151-8-1**]\n\nService: MEDICINE\n")
    assert 'Attending: [**First Name3 (LF) 1234**], "quoted" note, with commas\n' in d.text
    assert d.meta == {"category": "Discharge summary", "description": "Report", "chartdate": "2151-08-01", "hadm_id": "167853", "language": "en"}
    assert re.search(PLACEHOLDER_MIMIC_III, d.text)


def test_mimic_iii_lower_case_header_quoted_newlines_and_commas(tmp_path):
    body = (NOTE_HDR.lower()
            + '1,2,3,2101-01-01,,,"Nursing/other","Report",,,"line one, with comma\nline two ""quoted""\n\nline four"\n'
            + '2,2,3,2101-01-02,,,"Nursing/other","Report",,1,"error note"\n'
            + '3,2,3,2101-01-03,,,"Nursing/other","Report",,"","ok note"\n')
    p = tmp_path / "NOTEEVENTS.csv"
    p.write_text(body)
    recs = read_all("mimic_iii_notes", str(p))
    assert ids(recs) == ["mimic_iii_notes:1", "mimic_iii_notes:3"]
    assert recs[0].text == 'line one, with comma\nline two "quoted"\n\nline four'
    assert [r.bucket for r in recs if isinstance(r, Drop)] == ["filtered"]


def test_mimic_iii_truncated_gzip_and_empty_file(tmp_path):
    rows = "".join(f'{i},1,1,2101-01-01,,,"Nursing","Report",,,"note {i} ' + "text " * 400 + '"\n' for i in range(2000))
    data = gzip.compress((NOTE_HDR + rows).encode(), mtime=0)
    p = tmp_path / "NOTEEVENTS.csv.gz"
    p.write_bytes(data[: len(data) // 2])
    recs = read_all("mimic_iii_notes", str(p), block_size=1 << 16)
    bad = [r for r in recs if isinstance(r, Drop)]
    prefix = zlib.decompressobj(31).decompress(data[: len(data) // 2])
    complete = prefix.count(b'"\n')  # every row ends with a quoted text and a newline
    assert len(ids(recs)) == complete > 0  # every complete row before the cut is read
    assert len(bad) == 1 and bad[0].bucket == "quarantined" and "input ends" in bad[0].reason
    assert "text" not in bad[-1].reason.replace("context", "")
    e = tmp_path / "empty.csv"
    e.write_bytes(b"")
    assert read_all("mimic_iii_notes", str(e)) == []  # an empty file holds no records


def test_mimic_iv_note_discharge_and_radiology():
    dis = read_all("mimic_iv_note", str(FIX / "mimic-iv-note/2.2/note/discharge.csv.gz"), name="mimic_iv_discharge")
    assert ids(dis) == ["mimic_iv_discharge:10000032-DS-21", "mimic_iv_discharge:10000033-DS-22",
                        "mimic_iv_discharge:10000034-DS-23", "mimic_iv_discharge:10000035-AD-24"]
    assert dis[3].meta == {"note_type": "AD", "charttime": "2180-05-04 00:00:00", "hadm_id": "22595856", "language": "en"}
    assert dis[0].text.startswith(" \nName:  ___                     Unit No:   ___\n")
    assert re.search(PLACEHOLDER_MIMIC_IV, dis[0].text)
    rad = read_all("mimic_iv_note", str(FIX / "mimic-iv-note/2.2/note/radiology.csv.gz"), name="mimic_iv_radiology")
    assert ids(rad) == ["mimic_iv_radiology:10000032-RR-14", "mimic_iv_radiology:10000033-RR-15", "mimic_iv_radiology:10000034-RR-16"]
    assert "hadm_id" not in rad[1].meta  # empty hadm_id (outpatient study)
    assert registry.get("mimic_iv_note").placeholder == PLACEHOLDER_MIMIC_IV


def test_mimic_cxr_reports_zip_and_non_text_member(tmp_path):
    recs = read_all("mimic_cxr_reports", str(FIX / "mimic_cxr_reports/mimic-cxr-reports.zip"))
    assert ids(recs) == ["mimic_cxr_reports:p10000032/s50414267", "mimic_cxr_reports:p10000764/s57375967", "mimic_cxr_reports:p11000011/s51029426"]
    assert recs[0].meta == {"language": "en", "subject_id": "10000032", "study_id": "50414267"}
    # the same report also sits in MIMIC-IV radiology: a cross-source exact duplicate by design
    rad = read_all("mimic_iv_note", str(FIX / "mimic-iv-note/2.2/note/radiology.csv.gz"))
    assert recs[0].text == rad[0].text
    z = tmp_path / "mimic-cxr-reports.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("files/p10/p10000001/s1.txt", "FINAL REPORT\n IMPRESSION: normal.\n")
        zf.writestr("files/p10/p10000001/s2.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        zf.writestr("files/p10/p10000001/s3.txt", b"caf\xe9 latin-1")
        zf.writestr("files/p10/p10000001/s4.txt", "FINAL REPORT\n IMPRESSION: clear.\n")
    recs = read_all("mimic_cxr_reports", str(z))
    assert ids(recs) == ["mimic_cxr_reports:p10000001/s1", "mimic_cxr_reports:p10000001/s4"]
    bad = [r for r in recs if isinstance(r, Drop)]
    assert [(b.doc_id, b.bucket) for b in bad] == [("mimic_cxr_reports:p10000001/s2", "quarantined"), ("mimic_cxr_reports:p10000001/s3", "quarantined")]
    assert bad[0].reason == "not a text file (NUL bytes)" and bad[1].reason.startswith("invalid utf-8")


def test_chexpert_plus_one_row_per_image():
    recs = read_all("chexpert_plus", str(FIX / "chexpert_plus/df_chexpert_plus_240401.csv"))
    assert ids(recs) == [
        "chexpert_plus:train/patient04200/study1/view1_frontal.jpg", "chexpert_plus:train/patient04200/study1/view2_lateral.jpg",
        "chexpert_plus:train/patient04201/study1/view1_frontal.jpg", "chexpert_plus:train/patient04201/study1/view2_lateral.jpg",
        "chexpert_plus:train/patient04202/study1/view1_frontal.jpg",
    ]
    assert recs[0].text == recs[1].text and recs[0].text.startswith("NARRATIVE:\nCHEST 2 VIEWS\n")
    assert recs[1].meta == {"split": "train", "frontal_lateral": "Lateral", "language": "en"}


def test_n2c2_2018_ade_brat_pairs(tmp_path):
    recs = read_all("n2c2_2018_ade", str(FIX / "n2c2_2018_ade/*/*.txt"))
    assert ids(recs) == ["n2c2_2018_ade:training_20180910/100035", "n2c2_2018_ade:training_20180910/100039"]
    ann = (FIX / "n2c2_2018_ade/training_20180910/100035.ann").read_text().splitlines()[0].split("\t")
    start, end = map(int, ann[1].split()[1:])
    assert recs[0].text[start:end] == ann[2] == "Metoprolol"  # offsets of the .ann index the .txt unchanged


def test_n2c2_2014_deid_xml(tmp_path):
    recs = read_all("n2c2_2014_deid", str(FIX / "n2c2_2014_deid/t*-PHI-Gold-*/*.xml"))
    assert ids(recs) == ["n2c2_2014_deid:testing-PHI-Gold-fixed/110-01", "n2c2_2014_deid:testing-PHI-Gold-fixed/110-02"]
    d = recs[0]
    assert d.text.startswith("Record date: 2067-05-03\n\nWilma Hargrove is a 55 year old woman")
    assert d.meta["phi_tags"] == 2 and registry.get("n2c2_2014_deid").placeholder is None
    folder = tmp_path / "testing-PHI-Gold-fixed"
    folder.mkdir()
    (folder / "200-01.xml").write_text('<?xml version="1.0"?><deIdi2b2><TEXT><![CDATA[Good note & <b>raw</b> text]]></TEXT><TAGS/></deIdi2b2>')
    (folder / "200-02.xml").write_text("<deIdi2b2><TEXT><![CDATA[cut off")
    (folder / "200-03.xml").write_text("<deIdi2b2><TAGS/></deIdi2b2>")
    recs = read_all("n2c2_2014_deid", str(tmp_path / "t*-PHI-Gold-*/*.xml"))
    assert recs[0].text == "Good note & <b>raw</b> text"
    assert [(r.doc_id, r.bucket) for r in recs[1:]] == [
        ("n2c2_2014_deid:testing-PHI-Gold-fixed/200-02", "quarantined"), ("n2c2_2014_deid:testing-PHI-Gold-fixed/200-03", "quarantined")]
    assert "cut off" not in recs[1].reason


def test_mednli_pairs_and_bad_line(tmp_path):
    recs = read_all("mednli", str(FIX / "mednli/mli_*_v1.jsonl"))
    assert len(ids(recs)) == 6 and ids(recs)[0] == "mednli:23eb94b8-66c7-11e7-a8dc-f45c89b914190#sentence1"
    assert recs[0].meta == {"gold_label": "entailment", "language": "en"}
    assert len({r.text for r in recs}) == 4  # the premise repeats: left to exact dedup
    p = tmp_path / "mli_dev_v1.jsonl"
    p.write_text('{"sentence1": "a b", "sentence2": "c d", "pairID": "x"}\n{"sentence1": "broken\n')
    recs = read_all("mednli", str(p))
    assert ids(recs) == ["mednli:x#sentence1", "mednli:x#sentence2"]
    assert [r.bucket for r in recs if isinstance(r, Drop)] == ["quarantined"]

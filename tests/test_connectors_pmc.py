"""PMC OA JATS connector: JATS 1.3 and old NLM DTD articles in oa_*.tar.gz packages, bad members."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

from connectors.jats import PmcOaConnector
from engine.manifest import SourceConfig
from engine.records import Doc, Drop

FIX = Path(__file__).parent / "fixtures" / "all20" / "pmc_oa"


def read_all(uri, **options) -> list:
    c = PmcOaConnector(SourceConfig(name="pmc_oa", connector="pmc_oa", uri=uri, options=options))
    return [r for u in c.discover() for r in c.read(u)]


def targz(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return path


ART = b"""<?xml version="1.0"?>
<article %s article-type="research-article"><front><article-meta><article-id pub-id-type="pmc">%s</article-id>
<title-group><article-title>Title %s</article-title></title-group></article-meta></front>
<body><p>Body paragraph of %s.</p></body></article>"""


def art(pmc: str, ns: str = "") -> bytes:
    return ART % (ns.encode(), pmc.encode(), pmc.encode(), pmc.encode())


def test_fixture_packages():
    recs = read_all([str(FIX / "oa_comm/xml/oa_comm_xml.*.tar.gz"), str(FIX / "oa_noncomm/xml/oa_noncomm_xml.*.tar.gz")])
    # the retracted article (filelist.csv: Retracted = yes) is filtered, not read
    (retracted,) = [r for r in recs if isinstance(r, Drop)]
    assert (retracted.doc_id, retracted.bucket) == ("pmc_oa:PMC10000002", "filtered")
    assert retracted.reason == "source rule: retracted article (package filelist.csv)"
    new, old = [r for r in recs if isinstance(r, Doc)]
    # JATS 1.3 (namespaced MathML / xlink / ali) in the commercial package
    assert new.doc_id == "pmc_oa:PMC10000001"
    assert new.meta == {
        "pmcid": "PMC10000001", "pmid": "36000001", "licence": "CC-BY-4.0", "licence_url": "https://creativecommons.org/licenses/by/4.0/", "subset": "comm",
        "article_type": "research-article", "year": "2023", "member": "PMC010xxxxxx/PMC10000001.xml", "language": "en",
    }
    t = new.text
    assert t.startswith("Ward-level sepsis alerts and time to antibiotics\n\nBackground\n\nDelays to antibiotics worsen outcomes in sepsis\u2014especially")
    assert "\n\nIntroduction\n\n" in t and "\n\nMethods\n\n" in t
    assert "The alert fired when q \u2265 2 criteria were met." in t  # MathML linearized
    assert "Figure 1 Study flow. Patients screened and included." in t
    assert "Table 1 Baseline characteristics of the cohort." in t
    assert "post hoc review" in t
    # references, acknowledgements, table bodies and graphics are left out
    for gone in ("Old sepsis paper", "References", "ward nurses", "im-1-f1.jpg", "\n67"):
        assert gone not in t
    # old NLM DTD article (.nxml, HTML named entities, numeric pmc id) in the non-commercial package
    assert old.doc_id == "pmc_oa:PMC1900001"
    assert old.meta["licence"] == "CC-BY-NC-2.0" and old.meta["subset"] == "noncomm"
    assert old.text.startswith("Café-au-lait macules and a pheochromocytoma: a case report\n\n")
    assert "Blood pressure was 182/110 mmHg." in old.text  # nbsp squashed with the other whitespace
    assert "Old reference text" not in old.text


def test_articleset_wrapper_is_unwrapped(tmp_path):
    (tmp_path / "PMC43.xml").write_bytes(b"<pmc-articleset>" + art("PMC43").split(b"?>", 1)[1] + b"</pmc-articleset>")
    (d,) = read_all(str(tmp_path))
    assert d.doc_id == "pmc_oa:PMC43" and d.text == "Title PMC43\n\nBody paragraph of PMC43."


def test_default_namespace_article_as_plain_file(tmp_path):
    (tmp_path / "PMC42.nxml").write_bytes(art("PMC42", ns='xmlns="http://jats.nlm.nih.gov/ns/archiving/1.3/" dtd-version="1.3"'))
    (d,) = read_all(str(tmp_path))
    assert d.doc_id == "pmc_oa:PMC42" and d.text == "Title PMC42\n\nBody paragraph of PMC42."


def test_bad_members_are_quarantined_alone(tmp_path):
    p = targz(tmp_path / "oa_comm_xml.incr.2025-01-01.tar.gz", [
        ("PMC000xxxxxx/PMC1.xml", art("PMC1")),
        ("PMC000xxxxxx/PMC2.xml", b"<article><front><article-meta><title-group><article-title>cut"),
        ("PMC000xxxxxx/PMC3.xml", b"<html><body>not an article</body></html>"),
        ("PMC000xxxxxx/PMC4.xml", art("PMC4")),
        ("PMC000xxxxxx/PMC4.pdf", b"%PDF-1.4 not xml"),
    ])
    recs = read_all(str(p))
    assert [r.doc_id for r in recs if isinstance(r, Doc)] == ["pmc_oa:PMC1", "pmc_oa:PMC4"]
    bad = [r for r in recs if isinstance(r, Drop)]
    assert [(b.doc_id, b.bucket) for b in bad] == [("pmc_oa:PMC2", "quarantined"), ("pmc_oa:PMC3", "quarantined")]
    assert bad[0].reason.startswith("malformed JATS XML: ParseError") and "not a JATS article" in bad[1].reason
    assert all(b.location.endswith(".xml") and "::" in b.location for b in bad)


def test_truncated_package_counts_missing_members(tmp_path):
    p = targz(tmp_path / "oa_comm_xml.x.tar.gz", [(f"d/PMC{i}.xml", art(f"PMC{i}") + b" " * 20000) for i in range(6)])
    units = PmcOaConnector(SourceConfig(name="pmc_oa", connector="pmc_oa", uri=str(p))).discover()
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    c = PmcOaConnector(SourceConfig(name="pmc_oa", connector="pmc_oa", uri=str(p)))
    recs = [r for u in units for r in c.read(u)]
    assert len(recs) == 6  # every listed member is accounted for
    assert any(isinstance(r, Drop) and r.bucket == "quarantined" for r in recs)


def test_discovery_from_filelist_without_listing_the_package(tmp_path, monkeypatch):
    p = targz(tmp_path / "oa_comm_xml.PMC000xxxxxx.baseline.2025-01-01.tar.gz", [("d/PMC1.xml", art("PMC1")), ("d/PMC2.xml", art("PMC2"))])
    (tmp_path / "oa_comm_xml.PMC000xxxxxx.baseline.2025-01-01.filelist.csv").write_text(
        "Article File,Article Citation,AccessionID,LastUpdated (YYYY-MM-DD HH:MM:SS),PMID,License,Retracted\n"
        "d/PMC1.xml,\"J, 1\",PMC1,2025-01-01 00:00:00,1,CC BY,no\n"
        "d/PMC2.xml,\"J, 2\",PMC2,2025-01-01 00:00:00,2,CC BY-NC,no\n"
        "d/PMC3.xml,\"J, 3\",PMC3,2025-01-01 00:00:00,3,CC0,no\n")
    import connectors.text_files as tf

    def no_listing(uri):
        raise AssertionError("package listed although it has a filelist.csv")

    monkeypatch.setattr(tf, "list_members", no_listing)
    recs = read_all(str(tmp_path / "oa_comm_xml.*.tar.gz"))
    assert [r.doc_id for r in recs if isinstance(r, Doc)] == ["pmc_oa:PMC1", "pmc_oa:PMC2"]
    # a member the file list names but the package lacks is counted, not lost
    (missing,) = [r for r in recs if isinstance(r, Drop)]
    assert (missing.doc_id, missing.bucket, missing.reason) == ("pmc_oa:d/PMC3.xml", "quarantined", "archive member missing")

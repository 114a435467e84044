"""PMC OA JATS connector: JATS 1.3 and old NLM DTD articles in oa_*.tar.gz packages, bad members."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

from connectors.jats import PmcOaConnector
from engine.core.manifest import SourceConfig
from engine.core.records import Doc, Drop

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


# -- text fidelity: formulas, superscripts, left-over headings, licence ids ---------------------------
JATS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.1d3 20150301//EN" "JATS-archivearticle1.dtd">
<article xmlns:mml="http://www.w3.org/1998/Math/MathML" xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front><article-meta><article-id pub-id-type="pmc">{pmc}</article-id>
<title-group><article-title>Counting models for ward admissions</article-title></title-group>
<permissions><copyright-year>2015</copyright-year>{licence}</permissions>
</article-meta></front>
<body>{body}</body></article>"""

PLOS_LICENCE = ('<license xlink:type="simple"><license-p>This is an open access article distributed under the terms of the '
                '<ext-link ext-link-type="uri" xlink:href="http://creativecommons.org/licenses/by/4.0/">Creative Commons Attribution License</ext-link>, '
                "which permits unrestricted use, distribution, and reproduction in any medium, provided the original author and source are credited.</license-p></license>")

BODY = """<sec id="sec001"><title>Methods</title>
<p>The probability that the count lies between <italic>a</italic> and <italic>b</italic> is<disp-formula id="pone.0000001.e001"><alternatives><graphic xlink:href="pone.0000001.e001.jpg" id="pone.0000001.e001g" mimetype="image" position="anchor" orientation="portrait"/><mml:math id="M1"><mml:mrow><mml:mi>P</mml:mi><mml:mo>=</mml:mo><mml:msubsup><mml:mo>&#x222B;</mml:mo><mml:mi>a</mml:mi><mml:mi>b</mml:mi></mml:msubsup><mml:mi>f</mml:mi><mml:mo>(</mml:mo><mml:mi>x</mml:mi><mml:mo>)</mml:mo><mml:mi>d</mml:mi><mml:mi>x</mml:mi></mml:mrow></mml:math></alternatives><label>(1)</label></disp-formula>with <inline-formula id="pone.0000001.e002"><alternatives><graphic xlink:href="pone.0000001.e002.jpg" mimetype="image" position="anchor" orientation="portrait"/><mml:math id="M2"><mml:mi>&#x393;</mml:mi></mml:math></alternatives></inline-formula> being the generalized incomplete gamma function.</p>
<p>Counts above 10<sup>9</sup>/L and <italic>P</italic><sub>a</sub>O<sub>2</sub> were recorded, as before<sup><xref ref-type="bibr" rid="pone.0000001.ref001">1</xref>,<xref ref-type="bibr" rid="pone.0000001.ref002">2</xref></sup>.</p>
<p>The level was <inline-formula><tex-math id="M3"><![CDATA[\\documentclass[12pt]{minimal}\\usepackage{amsmath}\\begin{document}$$\\alpha=0.05$$\\end{document}]]></tex-math></inline-formula> and the scale<inline-formula><inline-graphic xlink:href="e003.gif"/></inline-formula>fixed.</p>
<disp-formula id="e4"><label>(2)</label><mml:math display="block"><mml:mi>y</mml:mi><mml:mo>=</mml:mo><mml:mfrac><mml:mn>1</mml:mn><mml:mi>n</mml:mi></mml:mfrac></mml:math></disp-formula>
</sec>
<sec id="sec002"><title>Funding</title><p>Funded by the ward.</p>
<p>Supplemental data for this article can be accessed here:<inline-supplementary-material xlink:href="z.pdf"/></p></sec>
<sec id="sec003"><title>Supplementary Material</title><supplementary-material content-type="local-data" id="SM1"><media xlink:href="data.zip"><caption><p>Data sheet.</p></caption></media></supplementary-material></sec>
<sec id="sec004"><title>Results</title><sec id="sec005"><title>Empty subsection</title><fig id="f1"><graphic xlink:href="f1.tif"/></fig></sec></sec>
<sec sec-type="supplementary-material"><title>Supporting information</title><supplementary-material id="pone.0000001.s001" xlink:href="pone.0000001.s001.docx"><label>S1 Table</label><caption><title>Counts by ward.</title><p>(DOCX)</p></caption></supplementary-material></sec>"""


def jats(tmp_path, pmc: str, licence: str = PLOS_LICENCE, body: str = "<p>Body.</p>") -> str:
    (tmp_path / f"{pmc}.nxml").write_text(JATS.format(pmc=pmc, licence=licence, body=body))
    return str(tmp_path / f"{pmc}.nxml")


def test_formulas_never_glue_words_and_superscripts_are_marked(tmp_path):
    (d,) = read_all(jats(tmp_path, "PMC4000001", body=BODY))
    t = d.text
    assert "between a and b is P = \u222b_a^b f(x)dx with \u0393 being the generalized incomplete gamma function." in t
    assert "Counts above 10^9/L and P_aO_2 were recorded, as before [1,2]." in t
    assert "The level was \\alpha=0.05 and the scale fixed." in t  # TeX without its document wrapper; a graphic leaves a space
    assert "\n\ny = 1/n\n\n" in t  # a display formula between paragraphs is its own block, without its label
    for glued in ("iswith", "\u0393being", "0.05and", "scalefixed", "bf(x)", "dxwith"):
        assert glued not in t
    assert "(1)" not in t and "(2)" not in t


def test_left_over_headings_are_dropped(tmp_path):
    (d,) = read_all(jats(tmp_path, "PMC4000002", body=BODY))
    t = d.text
    assert "\n\nFunding\n\nFunded by the ward." in t
    for gone in ("Supplementary Material", "Supporting information", "accessed here", "Empty subsection", "Results", "S1 Table", "Data sheet"):
        assert gone not in t, gone
    assert t.endswith("y = 1/n\n\nFunding\n\nFunded by the ward.")


def test_licence_is_an_id_never_a_paragraph(tmp_path):
    cases = {
        "PMC5000001": (PLOS_LICENCE, "CC-BY-4.0", "http://creativecommons.org/licenses/by/4.0/"),
        "PMC5000002": ('<license license-type="open-access"><license-p>This article is licensed under a Creative Commons '
                       "Attribution-NonCommercial 4.0 International License.</license-p></license>", "CC-BY-NC-4.0", None),
        "PMC5000003": ('<license xlink:href="https://www.elsevier.com/tdm/userlicense/1.0/"><license-p>Elsevier user licence.</license-p></license>',
                       "https://www.elsevier.com/tdm/userlicense/1.0/", "https://www.elsevier.com/tdm/userlicense/1.0/"),
        "PMC5000004": ("<license><license-p>Published under the publisher's standard terms of use for archived articles.</license-p></license>", None, None),
        "PMC5000005": ('<license license-type="cc-by-nc-nd"><license-p>See the journal website.</license-p></license>', "CC-BY-NC-ND", None),
        "PMC5000006": ('<license><ali:license_ref xmlns:ali="http://www.niso.org/schemas/ali/1.0/">https://creativecommons.org/publicdomain/zero/1.0/</ali:license_ref></license>',
                       "CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
        # NLM DTD 2.3 (BioMed Central): licence URL on <license>, text in <p>, an RDF comment inside
        "PMC5000007": ('<license license-type="open-access" xlink:href="http://creativecommons.org/licenses/by/2.0"><p>This is an Open Access '
                       'article distributed under the terms of the Creative Commons Attribution License (<ext-link ext-link-type="uri" '
                       'xlink:href="http://creativecommons.org/licenses/by/2.0"/>).</p><!--<rdf><License rdf:about="x"/></rdf>--></license>',
                       "CC-BY-2.0", "http://creativecommons.org/licenses/by/2.0"),
        # no <license>: the licence named in the copyright statement
        "PMC5000008": ("<copyright-statement>\u00a9 2006 Author et al; licensee BioMed Central Ltd. This is an Open Access article distributed under "
                       "the terms of the Creative Commons Attribution License (http://creativecommons.org/licenses/by/2.0).</copyright-statement>",
                       "CC-BY-2.0", None),
    }
    for pmc, (lic, _, _) in cases.items():
        jats(tmp_path, pmc, licence=lic)
    recs = read_all(str(tmp_path))
    got = {r.meta["pmcid"]: (r.meta.get("licence"), r.meta.get("licence_url")) for r in recs}
    assert got == {pmc: (want, url) for pmc, (_, want, url) in cases.items()}


def test_subtitle_and_floats_group_captions_are_kept(tmp_path):
    x = JATS.format(pmc="PMC4000003", licence=PLOS_LICENCE, body="<p>See <xref ref-type=\"fig\" rid=\"f1\">Fig 1</xref>.</p>")
    x = x.replace("<article-title>Counting models for ward admissions</article-title>",
                  "<article-title>Counting models for ward admissions</article-title><subtitle>a retrospective cohort</subtitle>")
    x = x.replace("</body>", '</body><floats-group><fig id="f1"><label>Fig 1</label><caption><title>Admissions per week.</title>'
                  '<p>Counts over 10<sup>3</sup>.</p></caption><graphic xlink:href="f1.tif"/></fig></floats-group>')
    (tmp_path / "PMC4000003.nxml").write_text(x)
    (d,) = read_all(str(tmp_path))
    assert d.text == "Counting models for ward admissions: a retrospective cohort\n\nSee Fig 1.\n\nFig 1 Admissions per week. Counts over 10^3."


def test_graphic_only_formulas_leave_a_separator(tmp_path):
    # older PLoS ONE articles carry display formulas as images only
    body = ('<sec id="s2"><title>Model</title><p>The probability that the count lies between <italic>a</italic> and <italic>b</italic> is'
            '<disp-formula id="pone.0000217.e001"><graphic xlink:href="pone.0000217.e001.jpg" mimetype="image" position="anchor"/><label>(1)</label></disp-formula>'
            'with<inline-formula><inline-graphic xlink:href="pone.0000217.e002.jpg" mimetype="image"/></inline-formula>being the generalized incomplete gamma function.</p></sec>')
    (d,) = read_all(jats(tmp_path, "PMC4000004", body=body))
    assert d.text.endswith("\n\nModel\n\nThe probability that the count lies between a and b is with being the generalized incomplete gamma function.")

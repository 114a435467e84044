"""PubMed / MEDLINE XML connector: fixture layout, latest-version ranks, DeleteCitation, bad input."""
from __future__ import annotations

import gzip
from pathlib import Path

from connectors.medline import PubmedConnector, file_rank
from engine.core.manifest import SourceConfig
from engine.core.records import Doc, Drop, Tombstone

FIX = Path(__file__).parent / "fixtures" / "all20" / "pubmed"
HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "x.dtd">\n<PubmedArticleSet>\n'


def read_all(uri) -> list:
    c = PubmedConnector(SourceConfig(name="pubmed", connector="pubmed", uri=uri))
    return [r for u in c.discover() for r in c.read(u)]


def art(pmid: int, title: str = "A title about sepsis outcomes", abstract: str | None = "<AbstractText>Some abstract text here.</AbstractText>", version: int = 1) -> str:
    ab = f"<Abstract>{abstract}</Abstract>" if abstract is not None else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="{version}">{pmid}</PMID>'
            f"<Article><ArticleTitle>{title}</ArticleTitle>{ab}<Language>eng</Language></Article></MedlineCitation>"
            f"<PubmedData/></PubmedArticle>\n")


def write_gz(path: Path, body: str) -> Path:
    path.write_bytes(gzip.compress((HEAD + body + "</PubmedArticleSet>\n").encode(), mtime=0))
    return path


def docs(recs):
    return [r for r in recs if isinstance(r, Doc)]


def drops(recs):
    return [r for r in recs if isinstance(r, Drop)]


def test_fixture_baseline_and_update():
    recs = read_all([str(FIX / "baseline/pubmed*.xml.gz"), str(FIX / "updatefiles/pubmed*.xml.gz")])
    ds = docs(recs)
    assert [d.doc_id.split("@")[0] for d in ds] == ["pubmed:31000001.1", "pubmed:31000002.1", "pubmed:31000003.1", "pubmed:31000004.1", "pubmed:31000004.1", "pubmed:31000005.1"]
    assert all(d.key == d.doc_id.split("@")[0].rsplit(".", 1)[0] for d in ds)
    # the doc id names the file, so a PMID.VERSION re-released by an update file stays distinct
    assert ds[0].doc_id == "pubmed:31000001.1@pubmed25n0001" and ds[-2].doc_id.endswith("@pubmed25n1275")
    assert drops(recs) == []
    # structured abstract: labels kept as headings, inline markup flattened (<sub>/<sup> marked)
    d1 = ds[0]
    assert d1.text.startswith("Early inflammatory markers in E. coli sepsis: a cohort study.\n\nBACKGROUND\nSepsis in Escherichia coli")
    for label in ("BACKGROUND\n", "METHODS\n", "RESULTS\n", "CONCLUSIONS\n"):
        assert label in d1.text
    assert "ratio x^2 in 120 adults; CO_2 and 10^9 cells/L" in d1.text and "<" not in d1.text
    assert "deterioration & mortality" in d1.text
    assert d1.meta == {"pmid": "31000001", "version": 1, "year": "2019", "file": "pubmed25n0001", "language": "en"}
    # citation without abstract: the title alone
    assert ds[1].text == "Letter: outcomes after hip fracture surgery in older adults."
    # OtherAbstract kept
    assert "El manejo de la bronquiolitis" in ds[2].text
    # the revised citation in the update file outranks the baseline one
    base4, upd4 = ds[3], ds[4]
    assert "(revised)" in upd4.text and upd4.rank > base4.rank
    # DeleteCitation: a tombstone above every rank of its own and earlier files, below the next file
    (tomb,) = [r for r in recs if isinstance(r, Tombstone)]
    assert tomb.key == "pubmed:31000003" and tomb.reason == "DeleteCitation in pubmed25n1275"
    assert tomb.rank > max(d.rank for d in ds) and tomb.rank < file_rank("pubmed25n1276.xml.gz")


def test_file_rank_orders_baseline_before_updates():
    assert file_rank("pubmed25n0001.xml.gz") < file_rank("pubmed25n1274.xml.gz") < file_rank("pubmed25n1275.xml.gz")
    assert file_rank("pubmed24n1300.xml.gz") < file_rank("pubmed25n0001.xml.gz")


def test_malformed_record_in_the_middle_keeps_neighbours(tmp_path):
    body = art(1) + art(2, title="Broken <i>markup</ArticleTitle") + art(3) + "<PubmedArticle><MedlineCitation><PMID Version=\"1\">4</PMID>" + art(5)
    recs = read_all(str(write_gz(tmp_path / "pubmed25n0002.xml.gz", body)))
    assert [d.doc_id.split("@")[0] for d in docs(recs)] == ["pubmed:1.1", "pubmed:3.1", "pubmed:5.1"]
    bad = drops(recs)
    assert len(bad) == 2 and all(b.bucket == "quarantined" for b in bad)
    assert bad[0].reason.startswith("malformed citation XML: ParseError")
    assert "without end tag" in bad[1].reason
    assert all("markup" not in b.reason and "sepsis" not in b.reason for b in bad)
    assert all(b.location and "@" in b.location for b in bad)


def test_corrupted_start_tag_is_counted(tmp_path):
    body = art(1) + art(2).replace("<PubmedArticle>", "<PubmedArtXcle>", 1) + art(3)
    recs = read_all(str(write_gz(tmp_path / "pubmed25n0007.xml.gz", body)))
    assert [d.doc_id.split("@")[0] for d in docs(recs)] == ["pubmed:1.1", "pubmed:3.1"]
    (bad,) = drops(recs)
    assert bad.bucket == "quarantined" and bad.reason == "PubmedArticle end tag without a start tag (corrupted record)"


def test_truncated_gzip_keeps_complete_records(tmp_path):
    body = "".join(art(i, title=f"Title number {i} " + "word " * 200) for i in range(1, 40))
    full = gzip.compress((HEAD + body + "</PubmedArticleSet>\n").encode(), mtime=0)
    p = tmp_path / "pubmed25n0003.xml.gz"
    p.write_bytes(full[: len(full) * 2 // 3])
    recs = read_all(str(p))
    ds, bad = docs(recs), drops(recs)
    assert 0 < len(ds) < 39
    assert [d.doc_id.split("@")[0] for d in ds] == [f"pubmed:{i}.1" for i in range(1, len(ds) + 1)]
    assert len(bad) >= 1 and all(b.bucket == "quarantined" for b in bad)
    assert any("unreadable input" in b.reason or "cut off" in b.reason for b in bad)


def test_empty_file_is_counted(tmp_path):
    p = tmp_path / "pubmed25n0004.xml.gz"
    p.write_bytes(b"")
    recs = read_all(str(p))
    assert len(recs) == 1 and recs[0].bucket == "quarantined" and "no PubMed records" in recs[0].reason


def test_citation_without_any_text_is_filtered(tmp_path):
    recs = read_all(str(write_gz(tmp_path / "pubmed25n0005.xml.gz", art(9, title="", abstract=None))))
    assert len(recs) == 1 and recs[0].bucket == "filtered" and recs[0].reason.startswith("source rule:")


def test_old_medlinecitationset_root_entities_and_prefix(tmp_path):
    body = (
        '<MedlineCitationSet>\n<MedlineCitation Owner="NLM" Status="MEDLINE"><PMID Version="2">77</PMID>'
        "<Article><ArticleTitle>Caf&eacute; coronary: <mml:math><mml:mi>y</mml:mi></mml:math> revisited</ArticleTitle>"
        '<Abstract><AbstractText Label="OBJECTIVE">Check &#x3b1;-agonists.</AbstractText></Abstract></Article></MedlineCitation>\n'
        "<DeleteCitation><PMID Version=\"1\">55</PMID><PMID Version=\"1\">56</PMID></DeleteCitation>\n</MedlineCitationSet>\n"
    )
    p = tmp_path / "medline14n0001.xml.gz"
    p.write_bytes(gzip.compress(('<?xml version="1.0"?>\n' + body).encode(), mtime=0))
    recs = read_all(str(p))
    (d,) = docs(recs)
    assert d.doc_id.split("@")[0] == "pubmed:77.2" and d.text == "Café coronary: y revisited\n\nOBJECTIVE\nCheck α-agonists."
    assert [t.key for t in recs if isinstance(t, Tombstone)] == ["pubmed:55", "pubmed:56"]


def test_uncompressed_xml_and_book_article(tmp_path):
    body = ('<PubmedBookArticle><BookDocument><PMID Version="1">88</PMID><ArticleTitle>Sepsis overview</ArticleTitle>'
            "<Book><BookTitle>GeneReviews</BookTitle></Book><Abstract><AbstractText>Book abstract.</AbstractText></Abstract></BookDocument></PubmedBookArticle>\n")
    p = tmp_path / "pubmed25n0006.xml"
    p.write_text(HEAD + body + "</PubmedArticleSet>\n")
    (d,) = read_all(str(p))
    assert d.doc_id.split("@")[0] == "pubmed:88.1" and d.text == "Sepsis overview\n\nBook abstract." and d.key == "pubmed:88"


# -- text fidelity: MathML, sub/superscripts, translated titles, MedlineDate ---------------------------
VO2MAX = """<AbstractText Label="RESULTS" NlmCategory="RESULTS">Peak oxygen uptake (<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML">
    <mml:mrow>
      <mml:mover accent="true">
        <mml:mi>V</mml:mi>
        <mml:mo>&#x2d9;</mml:mo>
      </mml:mover>
      <mml:msub>
        <mml:mi>O</mml:mi>
        <mml:mn>2</mml:mn>
      </mml:msub>
      <mml:mi>m</mml:mi><mml:mi>a</mml:mi><mml:mi>x</mml:mi>
    </mml:mrow>
  </mml:math>) rose by 3.1 mL/kg/min (<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi>p</mml:mi><mml:mo>&lt;</mml:mo><mml:mn>0.001</mml:mn></mml:math>); platelets stayed above 150 &#xd7; 10<sup>9</sup>/L and Pa<sub>CO2</sub> below 45 mmHg from the 1<sup>st</sup> week (Drug<sup>&#xae;</sup>).</AbstractText>"""


def translated(pmid: int, date: str, vernacular: str | None = "Traitement des pneumonies communautaires du sujet \u00e2g\u00e9.") -> str:
    vt = f"<VernacularTitle>{vernacular}</VernacularTitle>" if vernacular else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><ISSN IssnType="Print">0000-0000</ISSN><JournalIssue CitedMedium="Print"><Volume>27</Volume>'
            f"<Issue>4</Issue><PubDate>{date}</PubDate></JournalIssue><Title>Revue des maladies invent\u00e9es</Title></Journal>"
            "<ArticleTitle>[Treatment of community-acquired pneumonia in older adults].</ArticleTitle><Pagination><MedlinePgn>233-8</MedlinePgn></Pagination>"
            "<Abstract><AbstractText>Older adults with pneumonia were treated as outpatients.</AbstractText></Abstract>"
            f'<Language>fre</Language><PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList>{vt}</Article>'
            '</MedlineCitation><PubmedData/></PubmedArticle>\n')


def test_mathml_and_scripts_are_readable(tmp_path):
    (d,) = docs(read_all(str(write_gz(tmp_path / "pubmed25n0010.xml.gz", art(10, title="Training and V&#x307;O<sub>2</sub>max", abstract=VO2MAX)))))
    assert d.text.startswith("Training and V\u0307O_2max\n\nRESULTS\n")
    assert ("Peak oxygen uptake (V\u0307O_2 max) rose by 3.1 mL/kg/min (p < 0.001); platelets stayed above "
            "150 \u00d7 10^9/L and Pa_CO2 below 45 mmHg from the 1st week (Drug\u00ae).") in d.text
    assert "m a x" not in d.text and "V . O" not in d.text


def test_translated_title_language_vernacular_title_and_medline_date(tmp_path):
    body = (translated(20, "<MedlineDate>1998 Dec-1999 Jan</MedlineDate>")
            + translated(21, "<MedlineDate>Spring 2001</MedlineDate>", vernacular=None)
            + art(22).replace("<Language>eng</Language>", "<Language>eng</Language><Language>spa</Language>"))
    a, b, c = docs(read_all(str(write_gz(tmp_path / "pubmed06n0001.xml.gz", body))))
    # the text (translated title + English abstract) is English; the article's own language is kept apart
    assert a.text == "Treatment of community-acquired pneumonia in older adults.\n\nOlder adults with pneumonia were treated as outpatients."
    assert a.meta == {"pmid": "20", "version": 1, "year": "1998", "file": "pubmed06n0001", "language": "en", "article_language": "fr",
                      "title_translated": True, "vernacular_title": "Traitement des pneumonies communautaires du sujet \u00e2g\u00e9."}
    assert b.meta["year"] == "2001" and b.meta["title_translated"] is True and "vernacular_title" not in b.meta
    assert c.meta["language"] == "en" and c.meta["article_language"] == "en,es" and "title_translated" not in c.meta


def test_bracketed_title_prefix_is_not_a_translation(tmp_path):
    body = art(30, title="[18F]FDG PET in sepsis [a pilot study]")
    (d,) = docs(read_all(str(write_gz(tmp_path / "pubmed25n0011.xml.gz", body))))
    assert d.text.startswith("[18F]FDG PET in sepsis [a pilot study]\n\n") and "title_translated" not in d.meta


def test_other_abstract_language_is_recorded(tmp_path):
    body = art(40).replace("</MedlineCitation>", '<OtherAbstract Type="Publisher" Language="spa"><AbstractText>Resumen en espa\u00f1ol.</AbstractText></OtherAbstract></MedlineCitation>')
    (d,) = docs(read_all(str(write_gz(tmp_path / "pubmed25n0012.xml.gz", body))))
    assert d.text.endswith("Some abstract text here.\n\nResumen en espa\u00f1ol.")
    assert d.meta["language"] == "en" and d.meta["other_abstract_language"] == "es"


def test_other_abstract_repeating_the_abstract_appears_once(tmp_path):
    body = art(41).replace("</MedlineCitation>", '<OtherAbstract Type="Publisher" Language="eng"><AbstractText>Some abstract  text here.</AbstractText></OtherAbstract></MedlineCitation>')
    (d,) = docs(read_all(str(write_gz(tmp_path / "pubmed25n0013.xml.gz", body))))
    assert d.text == "A title about sepsis outcomes\n\nSome abstract text here." and "other_abstract_language" not in d.meta


def test_mathml_layout_schemata():
    from connectors._mathml import linearize
    from connectors._xmlutil import parse_xml

    def lin(x: str) -> str:
        return linearize(parse_xml(f'<math xmlns="http://www.w3.org/1998/Math/MathML">{x}</math>'.encode()))

    assert lin("<mi>log</mi><mo>&#x2061;</mo><mi>x</mi><mo>&#x2062;</mo><mi>y</mi>") == "log xy"
    assert lin("<msqrt><mi>a</mi><mo>+</mo><mi>b</mi></msqrt>") == "\u221a(a + b)"
    assert lin("<mfenced><mi>x</mi><mi>y</mi></mfenced>") == "(x, y)"
    assert lin("<munderover><mo>&#x2211;</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></munderover><msub><mi>x</mi><mi>i</mi></msub>") == "\u2211_(i = 1)^n x_i"
    assert lin("<mover><mi>x</mi><mo>&#xaf;</mo></mover><mo>&#xb1;</mo><mi>s</mi>") == "x\u0304 \u00b1 s"
    assert lin("<semantics><mrow><mi>r</mi><mo>&#x2265;</mo><mn>0.8</mn></mrow><annotation encoding='TeX'>r\\geq 0.8</annotation></semantics>") == "r \u2265 0.8"
    assert lin("<mtable><mtr><mtd><mi>a</mi></mtd><mtd><mi>b</mi></mtd></mtr><mtr><mtd><mi>c</mi></mtd><mtd><mi>d</mi></mtd></mtr></mtable>") == "a b; c d"

"""A generated corpus of hostile inputs, one source per kind, each with the buckets it must end in.

``make_corpus(root)`` writes every case's files under ``root`` and returns the cases.  A case's
``expect`` gives the ledger counts a build must report for its source (buckets not named must be
0); ``secret`` is planted content that must never reach a log line, a reason or a report.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SECRET = "Zyxwvut Qqqplover MRN 99887766"
MAX_DOC_CHARS = 2_000_000  # filters.max_doc_chars of the hostile manifest


_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "du", "ga", "ho", "ji", "ke", "ly", "mo",
              "nu", "pi", "ra", "so", "te", "ul", "va", "we", "xi", "yo", "za", "bri", "cla", "dro"]
_counter = [0]


def note(i: int = 0, extra: str = "") -> str:
    """A harmless text no other call returns (so no two cases are duplicates or near-duplicates of
    each other): 40 pseudo-words drawn by a generator seeded with a running number."""
    import random

    _counter[0] += 1
    rng = random.Random(_counter[0] * 7919 + i)
    words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(40)]
    return f"Record {_counter[0]}: {' '.join(words)}. {extra}".strip()


class Fresh:
    """Rows made anew at every use (``rows[1:]``, ``rows[2]``, iteration): cases never share a text."""

    def __init__(self, make, n: int = 3) -> None:
        self.make, self.n = make, n

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self.make(i) for i in range(self.n)[k]]
        return self.make(k)

    def __iter__(self):
        return iter(self[:])


@dataclass
class Case:
    name: str
    connector: str
    uri: str | list[str]
    expect: dict[str, int]
    options: dict = field(default_factory=dict)
    secret: bool = False  # planted content that must stay out of logs and reasons

    def source(self) -> dict:
        s = {"name": self.name, "connector": self.connector, "uri": self.uri}
        if self.options:
            s["options"] = self.options
        return s


def _w(path: Path, data: bytes | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def _gunzip_prefix(data: bytes) -> bytes:
    """Everything a cut gzip stream decompresses to."""
    import zlib

    return zlib.decompressobj(31).decompress(data)


def _jl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def jsonl_cases(d: Path, base: int) -> list[Case]:
    out: list[Case] = []
    J = {"text_field": "text", "id_field": "id"}

    def add(name, data, expect, options=J, secret=False, suffix=".jsonl"):
        out.append(Case(name, "jsonl", _w(d / f"{name}{suffix}", data), expect, dict(options), secret))

    ok = Fresh(lambda i: {"id": f"a{i}", "text": note(base + i)})
    add("jl_good", _jl(ok), {"read": 3, "written": 3})
    add("jl_lone_surrogate", _jl(ok[:1]) + '{"id": "x", "text": "bad \\ud800 escape"}\n' + _jl(ok[1:]),
        {"read": 4, "written": 3, "quarantined": 1})
    add("jl_deep_nesting", _jl(ok[:1]) + '{"id": "x", "text": ' + "[" * 200_000 + "]" * 200_000 + "}\n" + _jl(ok[1:]),
        {"read": 4, "written": 3, "quarantined": 1})
    add("jl_invalid_utf8", _jl(ok[:1]).encode() + b'{"id": "x", "text": "caf\xe9"}\n' + _jl(ok[1:]).encode(),
        {"read": 4, "written": 3, "quarantined": 1})
    add("jl_malformed", _jl(ok[:1]) + '{"id": "x", "text": "unterminated\n' + _jl(ok[1:]),
        {"read": 4, "written": 3, "quarantined": 1})
    add("jl_not_object", _jl(ok[:1]) + '["a", "b"]\n42\n"str"\nnull\n' + _jl(ok[1:]),
        {"read": 7, "written": 3, "quarantined": 4})
    add("jl_text_not_string", _jl(ok[:2]) + _jl([{"id": "n", "text": 12345}, {"id": "o", "text": {"a": SECRET}}]),
        {"read": 4, "written": 2, "quarantined": 2}, secret=True)
    add("jl_missing_text", _jl(ok[:2]) + _jl([{"id": "m", "body": note(base + 9)}]), {"read": 3, "written": 2, "filtered": 1})
    add("jl_empty_text", _jl(ok[:2]) + _jl([{"id": "e", "text": ""}, {"id": "w", "text": " \n\t "}]),
        {"read": 4, "written": 2, "filtered": 2})
    add("jl_blank_lines", "\n\n" + _jl(ok[:1]) + "\n  \n" + _jl(ok[1:]) + "\n", {"read": 3, "written": 3})
    add("jl_crlf", _jl(ok).replace("\n", "\r\n"), {"read": 3, "written": 3})
    add("jl_no_final_newline", _jl(ok).rstrip("\n"), {"read": 3, "written": 3})
    add("jl_bom", "\ufeff" + _jl(ok), {"read": 3, "written": 3})
    add("jl_empty_file", "", {"read": 0})
    add("jl_null_id", _jl([{"id": None, "text": note(base + 20)}, *ok[1:]]), {"read": 3, "written": 3})
    add("jl_dup_ids", _jl([{"id": "1", "text": note(base + 30)}, {"id": "1", "text": note(base + 31)},
                           {"id": "1#2", "text": note(base + 32)}]), {"read": 3, "written": 3})
    add("jl_numeric_ids", _jl([{"id": 1, "text": note(base + 33)}, {"id": "1", "text": note(base + 34)}]),
        {"read": 2, "written": 2})
    add("jl_control_chars", _jl([{"id": "c", "text": note(base + 40, "\x07\x1b[31m bell and escape \x0c")}, *ok[1:]]),
        {"read": 3, "written": 3})
    add("jl_unicode", _jl([{"id": "u", "text": note(base + 41, "\u05e9\u05dc\u05d5\u05dd e\u0301 \U0001F600 \u200b\ufffd")}, *ok[1:]]),
        {"read": 3, "written": 3})
    add("jl_nan_literal", '{"id": "n", "text": "' + note(base + 42) + '", "score": NaN}\n' + _jl(ok[1:]), {"read": 3, "written": 3})
    add("jl_huge_doc", _jl([{"id": "h", "text": "x " * 1_500_000}, *ok[1:]]), {"read": 3, "written": 2, "quarantined": 1})
    add("jl_nul_escape", _jl([{"id": "z", "text": note(base + 43, "a\u0000b")}, *ok[1:]]), {"read": 3, "written": 3})
    add("jl_object_id", _jl([{"id": {"name": SECRET}, "text": note(base + 44)}, {"id": [1, 2], "text": note(base + 45)}, ok[2]]),
        {"read": 3, "written": 3}, secret=True)
    add("jl_not_gzip", _jl(ok), {"read": 1, "quarantined": 1}, suffix=".jsonl.gz")
    import zstandard
    add("jl_zstd", zstandard.ZstdCompressor().compress(_jl(ok).encode()), {"read": 3, "written": 3}, suffix=".jsonl.zst")
    add("jl_only_blank", "\n \n\t\n", {"read": 0})
    gz_rows = [{"id": f"g{i}", "text": note(base + 100 + i)} for i in range(400)]
    full = gzip.compress(_jl(gz_rows).encode(), mtime=0)
    cut = full[: int(len(full) * 0.6)]
    complete = _gunzip_prefix(cut).count(b"\n")
    add("jl_gzip_truncated", cut, {"read": complete + 1, "written": complete, "quarantined": 1}, suffix=".jsonl.gz")
    # two files with the same ids; a byte-identical copy of a file; the same file listed twice
    two = d / "jl_same_ids"
    out.append(Case("jl_same_ids", "jsonl", [
        _w(two / "train.jsonl", _jl([{"id": str(i), "text": note(base + 200 + i)} for i in range(3)])),
        _w(two / "test.jsonl", _jl([{"id": str(i), "text": note(base + 210 + i)} for i in range(3)]))],
        {"read": 6, "written": 6}, dict(J)))
    cp = d / "jl_copy"
    rows = _jl([{"id": str(i), "text": note(base + 220 + i)} for i in range(3)])
    out.append(Case("jl_byte_copy", "jsonl", [_w(cp / "a.jsonl", rows), _w(cp / "b.jsonl", rows)],
                    {"read": 6, "written": 3, "exact_dup": 3}, dict(J)))
    twice = _w(d / "jl_twice.jsonl", _jl([{"id": str(i), "text": note(base + 230 + i)} for i in range(3)]))
    out.append(Case("jl_listed_twice", "jsonl", [twice, twice, str(d / "jl_twice*.jsonl")], {"read": 3, "written": 3}, dict(J)))
    return out


def csv_cases(d: Path, base: int) -> list[Case]:
    out: list[Case] = []
    C = {"text_field": "text", "id_field": "id"}

    def csv(rows, header="id,text"):
        buf = io.StringIO()
        import csv as _csv

        w = _csv.writer(buf, lineterminator="\n")
        w.writerow(header.split(","))
        w.writerows(rows)
        return buf.getvalue()

    def add(name, data, expect, options=C, suffix=".csv"):
        out.append(Case(name, "csv", _w(d / f"{name}{suffix}", data), expect, dict(options)))

    ok = Fresh(lambda i: [f"c{i}", note(base + i)])
    add("csv_good", csv(ok), {"read": 3, "written": 3})
    add("csv_ragged", csv(ok) + "c9,too,many,fields\n", {"read": 4, "written": 3, "quarantined": 1})
    add("csv_invalid_utf8", csv(ok[:1]).encode() + b"cx,caf\xe9 au lait\n" + csv(ok[1:]).split("\n", 1)[1].encode(),
        {"read": 4, "written": 3, "quarantined": 1})
    add("csv_multiline", csv([["m", note(base + 5, "line one\nline two\n\nline four")], *ok[1:]]), {"read": 3, "written": 3})
    add("csv_big_field", csv([["b", note(base + 6) + " " + "word " * 300_000], *ok[1:]]), {"read": 3, "written": 3},
        options={**C, "block_size": 1 << 20})
    add("csv_header_only", "id,text\n", {"read": 0})
    add("csv_empty_file", "", {"read": 0})
    add("csv_bom_header", "\ufeff" + csv(ok), {"read": 3, "written": 3})
    add("csv_crlf", csv(ok).replace("\n", "\r\n"), {"read": 3, "written": 3})
    add("csv_unterminated_quote", csv(ok) + 'c9,"never closed\n', {"read": 4, "written": 3, "quarantined": 1})
    add("csv_semicolon", "id;text\n" + "".join(f"{a};{b}\n" for a, b in ok),
        {"read": 3, "written": 3}, options={**C, "delimiter": ";"})
    add("csv_nul_in_field", csv([["n", note(base + 7, "a\x00b")], *ok[1:]]), {"read": 3, "written": 3})
    add("csv_duplicate_header", "id,text,text\n" + "".join(f"{a},{b},dup\n" for a, b in ok), {"read": 3, "written": 3})
    add("csv_only_newlines", "id,text\n\n\n\n", {"read": 0})
    rows = [[f"g{i}", note(base + 300 + i, "x " * 40)] for i in range(3000)]
    full = gzip.compress(csv(rows).encode(), mtime=0)
    cut = full[: int(len(full) * 0.6)]
    complete = _gunzip_prefix(cut).count(b"\n") - 1  # less the header
    add("csv_gzip_truncated", cut, {"read": complete + 1, "written": complete, "quarantined": 1}, suffix=".csv.gz")
    return out


def parquet_cases(d: Path, base: int) -> list[Case]:
    out: list[Case] = []
    P = {"text_field": "text", "id_field": "id"}

    def add(name, table, expect, options=P):
        path = d / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=2)
        out.append(Case(name, "parquet", str(path), expect, dict(options)))

    ids = [f"p{i}" for i in range(4)]
    def texts():
        return [note(base + i) for i in range(4)]

    add("pq_good", pa.table({"id": ids, "text": texts()}), {"read": 4, "written": 4})
    t4 = texts()
    bad = pa.array([t.encode() for t in t4[:2]] + [b"caf\xe9 " + t4[2].encode()] + [t4[3].encode()], pa.binary())
    add("pq_invalid_utf8", pa.table({"id": ids, "text": bad.view(pa.string())}), {"read": 4, "written": 3, "quarantined": 1})
    add("pq_null_text", pa.table({"id": ids, "text": texts()[:3] + [None]}), {"read": 4, "written": 3, "filtered": 1})
    add("pq_int_text", pa.table({"id": ids, "text": [1, 2, 3, 4]}), {"read": 4, "quarantined": 4})
    add("pq_missing_column", pa.table({"id": ids, "body": texts()}), {"read": 1, "quarantined": 1})
    add("pq_zero_rows", pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), {"read": 0})
    add("pq_large_string", pa.table({"id": ids, "text": pa.array(texts(), pa.large_string())}), {"read": 4, "written": 4})
    path = d / "pq_truncated.parquet"
    pq.write_table(pa.table({"id": ids, "text": texts()}), path)
    path.write_bytes(path.read_bytes()[:-40])
    out.append(Case("pq_truncated", "parquet", str(path), {"read": 1, "quarantined": 1}, dict(P)))
    return out


def text_file_cases(d: Path, base: int) -> list[Case]:
    out: list[Case] = []
    T = {"pattern": "*.txt"}
    tree = d / "tf_tree"
    for i in range(3):
        _w(tree / f"sub{i % 2}" / f"n{i}.txt", note(base + i))
    _w(tree / "empty.txt", "")
    _w(tree / "binary.txt", b"\x00\x01\x02binary" * 10)
    _w(tree / "latin1.txt", "caf\xe9".encode("latin-1") + b" au lait " * 20)
    _w(tree / "bom.txt", "\ufeff" + note(base + 9))
    _w(tree / "skip.md", "not matched by the pattern")
    os.mkfifo(tree / "fifo.txt")
    os.symlink(tree / "loop.txt", tree / "loop.txt")
    out.append(Case("tf_tree", "text_files", str(tree), {"read": 9, "written": 4, "filtered": 1, "quarantined": 4}, dict(T)))
    # zip: a member whose header says 1 GiB (bomb), a normal member, a directory entry, a corrupt member
    zp = d / "tf_bomb.zip"
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok1.txt", note(base + 20))
        z.writestr("dir/", "")
        with z.open("bomb.txt", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(64):
                f.write(chunk)
        z.writestr("ok2.txt", note(base + 21))
    out.append(Case("tf_zip_bomb", "text_files", str(zp), {"read": 3, "written": 2, "quarantined": 1}, dict(T)))
    tp = d / "tf_archive.tar.gz"
    with tarfile.open(tp, "w:gz") as t:
        for i in range(3):
            data = note(base + 30 + i).encode()
            info = tarfile.TarInfo(f"notes/t{i}.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("notes/link.txt")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        t.addfile(info)
    out.append(Case("tf_tar", "text_files", str(tp), {"read": 3, "written": 3}, dict(T)))
    odd = d / "tf_odd_names"
    _w(odd / "new\nline.txt", note(base + 50))
    _w(odd / "\u00fcml\u00e4ut \u2603.txt", note(base + 51))
    _w(odd / (("deep/" * 30) + "n.txt"), note(base + 52))
    out.append(Case("tf_odd_names", "text_files", str(odd), {"read": 3, "written": 3}, dict(T)))
    cz = d / "tf_corrupt.zip"
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", note(base + 40))
        z.writestr("b.txt", note(base + 41))
    raw = bytearray(good.getvalue())
    i = raw.find(b"b.txt") + 40  # inside b.txt's compressed data
    raw[i : i + 8] = b"\xff" * 8
    cz.write_bytes(bytes(raw))
    out.append(Case("tf_corrupt_member", "text_files", str(cz), {"read": 2, "written": 1, "quarantined": 1}, dict(T)))
    return out


def _citation(pmid: int, text: str) -> str:
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue>'
            f'<Title>Journal of Invented Medicine</Title></Journal><ArticleTitle>Title {pmid}.</ArticleTitle>'
            f'<Abstract><AbstractText>{text}</AbstractText></Abstract><Language>eng</Language></Article>'
            f'</MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus></PubmedData></PubmedArticle>\n')


def _medline(citations: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n' + "".join(citations) + "</PubmedArticleSet>\n").encode()


def _study(nct: str, text: str) -> dict:
    return {"protocolSection": {"identificationModule": {"nctId": nct, "briefTitle": f"Invented trial {nct}"},
                                "descriptionModule": {"briefSummary": text}}}


def _jats(pmcid: str, text: str, root: str = "article") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<{root} article-type="research-article"><front><article-meta>'
            f'<article-id pub-id-type="pmc">{pmcid}</article-id><title-group><article-title>Article {pmcid}</article-title>'
            f'</title-group></article-meta></front><body><sec><p>{text}</p></sec></body></{root}>\n').encode()


def xml_cases(d: Path, base: int) -> list[Case]:
    out: list[Case] = []
    cits = [_citation(39000000 + i, note(base + i)) for i in range(300)]
    full = gzip.compress(_medline(cits), mtime=0)
    cut = full[: int(len(full) * 0.6)]
    complete = _gunzip_prefix(cut).count(b"</PubmedArticle>")
    out.append(Case("medline_gzip_truncated", "pubmed", _w(d / "pubmed" / "pubmed25n0001.xml.gz", cut),
                    {"read": complete + 1, "written": complete, "quarantined": 1}))
    bad = _medline([_citation(39100000, note(base + 1)), '<PubmedArticle><MedlineCitation><PMID Version="1">39999999</PMID><Article>unclosed'
                    '</MedlineCitation></PubmedArticle>\n', _citation(39100002, note(base + 2))])
    out.append(Case("medline_malformed", "pubmed", _w(d / "pubmed_bad" / "pubmed25n0002.xml.gz", gzip.compress(bad, mtime=0)),
                    {"read_min": 1, "quarantined": 1}))
    zp = d / "ct" / "ctg-studies.json.zip"
    zp.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("01/NCT00000001.json", json.dumps(_study("NCT00000001", note(base + 10))))
        z.writestr("02/NCT00000002.json", json.dumps("just a string"))
        z.writestr("03/NCT00000003.json", json.dumps({"protocolSection": "a string where an object belongs"}))
        z.writestr("04/NCT00000004.json", json.dumps({"protocolSection": {"identificationModule": "x", "descriptionModule": [1, 2]}}))
        z.writestr("05/NCT00000005.json", json.dumps(_study("NCT00000005", note(base + 11))))
    out.append(Case("ct_wrong_types", "clinical_trials", str(zp), {"read": 5, "written": 2, "quarantined": 3}))
    tp = d / "pmc" / "oa_comm_xml.PMC000xxxxxx.baseline.2024-12-18.tar.gz"
    tp.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tp, "w:gz") as t:
        for name, data in [("PMC000xxxxxx/PMC1.xml", _jats("1", note(base + 20))),
                           ("PMC000xxxxxx/PMC2.xml", _jats("2", note(base + 21), root="Patient_Zyxwvut_Qqqplover_MRN_99887766")),
                           ("PMC000xxxxxx/PMC3.xml", b"<article><front>truncated"),
                           ("PMC000xxxxxx/PMC4.xml", _jats("4", note(base + 22)))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    out.append(Case("jats_hostile_members", "pmc_oa", str(tp), {"read": 4, "written": 2, "quarantined": 2}, secret=True))
    return out


def make_corpus(root: Path, base: int = 0) -> list[Case]:
    root = Path(root)
    _counter[0] = 0
    return [*jsonl_cases(root / "jsonl", base), *csv_cases(root / "csv", base + 1000),
            *parquet_cases(root / "parquet", base + 2000), *text_file_cases(root / "text", base + 3000),
            *xml_cases(root / "xml", base + 4000)]


def write_hostile_manifest(path: Path, cases: list[Case], **top) -> Path:
    """A manifest with one source per case (``top``: more top-level keys, e.g. ``output``, ``dedup``)."""
    from tests.conftest import write_manifest

    return write_manifest(path, [c.source() for c in cases], filters={"max_doc_chars": MAX_DOC_CHARS}, **top)

"""PubMed / MEDLINE XML (``connector: pubmed``): baseline and daily update files.

Input: files ``pubmedYYnNNNN.xml.gz`` (annual baseline and daily updates; update numbers
continue after the baseline's), root ``<PubmedArticleSet>`` holding ``<PubmedArticle>`` (and
``<PubmedBookArticle>``) records and, in update files, one ``<DeleteCitation>`` list of
``<PMID Version="1">`` elements; older MEDLINE files have root ``<MedlineCitationSet>`` with
``<MedlineCitation>`` records.  Format references: docs/SOURCES.md.

Text kept: ``ArticleTitle`` (books: ``BookTitle``), then each ``AbstractText`` with its
``Label`` as a heading line, then each ``OtherAbstract`` (one that repeats an abstract already
taken is left out).  Inline markup is flattened by :func:`connectors._xmlutil.flat_text`:
``<sup>`` / ``<sub>`` keep a ``^`` / ``_`` marker (``10^9``), MathML is linearized.  A title
translated into English is enclosed in square brackets in MEDLINE; the brackets are removed.

meta: pmid, version, year (``PubDate/Year``, else the first year of a ``MedlineDate`` range
such as ``1998 Dec-1999 Jan``, else ``ArticleDate/Year``), file, ``language`` = ``en`` (MEDLINE
titles and abstracts are English, a non-English article's title being a translation), and for
articles in other languages ``article_language`` (ISO 639-1 codes of ``<Language>``),
``title_translated`` and ``vernacular_title`` (the original title); ``other_abstract_language``
when an ``OtherAbstract`` in another language is part of the text.

Reading: the decompressed stream is scanned in 1 MiB chunks and cut at record boundaries
(``<PubmedArticle>`` ... ``</PubmedArticle>``); each record is parsed on its own with
ElementTree, so a malformed record is quarantined alone and the records before and after it
come through; a record whose end tag never comes (a new record starts first, or the file /
a truncated gzip ends) is quarantined with its byte offset.  Memory is one chunk plus one record.

"Latest version wins": every citation is ``Doc(doc_id="pubmed:PMID.VERSION@FILE", key="pubmed:PMID",
rank=R)`` with ``R = file_rank + VERSION * 10**6 + position in file``, where ``file_rank =
(YY * 10**4 + NNNN) * 10**9`` from the file name, so a later update file always outranks the
baseline.  ``DeleteCitation`` PMIDs become ``Tombstone(key, rank=file_rank + 10**9 - 1)``: they
delete every earlier version (including one in the same file) but not a re-release in a later
file.  The build's global step keeps the highest rank per key and counts the rest as filtered.
"""
from __future__ import annotations

import os
import re
from typing import Iterator

from connectors._xmlutil import flat_text, local, parse_xml, squash
from connectors.base import Connector, Doc, Drop, Record, Tombstone, WorkUnit, safe_reason
from connectors.registry import register
from engine.core import fsio

_FILE_SEQ = re.compile(r"(\d{2})n(\d{4})")
_START = {
    "pubmed": re.compile(rb"<(PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>]"),
    "medline": re.compile(rb"<(MedlineCitation|DeleteCitation)[\s>]"),
}
_END = {
    "pubmed": re.compile(rb"</(PubmedArticle|PubmedBookArticle|DeleteCitation)>"),
    "medline": re.compile(rb"</(MedlineCitation|DeleteCitation)>"),
}
#: MEDLINE ``<Language>`` (ISO 639-2/B) -> ISO 639-1; codes without a two-letter form are kept
_ISO639 = {
    "eng": "en", "spa": "es", "fre": "fr", "ger": "de", "ita": "it", "por": "pt", "jpn": "ja", "chi": "zh", "rus": "ru",
    "dut": "nl", "pol": "pl", "kor": "ko", "tur": "tr", "cze": "cs", "hun": "hu", "swe": "sv", "dan": "da", "nor": "no",
    "fin": "fi", "heb": "he", "gre": "el", "rum": "ro", "srp": "sr", "hrv": "hr", "slo": "sk", "slv": "sl", "bul": "bg",
    "ukr": "uk", "ara": "ar", "per": "fa", "tha": "th", "vie": "vi", "ind": "id", "lit": "lt", "lav": "lv", "est": "et",
    "ice": "is", "afr": "af", "cat": "ca", "glg": "gl", "baq": "eu", "mac": "mk", "geo": "ka", "arm": "hy", "hin": "hi",
    "urd": "ur", "ben": "bn", "may": "ms", "alb": "sq", "bos": "bs", "wel": "cy", "gle": "ga", "epo": "eo", "lat": "la",
}
_YEAR = re.compile(r"\b(1[5-9]\d\d|2\d\d\d)\b")
CHUNK = 1 << 20
#: a record larger than this without an end tag is quarantined (no unbounded buffering)
MAX_RECORD_BYTES = 64 << 20


def file_rank(path: str) -> int:
    """Monotone rank of a PubMed file from its name (``pubmed25n1234`` -> (25*10**4 + 1234) * 10**9)."""
    m = _FILE_SEQ.search(os.path.basename(path))
    if not m:
        return 0
    return (int(m.group(1)) * 10_000 + int(m.group(2))) * 10**9


def split_records(stream, mode: str | None = None) -> Iterator[tuple[int, str, bytes | None, str | None]]:
    """``(offset, tag, record bytes, error)`` for each top-level record of a MEDLINE XML stream.

    ``error`` is set (and bytes None) for a record that has no end tag; a stream error after
    the last complete record yields ``(offset, "", None, reason)``.
    """
    buf = b""
    base = 0  # stream offset of buf[0]
    pat = _START[mode] if mode else None
    endpat = _END[mode] if mode else None

    def orphans(lo: int, hi: int, stop: int | None = None) -> Iterator[tuple[int, str, None, str]]:
        # a record end tag between records: its start tag was corrupted, so the record is lost
        # as a whole; count it instead of skipping it silently
        for o in endpat.finditer(buf, lo, hi):
            if stop is None or o.start() < stop:
                yield base + o.start(), o.group(1).decode(), None, f"{o.group(1).decode()} end tag without a start tag (corrupted record)"

    eof = False
    pos = 0
    # read1: a gzip stream hands out what it has decompressed so far, so a truncated file
    # still yields every complete record before the cut (read(n) would raise and lose them)
    read = getattr(stream, "read1", None) or stream.read
    while True:
        if not eof:
            try:
                chunk = read(CHUNK)
            except Exception as e:  # truncated gzip, storage error
                if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                    raise
                chunk = b""
                eof = True
                err = safe_reason(e, "unreadable input")
            else:
                err = None
                if not chunk:
                    eof = True
            buf = buf[pos:] + chunk
            base += pos
            pos = 0
            if pat is None:
                if b"<MedlineCitationSet" in buf[:65536]:
                    pat, endpat = _START["medline"], _END["medline"]
                elif b"<PubmedArticleSet" in buf[:65536] or eof or len(buf) > 65536:
                    pat, endpat = _START["pubmed"], _END["pubmed"]
                else:
                    continue
        else:
            err = None
        while True:
            m = pat.search(buf, pos)
            if not m:
                # keep a tail that could hold the start of a tag
                keep = len(buf) if eof else max(pos, len(buf) - 64)
                yield from orphans(pos, len(buf), keep)
                pos = keep
                break
            yield from orphans(pos, m.start())
            tag = m.group(1).decode()
            end_tag = f"</{tag}>".encode()
            e = buf.find(end_tag, m.end())
            nxt = pat.search(buf, m.end())
            if nxt and (e < 0 or nxt.start() < e):
                yield base + m.start(), tag, None, f"{tag} without end tag (next record starts at byte {base + nxt.start()})"
                pos = nxt.start()
                continue
            if e < 0:
                if eof:
                    yield base + m.start(), tag, None, f"{tag} cut off by end of input" + (f" ({err})" if err else "")
                    return
                if len(buf) - m.start() > MAX_RECORD_BYTES:
                    yield base + m.start(), tag, None, f"{tag} larger than {MAX_RECORD_BYTES} bytes without end tag"
                    pos = m.end()
                    continue
                pos = m.start()
                break
            stop = e + len(end_tag)
            yield base + m.start(), tag, buf[m.start() : stop], None
            pos = stop
        if eof:
            if err:
                yield base + pos, "", None, err
            return


@register("pubmed")
class PubmedConnector(Connector):
    placeholder = None
    language = "en"
    splittable = False

    def read(self, unit: WorkUnit) -> Iterator[Record]:
        base = os.path.basename(unit.path)
        stem = base.split(".")[0]
        frank = file_rank(unit.path)
        n = 0
        tombstones = 0
        try:
            stream = fsio.open_input(unit.path, "rb")
        except Exception as e:
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield Drop(self.doc_id(f"{stem}@unreadable"), "quarantined", safe_reason(e, "cannot open"), unit.location)
            return
        with stream:
            for idx, (off, tag, data, err) in enumerate(split_records(stream)):
                loc = f"{unit.path}@{off}"
                if err is not None:
                    n += 1
                    yield Drop(self.doc_id(f"{stem}@{off}"), "quarantined", err, loc)
                    continue
                if tag == "DeleteCitation":
                    for rec in self._deletions(data, stem, frank, off, loc):
                        tombstones += isinstance(rec, Tombstone)
                        n += isinstance(rec, Drop)
                        yield rec
                    continue
                n += 1
                try:
                    yield self._citation(data, stem, frank, idx, off, loc)
                except Exception as e:  # an unexpected structure must not end the file
                    yield Drop(self.doc_id(f"{stem}@{off}"), "quarantined", safe_reason(e, "unexpected citation structure"), loc)
        if n == 0 and tombstones == 0:
            yield Drop(self.doc_id(f"{stem}@empty"), "quarantined", "no PubMed records in file (empty or not MEDLINE XML)", unit.location)

    def _deletions(self, data: bytes, stem: str, frank: int, off: int, loc: str) -> Iterator[Record]:
        try:
            root = parse_xml(data)
        except Exception as e:
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield Drop(self.doc_id(f"{stem}@{off}"), "quarantined", safe_reason(e, "malformed DeleteCitation"), loc)
            return
        for p in root:
            if local(p.tag) == "PMID" and (p.text or "").strip():
                yield Tombstone(self.doc_id(p.text.strip()), frank + 10**9 - 1, f"DeleteCitation in {stem}")

    def _citation(self, data: bytes, stem: str, frank: int, idx: int, off: int, loc: str) -> Record:
        try:
            rec = parse_xml(data)
        except Exception as e:
            return Drop(self.doc_id(f"{stem}@{off}"), "quarantined", safe_reason(e, "malformed citation XML"), loc)
        mc = rec if local(rec.tag) == "MedlineCitation" else rec.find("MedlineCitation")
        book = rec.find("BookDocument") if mc is None else None
        holder = mc if mc is not None else book
        pmid_el = holder.find("PMID") if holder is not None else None
        pmid = (pmid_el.text or "").strip() if pmid_el is not None else ""
        if not pmid.isdigit():
            return Drop(self.doc_id(f"{stem}@{off}"), "quarantined", "citation without a numeric PMID", loc)
        version = (pmid_el.get("Version") or "1").strip()
        version = version if version.isdigit() else "1"
        did = self.doc_id(f"{pmid}.{version}@{stem}")  # unique: an update file may re-release PMID.VERSION
        if mc is not None:
            art = mc.find("Article")
            title = flat_text(art.find("ArticleTitle")) if art is not None else ""
            abstract = art.find("Abstract") if art is not None else None
            langs = [(e.text or "").strip() for e in art.findall("Language")] if art is not None else []
            year = _year(art.find("Journal/JournalIssue/PubDate") if art is not None else None, art)
            vernacular = flat_text(art.find("VernacularTitle")) if art is not None else ""
            others = mc.findall("OtherAbstract")
        else:
            title = flat_text(book.find("ArticleTitle")) or flat_text(book.find("Book/BookTitle"))
            abstract = book.find("Abstract")
            langs = [(e.text or "").strip() for e in book.findall("Language")]
            year = _year(book.find("Book/PubDate"), book)
            vernacular = flat_text(book.find("VernacularTitle"))
            others = []
        title, translated = _untranslated(title)
        parts = [title] if title else []
        other_langs: list[str] = []
        seen: set[str] = set()
        for ab in [abstract, *others]:
            if ab is None:
                continue
            blocks = []
            for at in ab.findall("AbstractText"):
                body = flat_text(at)
                label = squash(at.get("Label") or "")
                if label and body:
                    blocks.append(f"{label}\n{body}")
                elif body:
                    blocks.append(body)
            key = " ".join(" ".join(blocks).casefold().split())
            if not blocks or key in seen:
                continue  # an OtherAbstract that repeats an abstract already taken
            seen.add(key)
            n = len(parts)
            parts.extend(blocks)
            lang = _lang(ab.get("Language") or "eng") if ab is not abstract else "en"
            if len(parts) > n and lang != "en" and lang not in other_langs:
                other_langs.append(lang)
        text = "\n\n".join(parts)
        if not text:
            return Drop(did, "filtered", "source rule: citation has no title or abstract text", loc)
        article_langs = [_lang(x) for x in langs if x]
        # MEDLINE titles and abstracts are English (a translated title is bracketed, the original is
        # the VernacularTitle): the text is English whatever the article's own language
        doc = self.checked(
            did, text, loc, pmid=pmid, version=int(version), year=year, file=stem, language="en",
            article_language=",".join(article_langs) if article_langs and article_langs != ["en"] else None,
            title_translated=True if translated or vernacular else None, vernacular_title=vernacular or None,
            other_abstract_language=",".join(other_langs) or None,
        )
        if isinstance(doc, Doc):
            doc.key = self.doc_id(pmid)
            doc.rank = frank + int(version) * 10**6 + min(idx, 10**6 - 1)
        return doc


def _lang(code: str) -> str:
    c = code.strip().lower()
    return _ISO639.get(c, c)


def _year(pubdate, holder) -> str | None:
    """``PubDate/Year``, else the first year of a ``MedlineDate`` range (``1998 Dec-1999 Jan`` -> 1998),
    else the electronic ``ArticleDate/Year``."""
    if pubdate is not None:
        y = (pubdate.findtext("Year") or "").strip()
        if y:
            return y
        m = _YEAR.search(pubdate.findtext("MedlineDate") or "")
        if m:
            return m.group(1)
    y = (holder.findtext("ArticleDate/Year") or "").strip() if holder is not None else ""
    return y or None


def _untranslated(title: str) -> tuple[str, bool]:
    """A title translated into English is enclosed in square brackets (``[Title].``): without them,
    and whether it was."""
    t = title.strip()
    end = len(t) - 1 if t.endswith("].") else len(t)
    if not (t.startswith("[") and end > 1 and t[end - 1] == "]"):
        return title, False
    depth = 0
    for i, ch in enumerate(t[:end]):
        depth += ch == "["
        depth -= ch == "]"
        if depth == 0 and i < end - 1:
            return title, False  # "[18F]FDG ..." : the first bracket closes early
    inner = t[1 : end - 1].strip()
    return (inner + "." if t.endswith("].") and not inner.endswith((".", "?", "!")) else inner), True

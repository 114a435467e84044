"""PMC Open Access JATS XML (``connector: pmc_oa``).

Input: the bulk packages ``oa_comm_xml.*.tar.gz`` / ``oa_noncomm_xml.*.tar.gz`` (baseline and
``*.incr.*`` increments), one article per member (``.xml``; older packages ``.nxml``), or plain
``.xml`` / ``.nxml`` files in a tree.  Old NLM Journal Archiving DTD (2.x/3.0) and JATS 1.x
articles are both read (same element names; a default namespace is ignored; HTML named
entities from the DTDs are mapped, see :mod:`connectors._xmlutil`).  The subset (comm /
noncomm) follows from the package name.

Text kept, in order: article-title (with its subtitle), each abstract (section titles and
paragraphs), body section titles and paragraphs (lists, quotes, boxed text flattened), display
formulas, figure and table captions (label + caption text, also from ``floats-group``).  Inline
and display formulas are written out (MathML linearized, else the TeX of ``tex-math``; a
formula that is only a graphic leaves a space), sub- and superscripts keep a ``_`` / ``^``
marker (:func:`connectors._xmlutil.flat_text`).  Left out: references (``back``/``ref-list``),
table bodies, graphics, supplementary material (its sections, and a lead-in paragraph such as
"... can be accessed here:" that pointed to it), the rest of ``back``, and titles of sections
left with no text.

meta: pmcid, pmid, ``licence`` (an SPDX-style id such as ``CC-BY-4.0`` when the licence is a
Creative Commons one, named by URL, ``license-type`` or the licence text; else the licence URL;
never the licence paragraph) and ``licence_url``, subset, article_type, year, member.

One work unit is a group of archive members (``files_per_unit``) or of plain files; the tar
stream is read member by member, never unpacked to disk.  When a package has its sibling
``<package>.filelist.csv``, discovery takes the member names from it instead of decompressing
the whole package once just to list it, and members marked ``Retracted = yes`` are counted as
``filtered`` (source rule) instead of read.  Format references: docs/SOURCES.md.
"""
from __future__ import annotations

import csv
import io
import os
import re
import xml.etree.ElementTree as ET
from typing import Iterator

from connectors._licence import article_licence
from connectors._xmlutil import find_local, flat_text, iter_local, local, parse_member, squash
from connectors.base import Drop, Record, WorkUnit, safe_reason
from connectors.registry import register
from connectors.text_files import TextFilesConnector
from engine.core import fsio

#: never part of the text (formulas are linearized by flat_text, their graphics left out)
_SKIP = frozenset({
    "ref-list", "table", "graphic", "inline-graphic", "media", "supplementary-material", "inline-supplementary-material",
    "object-id", "fig", "table-wrap", "table-wrap-foot", "fn-group",
})
#: blocks whose children are walked
_CONTAINERS = frozenset({"sec", "body", "boxed-text", "app", "list", "list-item", "disp-quote", "statement", "def-list", "def-item", "glossary", "abstract", "trans-abstract"})
#: sections that only point to files outside the article
_SUPP_TITLE = re.compile(
    r"^\s*(?:electronic\s+)?(?:supplementary|supplemental|supporting)\s+(?:material|materials|information|data|files?)\b"
    r"|^\s*additional\s+files?\s*$",
    re.I,
)
_POINTER = re.compile(r"\b(?:supplement\w*|supporting|additional\s+files?)\b.*\b(?:here|online|at)\s*:$", re.I)


class _Heading(str):
    """A title: kept only when its section has text under it."""


def _captions(el: ET.Element, out: list[str]) -> None:
    for tag in ("fig", "table-wrap"):
        for f in iter_local(el, tag):
            label = flat_text(find_local(f, "label"))
            cap = find_local(f, "caption")
            text = ""
            if cap is not None:  # caption title and paragraphs are blocks: keep a space between them
                bits = [flat_text(c, _SKIP) for c in cap] if len(cap) else [flat_text(cap, _SKIP)]
                text = squash(" ".join(b for b in bits if b))
            if text or label:
                out.append(squash(f"{label} {text}") if label else text)


def _supplementary(sec: ET.Element) -> bool:
    if "supplementary" in (sec.get("sec-type") or "").lower():
        return True
    title = find_local(sec, "title")
    return title is not None and bool(_SUPP_TITLE.match(flat_text(title)))


def _dangling(p: ET.Element, text: str) -> bool:
    """A lead-in to a supplementary file that was left out ("... can be accessed here:")."""
    if not text.endswith(":"):
        return False
    pointers = ("supplementary-material", "inline-supplementary-material", "media")
    return any(local(d.tag) in pointers for d in p.iter()) or bool(_POINTER.search(text))


def _section(el: ET.Element, out: list[str]) -> None:
    """The blocks of a container; its titles are dropped when nothing but titles is left."""
    sub: list[str] = []
    _blocks(el, sub)
    if any(not isinstance(b, _Heading) for b in sub):
        out.extend(sub)


def _blocks(el: ET.Element, out: list[str]) -> None:
    """Titles, paragraphs and display formulas under a container, in document order
    (captions after each paragraph)."""
    for c in el:
        name = local(c.tag)
        if name in ("title", "label") and local(el.tag) in ("sec", "abstract", "app", "boxed-text"):
            if name == "title":
                t = flat_text(c)
                if t:
                    out.append(_Heading(t))
        elif name in ("p", "def", "term"):
            t = flat_text(c, _SKIP)
            if t and not _dangling(c, t):
                out.append(t)
            _captions(c, out)
        elif name in ("disp-formula", "disp-formula-group"):
            t = flat_text(_wrap(c), _SKIP)
            if t:
                out.append(t)
        elif name in ("fig", "table-wrap", "fig-group", "table-wrap-group"):
            _captions(_wrap(c), out)
        elif name in _CONTAINERS:
            if name == "sec" and _supplementary(c):
                continue
            _section(c, out)


def _wrap(e: ET.Element) -> ET.Element:
    w = ET.Element("wrap")
    w.append(e)
    return w


@register("pmc_oa")
class PmcOaConnector(TextFilesConnector):
    placeholder = None
    language = "en"

    def _pattern(self) -> str:
        return self.options.get("pattern", "*.*xml")  # .xml and .nxml

    # -- discovery from the packages' file lists ----------------------------------------------------
    @staticmethod
    def filelist_of(package: str) -> str | None:
        for ext in (".tar.gz", ".tgz"):
            if package.endswith(ext):
                cand = package[: -len(ext)] + ".filelist.csv"
                return cand if fsio.exists(cand) else None
        return None

    def _read_filelist(self, uri: str) -> list[tuple[str, bool]]:
        """``(member name, retracted)`` rows of a package's ``filelist.csv``."""
        with fsio.open_input(uri, "rb") as f:
            rows = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", newline=""))
            return [((r.get("Article File") or "").strip(), (r.get("Retracted") or "").strip().lower() == "yes")
                    for r in rows if (r.get("Article File") or "").strip()]

    def discover(self) -> list[WorkUnit]:
        per = int(self.options.get("files_per_unit", 512))
        units: list[WorkUnit] = []
        for uri in self.source.uris:
            files = fsio.expand(uri)
            if not files:
                raise FileNotFoundError(f"source {self.source.name!r}: no input matches {uri}")
            lists = {f: self.filelist_of(f) for f in files}
            if not all(lists.values()):  # plain trees, or packages without a file list: list them
                narrowed = type(self)(self.source.model_copy(update={"uri": uri}), self.manifest)
                units.extend(TextFilesConnector.discover(narrowed))
                continue
            for f in files:
                size, version = fsio.identity(f)
                names = [m for m, _ in self._read_filelist(lists[f]) if self.matches(m)]
                for i in range(0, len(names), per):
                    units.append(WorkUnit(self.source.name, f, size, version, members=tuple(names[i : i + per])))
        return units

    def _retracted(self, package: str) -> set[str]:
        cache = self.__dict__.setdefault("_retracted_cache", {})
        if package not in cache:
            fl = self.filelist_of(package)
            try:
                cache[package] = {m for m, r in self._read_filelist(fl) if r} if fl else set()
            except Exception:
                cache[package] = set()
        return cache[package]

    def records_for(self, name: str, data, location: str) -> Iterator[Record]:
        if "::" in location and name in self._retracted(location.split("::", 1)[0]):
            base = os.path.basename(name).rsplit(".", 1)[0]
            yield Drop(self.doc_id(base), "filtered", "source rule: retracted article (package filelist.csv)", location)
            return
        try:
            yield from self._article(name, data, location)
        except Exception as e:  # an unexpected structure must not end the package
            base = os.path.basename(name).rsplit(".", 1)[0]
            yield Drop(self.doc_id(base), "quarantined", safe_reason(e, "unexpected JATS structure"), location)

    def _article(self, name: str, data, location: str) -> Iterator[Record]:
        base = os.path.basename(name).rsplit(".", 1)[0]
        fallback = self.doc_id(base)
        root = parse_member(data, fallback, location, "JATS")
        if isinstance(root, Drop):
            yield root
            return
        if local(root.tag) == "pmc-articleset" and len(root) == 1:  # E-utilities style wrapper
            root = root[0]
        if local(root.tag) != "article":
            yield Drop(fallback, "quarantined", "not a JATS article (the root element is not <article>)", location)
            return
        am = find_local(root, "front", "article-meta")
        ids = {}
        if am is not None:
            for aid in am:
                if local(aid.tag) == "article-id" and (aid.text or "").strip():
                    ids.setdefault(aid.get("pub-id-type", ""), aid.text.strip())
        pmcid = ids.get("pmc") or ids.get("pmcid") or ids.get("pmc-uid")
        if pmcid and not pmcid.upper().startswith("PMC"):
            pmcid = f"PMC{pmcid}"
        did = self.doc_id(pmcid or base)
        parts: list[str] = []
        if am is not None:
            tg = find_local(am, "title-group")
            title = flat_text(find_local(tg, "article-title")) if tg is not None else ""
            subtitle = flat_text(find_local(tg, "subtitle")) if tg is not None else ""
            if title and subtitle:
                title += (" " if title.endswith((":", "?", "!", ".")) else ": ") + subtitle
            if title or subtitle:
                parts.append(title or subtitle)
            for ab in am:
                if local(ab.tag) == "abstract":
                    _section(ab, parts)
                    if not len(ab) and (ab.text or "").strip():
                        parts.append(squash(ab.text))
        body = find_local(root, "body")
        if body is not None:
            _section(body, parts)
        floats = find_local(root, "floats-group")  # figures and tables kept apart from the body
        if floats is not None:
            _captions(floats, parts)
        text = "\n\n".join(parts)
        if not text:
            yield Drop(did, "filtered", "source rule: article has no title, abstract or body text", location)
            return
        pkg = os.path.basename(location.split("::", 1)[0])
        subset = "comm" if pkg.startswith("oa_comm") else "noncomm" if pkg.startswith("oa_noncomm") else None
        year = None
        if am is not None:
            for pd in iter_local(am, "pub-date"):
                y = pd.findtext("year") or next((flat_text(c) for c in pd if local(c.tag) == "year"), None)
                if y:
                    year = y.strip()
                    break
        licence, licence_url = article_licence(am)
        yield self.checked(
            did, text, location, pmcid=pmcid, pmid=ids.get("pmid"), licence=licence, licence_url=licence_url,
            subset=subset, article_type=root.get("article-type"), year=year, member=name,
        )

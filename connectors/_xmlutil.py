"""XML helpers shared by the MEDLINE, JATS, n2c2 and MedQuAD readers: parsing and the one
text flattening all of them use (:func:`flat_text`).

The parsers use ``xml.etree.ElementTree`` (expat), which never loads external DTDs: the
NLM/JATS DTDs declare HTML named entities (``&nbsp;``, ``&eacute;``...) that expat then
rejects as undefined.  :func:`parse_xml` retries such a record once after turning the
named entities it knows into numeric character references, so a record is lost only
when it is really malformed.
"""
from __future__ import annotations

import html.entities
import re
import xml.etree.ElementTree as ET

_XML_BUILTIN = {"amp", "lt", "gt", "quot", "apos"}
_NAMED = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")


def _numeric(m: re.Match) -> bytes:
    name = m.group(1).decode("ascii")
    if name in _XML_BUILTIN:
        return m.group(0)
    cp = html.entities.name2codepoint.get(name)
    if cp is None:
        return m.group(0)
    return f"&#{cp};".encode("ascii")


_NS_WRAP = (
    b'<_wrap xmlns:mml="http://www.w3.org/1998/Math/MathML" xmlns:xlink="http://www.w3.org/1999/xlink" '
    b'xmlns:ali="http://www.niso.org/schemas/ali/1.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
)


def parse_xml(data: bytes) -> ET.Element:
    """Parse one XML document / record; named HTML entities are accepted, and a record cut
    out of a larger file may use the ``mml:`` / ``xlink:`` / ``ali:`` prefixes its file declared."""
    try:
        return ET.fromstring(data)
    except ET.ParseError as first:
        fixed = _NAMED.sub(_numeric, data)
        if fixed != data:
            try:
                return ET.fromstring(fixed)
            except ET.ParseError:
                pass
        if not fixed.lstrip().startswith((b"<?", b"<!")):
            try:
                wrapped = ET.fromstring(_NS_WRAP + fixed + b"</_wrap>")
                if len(wrapped) == 1:
                    return wrapped[0]
            except ET.ParseError:
                pass
        raise first


def parse_member(data, doc_id: str, location: str, what: str):
    """The parsed root of a file or archive member, or the quarantine record that replaces it
    (``data`` is the member's bytes, or the exception its reading raised)."""
    from engine.core import fsio
    from engine.core.records import Drop, safe_reason

    if isinstance(data, Exception):
        return Drop(doc_id, "quarantined", safe_reason(data, "unreadable member"), location)
    try:
        return parse_xml(data)
    except Exception as e:
        if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
            raise
        return Drop(doc_id, "quarantined", safe_reason(e, f"malformed {what} XML"), location)


def local(tag) -> str:
    """Element name without its namespace (``{ns}p`` -> ``p``); '' for comments / PIs."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def squash(text: str) -> str:
    """Collapse whitespace runs to one space (inline markup flattening leaves ragged spacing)."""
    return " ".join(text.split())  # str.split: C speed, same whitespace set as \s


#: elements whose content is its own block: a space on each side, so words never glue
_BLOCK = frozenset({
    "p", "title", "caption", "label", "list", "list-item", "def-list", "def-item", "term", "def", "disp-quote",
    "sec", "statement", "boxed-text", "fig", "table-wrap", "table", "tr", "td", "th", "break", "AbstractText",
})
#: elements that need more than their text
_MARKED = frozenset({"sup", "sub", "math", "inline-formula", "disp-formula", "tex-math", "alternatives"}) | _BLOCK
#: superscripts written as they are, without a marker
_PLAIN_SUP = frozenset("®™*†‡§°′″#")
#: ordinal suffixes written as superscripts (1<sup>st</sup>)
_ORDINAL = frozenset({"st", "nd", "rd", "th"})
_PUNCT_AFTER = tuple(",.;:)]!?")
_TEX_DOC = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.S)


def flat_text(el: ET.Element | None, skip: frozenset[str] = frozenset()) -> str:
    """All text under ``el`` in document order, whitespace squashed, inline markup flattened.

    * ``<sup>`` / ``<sub>`` keep a marker: ``10<sup>9</sup>`` -> ``10^9``, ``CO<sub>2</sub>``
      -> ``CO_2`` (a content with spaces in parentheses); a superscript holding a citation
      (``<xref>``) becomes ``[1,2]`` after a space; a superscript symbol (``®``, ``*``, ``°``...) or ordinal suffix (``1<sup>st</sup>``) stays
      bare.
    * MathML is linearized (:func:`connectors._mathml.linearize`); a JATS ``inline-formula`` /
      ``disp-formula`` gives its MathML, else its TeX (``tex-math``, the formula only), else its
      text; a display formula is set off by spaces.
    * Block elements (paragraphs, list items, titles, table cells...) and the subtrees named in
      ``skip`` (left out) leave a space, so the words on either side never run together.
    """
    if el is None:
        return ""
    if not skip and not _marked(el):
        return squash("".join(el.itertext()))  # C-accelerated path (comments and PIs skipped too)
    parts: list[str] = []
    _walk(el, skip, parts)
    return squash("".join(parts))


def _marked(el: ET.Element) -> bool:
    """Whether anything below ``el`` needs more than its text (most abstracts: no)."""
    if not len(el):
        return False
    for d in el.iter():
        t = d.tag
        if d is not el and (t in _MARKED or (isinstance(t, str) and "}" in t and local(t) in _MARKED)):
            return True
    return False


def _walk(e: ET.Element, skip: frozenset[str], parts: list[str]) -> None:
    if e.text:
        parts.append(e.text)
    for c in e:
        name = local(c.tag)
        if name:  # not a comment / processing instruction
            parts.append(" " if name in skip else _render(c, name, skip))
        if c.tail:
            if c.tail.startswith(_PUNCT_AFTER) and parts:
                parts[-1] = parts[-1].rstrip()
            parts.append(c.tail)


def _inner(e: ET.Element, skip: frozenset[str]) -> str:
    sub: list[str] = []
    _walk(e, skip, sub)
    return squash("".join(sub))


def _render(c: ET.Element, name: str, skip: frozenset[str]) -> str:
    if name == "math":
        from connectors._mathml import linearize  # (imports this module)

        s = linearize(c)
        return f" {s} " if c.get("display") == "block" else s
    if name in ("inline-formula", "disp-formula"):
        s = _formula(c, skip)  # a formula with no text form (a graphic) still separates words
        return f" {s} " if name == "disp-formula" or not s else s
    if name == "tex-math":
        return _tex(c)
    if name == "alternatives":
        return _formula(c, skip)
    if name in ("sup", "sub"):
        s = _inner(c, skip)
        if not s:
            return ""
        if name == "sup" and any(local(d.tag) == "xref" for d in c.iter()):
            return f" [{s}]"  # citation / footnote marker, set off from the word it follows
        if name == "sup" and (all(ch in _PLAIN_SUP for ch in s) or s.lower() in _ORDINAL):
            return s  # Drug®, 37°, 1st
        return ("^" if name == "sup" else "_") + (s if " " not in s else f"({s})")
    if name == "xref" and len(c) == 1 and local(c[0].tag) == "sup" and not (c.text or "").strip() and not (c[0].tail or "").strip():
        s = _inner(c[0], skip)
        return f" [{s}]" if s else ""
    if name in _BLOCK:
        return f" {_inner(c, skip)} "
    sub: list[str] = []
    _walk(c, skip, sub)
    return "".join(sub)


def _formula(f: ET.Element, skip: frozenset[str]) -> str:
    """A formula's best linear form: MathML, else TeX, else its own text (labels left out)."""
    for d in f.iter():
        if local(d.tag) == "math":
            return _render(d, "math", skip).strip()
    for d in f.iter():
        if local(d.tag) == "tex-math":
            return _tex(d)
    return _inner(f, skip | {"label", "graphic", "inline-graphic", "media"})


def _tex(e: ET.Element) -> str:
    """The formula of a ``tex-math`` element, without the LaTeX document wrapper PMC puts around it."""
    s = "".join(e.itertext())
    m = _TEX_DOC.search(s)
    body = m.group(1) if m else s
    body = body.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
        if body.startswith(a) and body.endswith(b) and len(body) >= len(a) + len(b):
            body = body[len(a): len(body) - len(b)].strip()
            break
    return squash(body)


def find_local(el: ET.Element, *path: str) -> ET.Element | None:
    """First descendant path by local names (namespace agnostic), e.g. ``find_local(a, "front", "article-meta")``."""
    cur = el
    for name in path:
        nxt = None
        for c in cur:
            if local(c.tag) == name:
                nxt = c
                break
        if nxt is None:
            return None
        cur = nxt
    return cur


def iter_local(el: ET.Element, name: str):
    """All descendants (any depth) with local name ``name``."""
    for e in el.iter():
        if local(e.tag) == name:
            yield e

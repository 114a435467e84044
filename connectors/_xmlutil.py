"""Small XML helpers shared by the MEDLINE, JATS, n2c2 and MedQuAD readers (stdlib only).

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


def local(tag) -> str:
    """Element name without its namespace (``{ns}p`` -> ``p``); '' for comments / PIs."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def squash(text: str) -> str:
    """Collapse whitespace runs to one space (inline markup flattening leaves ragged spacing)."""
    return " ".join(text.split())  # str.split: C speed, same whitespace set as \s


def flat_text(el: ET.Element | None, skip: frozenset[str] = frozenset()) -> str:
    """All text under ``el`` in document order, inline markup (``<i>``, ``<sup>``, MathML)
    flattened; subtrees whose local name is in ``skip`` are left out (their tails kept)."""
    if el is None:
        return ""
    if not skip:  # C-accelerated path (comments and processing instructions are skipped too)
        return squash("".join(el.itertext()))
    parts: list[str] = []

    def walk(e: ET.Element) -> None:
        if e.text:
            parts.append(e.text)
        for c in e:
            if local(c.tag) not in skip:
                walk(c)
            if c.tail:
                parts.append(c.tail)

    walk(el)
    return squash("".join(parts))


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

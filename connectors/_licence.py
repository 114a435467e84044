"""The licence of a JATS article as an identifier (SPDX-style ``CC-BY-4.0``), from what the XML
gives: ``ali:license_ref`` (JATS 1.2+), ``license/@xlink:href``, a link inside the licence
paragraph (``ext-link/@xlink:href``, ``uri``), ``license/@license-type``, or a Creative Commons
licence named (or linked) in the licence paragraph or, for older articles without a
``<license>``, in the ``copyright-statement``.  Never the paragraph itself.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from connectors._xmlutil import flat_text, iter_local, local

_XLINK = "{http://www.w3.org/1999/xlink}href"
_CC_URL = re.compile(
    r"creativecommons\.org/(?P<kind>licenses|licences|publicdomain)/(?P<code>[a-z][a-z-]*[a-z])"
    r"(?:/(?P<ver>\d+(?:\.\d+)?))?(?:/(?P<port>[a-z]{2,3}))?",
    re.I,
)
_CC_TYPE = re.compile(
    r"^(?:cc|creative[-_ ]?commons)[-_ ]?(?P<code>(?:by|zero|0)(?:[-_ ](?:nc|nd|sa))*)(?:[-_ ]?(?P<ver>\d\.\d))?$", re.I
)
_CC_NAME = re.compile(
    r"Creative\s+Commons\s+(?P<name>Attribution(?:[-\s]+(?:Non-?Commercial|No-?Deriv(?:ative)?s?|Share-?Alike))*)"
    r"(?:\s+(?:International\s+|Unported\s+|Generic\s+)?(?:License|Licence)?\s*\(?(?:CC\s+[A-Z-]+\s*)?(?P<ver>\d\.\d))?"
    r"|\bCC[\s-](?P<short>BY(?:[\s-](?:NC|ND|SA))*)(?:[\s-](?P<sver>\d\.\d))?\b",
    re.I,
)
_NAME_PARTS = (("noncommercial", "nc"), ("noderiv", "nd"), ("sharealike", "sa"))


def _cc(code: str, ver: str | None, port: str | None = None) -> str:
    code = code.lower().replace("_", "-").replace(" ", "-")
    if code in ("zero", "0", "cc0"):
        return "CC0-1.0"
    if code == "mark":
        return "PDM-1.0"
    out = "CC-" + code.upper() + (f"-{ver}" if ver else "")
    return out + (f"-{port.upper()}" if port and ver else "")


def licence_from_url(url: str) -> str | None:
    """``https://creativecommons.org/licenses/by-nc/4.0/`` -> ``CC-BY-NC-4.0`` (None: not Creative Commons)."""
    m = _CC_URL.search(url or "")
    if not m:
        return None
    return _cc(m.group("code"), m.group("ver"), m.group("port"))


def _from_name(text: str) -> str | None:
    m = _CC_NAME.search(text)
    if not m:
        return None
    if m.group("short"):
        return _cc(re.sub(r"\s+", "-", m.group("short")), m.group("sver"))
    name = re.sub(r"[\s-]", "", m.group("name").lower())
    code = "by" + "".join(f"-{c}" for key, c in _NAME_PARTS if key in name)  # CC order: BY-NC-ND, BY-NC-SA
    return _cc(code, m.group("ver"))


def article_licence(meta_el: ET.Element | None) -> tuple[str | None, str | None]:
    """``(licence id or URL, licence URL)`` of an ``article-meta``; ``(None, None)`` when the XML names none."""
    if meta_el is None:
        return None, None
    urls: list[str] = []
    types: list[str] = []
    texts: list[ET.Element] = []
    for lic in iter_local(meta_el, "license"):
        href = lic.get(_XLINK) or lic.get("href")
        if href:
            urls.append(href.strip())
        if lic.get("license-type"):
            types.append(lic.get("license-type").strip())
        texts.append(lic)
    for ref in iter_local(meta_el, "license_ref"):
        if (ref.text or "").strip():
            urls.insert(0, ref.text.strip())
    for lic in texts:
        for e in lic.iter():
            if local(e.tag) in ("ext-link", "uri", "self-uri"):
                u = e.get(_XLINK) or (e.text or "").strip()
                if u:
                    urls.append(u.strip())
    first_url = next((u for u in urls if "://" in u or u.startswith("www.")), None)
    for u in urls:
        lid = licence_from_url(u)
        if lid:
            return lid, u
    for t in types:
        m = _CC_TYPE.match(t)
        if m:
            return _cc(m.group("code"), m.group("ver")), first_url
    # the licence paragraph, else (older articles without <license>) the copyright statement
    for el in [*texts, *iter_local(meta_el, "copyright-statement")]:
        text = flat_text(el)
        lid = licence_from_url(text) or _from_name(text)
        if lid:
            return lid, first_url
    return first_url, first_url

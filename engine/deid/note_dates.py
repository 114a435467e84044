"""Dates and phone numbers as real notes write them (one ``finditer`` per pattern, linear).

The patterns of :mod:`engine.deid.patterns` want a year or a context word; nursing notes
mostly write neither: ``7/22``, ``10/3``, ``6/30-7/2``, ``12-21-99``, ``3-24-88``, ``'85``,
``20th Oct``, ``nov. 2016``, ``in 1983``; phones split or with extensions
(``410 392 0780 x45``, ``212- 476- 8356``, ``201/324/1423``, ``671-9309``, ``Pager #12345``).

False alarms this guards against: blood pressures and ratios (month 1-12 and day 1-31 only;
``BP 120/80`` never fits; ``pain 7/10``, ``strength 5/5``, ``1:1``, fractions ``1/2`` are
excluded by the word before or the value), military times (``at 1900`` is a time, ``in 1983``
a year), doses and volumes after a number (``500-1000 cc``).
"""
from __future__ import annotations

import functools
import re
from itertools import chain
from typing import Sequence

from engine.deid.anchors import AnchorIndex, Anchors
from engine.deid.entities import DATE, PHONE, Hit
from engine.deid.words import Words

_ANY_DIGIT = re.compile(r"\d")

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_UNITS = (
    r"(?:[ \t]*(?:mg|mcg|meq|mmol|units?|u|cc|ml|l|liters?|lpm|bpm|gm?|kg|mm|cm|cal|kcal|mmhg|hrs?|min|x|peep|ips|ps)\b"
    r"|[ \t]*%)"
)
#: digit shapes of m/d, m/d/yy, m/d/yyyy, m-d-yy, m/yy (validated in Python; every regex
#: here starts with a character class or a literal and runs on the lower-cased note, so ``re``
#: scans for its first character in C)
_MD = re.compile(
    r"[0-9][0-9]?(?:(?P<sep>/)[0-9][0-9]?(?:/[0-9]{2,4})?|-[0-9][0-9]?-[0-9]{2,4})(?![0-9/]|\.[0-9]|:[0-9])"
)
_UNIT_AFTER = re.compile(_UNITS)
#: words before an m/d that make it a score, a ratio or a dose, not a date
_NOT_DATE_BEFORE = re.compile(
    r"\b(?:pain|strength|str|grade|gr|bp|pressure|murmur|ratio|ie|i:e|rate|score|scale|apgar|gcs|out of|x|about|"
    r"sbp|map|abp|nbp|cvp|pap|pad|pa|hr|rr|sat|sats|vent|ac|peep|ps|psv|cpap|bipap|tv|fio2|abg|vbg|"
    r"ett|et|ng|og|iabp|augmenting|unloading|rate of)[ \t:=]*$"
)
#: ventilator settings before an m/d ("PSV of 10/5", "CPAP 12/5/40%", "flowby 6/3")
_VENT_BEFORE = re.compile(
    r"\b(?:cpap|bipap|psv|ps|ips|peep|simv|imv|vent|vented|ventilation|settings|flowby|support|a/c|ac)\b"
    r"[^a-z\n]*(?:\b[a-z]{1,3}\b[^a-z\n]*)*$"
)
_PAIN_BEFORE = re.compile(r"\b(?:pain|cp|rating|rated|rates|scale|discomfort|ha|headache)\b|#|\($")
_MONTH_FIRST = re.compile(
    rf"(?P<phi>{_MONTH}\.?,?[ \t]+(?:the[ \t]+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?[ \t]+(?:\d{{4}}|'\d\d))?"
    rf"|{_MONTH}\.?,?[ \t]+(?:of[ \t]+)?(?:\d{{4}}|'\d\d))(?![a-z\d])"
)
#: "20th Oct", "3 of may": the day before a month word (searched for back from the month word)
_DAY_BEFORE = re.compile(r"(?<![\d.:/])\d{1,2}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?$")
_MONTH_AFTER_DAY = re.compile(rf"{_MONTH}\.?(?:,?[ \t]+(?:\d{{4}}|'\d\d)|,[ \t]*\d\d)?(?![a-z\d])")
_MONTH_PREFIXES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: two-digit years: "'85", "CA'88", "62'" (a two-digit number of 20+ with a trailing quote)
_YEAR2 = re.compile(r"'(?P<phi>\d\d)(?![\d'])")
_YEAR2_AFTER = re.compile(r"(?P<phi2>[2-9]\d)'(?![\d\"a-z])")
#: four-digit years: 1960-1999 anywhere (no time has 60+ minutes), 1900-2039 after a year word
_YEAR4 = re.compile(r"(?P<phi>19\d\d|20[0-3]\d)(?![\d/:]|\.\d|" + _UNITS[:-1] + r"))")
#: words before a year of 2000-2039 (which could be a time): "in", "since", an event of the history
_YEAR_WORD = re.compile(
    r"(?:\b(?:in|since|of|year|yr|born|until|circa|dx|diagnosed|hx|s/p|onset|"
    r"cabg|mi|ami|nstemi|stemi|cva|tia|stroke|pci|ptca|stent|stents|stented|avr|mvr|surgery|repair|replacement|"
    r"transplant|resection|ectomy|otomy|fx|fracture)|[',])[ \t]+$"
)
_PHONE = re.compile(
    r"(?P<phi>[(\d](?:(?<=\()\d{3}\)|(?<=\d)\d\d)[ \t]*[\-./]?[ \t]*\d{3}[ \t]*[\-./]?[ \t]*\d{4}"
    r"(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,5})?)(?![\d/]|\.\d)"
)
_PHONE7 = re.compile(r"(?P<phi>\d\d\d-\d{4})(?![\d\-/]|\.\d|" + _UNITS[:-1] + r"))")
#: matched where a pager or phone word starts (:data:`ANCHORS`)
_PAGER = re.compile(r"(?:p(?:a?ger|g|gr|h|hone)|beep(?:er)?|cell|tel)\b[ \t.:]*(?:#|no\.?)?[ \t:]*(?P<phi>\d{4,5})(?!\d)")
_DIGITS_BEFORE = frozenset("0123456789/.:-+")
_ROUND = re.compile(r"\d\d[05]-(?:\d\d00|\d\d30|\d\d15|\d\d45)")
_ALPHA = re.compile(r"[a-z]+")
_STRONG_DAY = re.compile(r"\d[ \t]*$|\d{4}|'\d\d|\d(?:st|nd|rd|th)")


def _span(m: re.Match) -> tuple[int, int]:
    for g in ("phi", "phi2"):
        if g in m.re.groupindex and m.group(g) is not None:
            return m.span(g)
    return m.span()


def _after_digit(text: str, s: int) -> bool:
    return s > 0 and (text[s - 1] in _DIGITS_BEFORE or text[s - 1].isalpha() and text[s - 1] in "xX")


def _after_number(low: str, s: int) -> bool:
    """A digit shape right after a digit, ``/`` or ``:`` (or ``.``/``-`` after a digit) is part
    of a longer number ("7.51/34/54", "128/30/7.52", "1-1-1")."""
    if s == 0:
        return False
    c = low[s - 1]
    if c.isdigit() or c in "/:+":
        return True
    return c in ".-" and s > 1 and low[s - 2].isdigit()


def _md(low: str, m: re.Match) -> bool:
    """Whether an m/d digit shape is a date."""
    parts = low[m.start() : m.end()].replace("-", "/").split("/")
    mo, d = int(parts[0]), int(parts[1])
    if not 1 <= mo <= 12:
        return False
    if _UNIT_AFTER.match(low, m.end()):
        return False
    if len(parts) == 3:
        y = parts[2]
        return 1 <= d <= 31 and (len(y) == 2 or "1900" <= y <= "2099")
    if d > 31:
        return len(parts[1]) == 2 and d >= 40  # m/yy: "12/93"
    if d == 0:
        return False
    s = m.start()
    if _NOT_DATE_BEFORE.search(low, max(0, s - 12), s) or _VENT_BEFORE.search(low, max(0, s - 40), s):
        return False
    if d == 10 and mo <= 10 and _PAIN_BEFORE.search(low, max(0, s - 30), s):
        return False  # a pain score
    return not (mo <= 4 and d <= 4 and mo < d or mo == d and mo <= 5)  # 1/2, 3/4: fractions; 5/5: strength


#: where the month and pager rules look: words (or hyphenated parts) starting with a month's
#: first three letters, and the pager / phone words; any case, a digit may come right before
ANCHORS = (
    Anchors(_MONTH_PREFIXES, nocase=True, digit_before=True),
    Anchors(("pager", "pger", "pg", "pgr", "ph", "phone", "beep", "beeper", "cell", "tel"), whole=True, nocase=True,
            digit_before=True),
)


@functools.lru_cache(maxsize=1)
def _index() -> AnchorIndex:
    return AnchorIndex(ANCHORS)


def scan(text: str | Words, occ: Sequence[list[int]] | None = None) -> list[Hit]:
    """Dates and phones in a note (its text or :class:`~engine.deid.words.Words`); ``occ``: the
    offsets of :data:`ANCHORS` in it when already found (one :class:`AnchorIndex` pass serves
    every scanner)."""
    out: list[Hit] = []
    nw = text if isinstance(text, Words) else None
    text = nw.text if nw is not None else text
    if not _ANY_DIGIT.search(text):
        return out
    if nw is None:
        nw = Words(text)
    if occ is None:
        occ = _index().find(nw)
    months, pagers = occ
    low = nw.low
    last_end = -1
    # each regex needs a character a note may lack: a substring test (in C) skips the scan
    for m in _MD.finditer(low) if "/" in low or "-" in low else ():
        s, e = m.span()
        # the second date of a range ("6/30-7/2") follows a digit, which is no longer number
        in_range = s == last_end + 1 and low[last_end] == "-"
        if not in_range and _after_number(low, s) or not _md(low, m):
            continue
        out.append(Hit(s, e, DATE, 0.6, "date_md"))
        last_end = e
    for a in months:
        m = _MONTH_FIRST.match(low, a)
        if m is not None and m.group("d") is not None and not 1 <= int(m.group("d")) <= 31:
            m = None  # "Oct, 88": a year, see the day before
        if m is not None:
            s, e = m.span("phi")
            word = _ALPHA.match(low, s).group()
            if word not in ("may", "mar", "march", "jan", "dec", "sept", "sep", "june", "jun") or (
                text[s].isupper() or _STRONG_DAY.search(low, s, e)
            ):
                out.append(Hit(s, e, DATE, 0.7, "date_month"))
                continue
        d = _DAY_BEFORE.search(low, max(0, a - 12), a)
        m = _MONTH_AFTER_DAY.match(low, a)
        if d is not None and m is not None and (d.start() == 0 or not low[d.start() - 1].isalnum()):
            out.append(Hit(d.start(), m.end(), DATE, 0.7, "date_month"))
    for m in chain(_YEAR2.finditer(low), _YEAR2_AFTER.finditer(low)) if "'" in low else ():
        s, e = _span(m)
        if m.re is _YEAR2 and s > 1 and text[s - 2].isalpha() and text[s - 2].islower():
            continue  # "pt's" is no year; "CA'88" is
        if m.re is _YEAR2_AFTER and s > 0 and (low[s - 1].isalnum() or low[s - 1] in ".'"):
            continue
        out.append(Hit(s, e, DATE, 0.55, "year2"))
    for m in _YEAR4.finditer(low) if "19" in low or "20" in low else ():
        s, e = m.span("phi")
        if s > 0 and (low[s - 1].isdigit() or low[s - 1] in "/.:-"):
            continue
        if not ("1960" <= m.group("phi") <= "1999" or _YEAR_WORD.search(low, max(0, s - 16), s)):
            continue
        out.append(Hit(s, e, DATE, 0.55, "year4"))
    for m in _PHONE.finditer(low):
        s, e = m.span("phi")
        if _after_number(low, s):
            continue
        out.append(Hit(s, e, PHONE, 0.7, "phone"))
    for m in _PHONE7.finditer(low) if "-" in low else ():
        s, e = m.span("phi")
        if _after_number(low, s) or _ROUND.fullmatch(low, s, e):
            continue
        out.append(Hit(s, e, PHONE, 0.6, "phone7"))
    last = -1
    for a in pagers:
        m = _PAGER.match(low, a) if a >= last else None
        if m is None:
            continue
        last = m.end()
        s, e = m.span("phi")
        out.append(Hit(s, e, PHONE, 0.6, "pager"))
    return out

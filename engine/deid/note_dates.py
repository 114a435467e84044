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

import re

from engine.deid.notes import Found

DATE = "DATE_TIME"
PHONE = "PHONE_NUMBER"

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_UNITS = r"(?:[ \t]*(?:mg|mcg|meq|mmol|units?|u|cc|ml|l|gm?|kg|mm|cm|cal|kcal|%|mmhg|hrs?|min|x)\b)"
#: m/d, m/d/yy, m/d/yyyy, m-d-yy, m-d-yyyy, and ranges m/d-m/d
_MD = re.compile(
    r"(?<![\d/.:\-+])(?P<phi>(?P<mo>1[0-2]|0?[1-9])(?P<sep>/)(?P<d>3[01]|[12]\d|0?[1-9])(?:/(?P<y>\d{4}|\d{2}))?"
    r"|(?P<mo2>1[0-2]|0?[1-9])-(?P<d2>3[01]|[12]\d|0?[1-9])-(?P<y2>\d{4}|\d{2})"
    r"|(?P<mo3>1[0-2]|0?[1-9])/(?P<y3>[4-9]\d))"
    r"(?![\d/]|\.\d|:\d|" + _UNITS[:-1] + r"))",
    re.I,
)
#: words before an m/d that make it a score, a ratio or a dose, not a date
_NOT_DATE_BEFORE = re.compile(
    r"\b(?:pain|strength|str|grade|gr|bp|pressure|murmur|ratio|ie|i:e|rate|score|scale|apgar|gcs|out of|x|about|"
    r"approx|sbp|map|abp|nbp|cvp|pap|pad|pa|hr|rr|sat|sats|vent|ac|peep|ps|psv|cpap|bipap|tv|fio2|abg|vbg|"
    r"ett|et|ng|og|iabp|augmenting|unloading|rate of|at|is|was|of|to)[ \t:=]*$",
    re.I,
)
_MONTH_DAY = re.compile(
    rf"(?<![A-Za-z])(?P<phi>{_MONTH}\.?,?[ \t]+(?:the[ \t]+)?\d{{1,2}}(?:st|nd|rd|th)?(?:,?[ \t]+(?:\d{{4}}|'\d\d))?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH}\.?(?:,?[ \t]+(?:\d{{4}}|'\d\d))?"
    rf"|{_MONTH}\.?,?[ \t]+(?:of[ \t]+)?(?:\d{{4}}|'\d\d))(?![A-Za-z\d])",
    re.I,
)
#: two-digit years: "'85", "CA'88", "62'" (a two-digit number of 20+ with a trailing quote)
_YEAR2 = re.compile(r"(?<![\w'])(?P<phi>'\d\d)(?![\d'])|(?<![\w'.])(?P<phi2>[2-9]\d')(?![\d\"A-Za-z])")
#: four-digit years: 1960-1999 anywhere (no time has 60+ minutes), 1900-2039 after a year word
_YEAR4 = re.compile(
    r"(?<![\d/.:\-])(?P<phi>19[6-9]\d)(?![\d/.:]|" + _UNITS[:-1] + r"))"
    r"|(?:\b(?:in|since|of|year|yr|cabg|mi|dx|diagnosed|until|born|'|,)[ \t]+)(?P<phi2>19\d\d|20[0-3]\d)(?![\d/.:]|"
    + _UNITS[:-1]
    + r"))",
    re.I,
)
_PHONE = re.compile(
    r"(?<![\d/.\-])(?P<phi>\(?\d{3}\)?[ \t]*[\-./]?[ \t]*\d{3}[ \t]*[\-./]?[ \t]*\d{4}"
    r"(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,5})?)(?![\d/]|\.\d)"
)
_PHONE7 = re.compile(r"(?<![\d/.\-])(?P<phi>\d{3}-\d{4})(?![\d\-/]|\.\d|" + _UNITS[:-1] + r"))", re.I)
_PAGER = re.compile(r"\b(?:pager|beeper|pgr|pg|page|beep|cell|phone|tel|ph)\b[ \t.:]*(?:#|no\.?)?[ \t:]*(?P<phi>\d{4,5})(?!\d)", re.I)


_ALPHA = re.compile(r"[A-Za-z]+")


def _span(m: re.Match) -> tuple[int, int]:
    for g in ("phi", "phi2"):
        if g in m.re.groupindex and m.group(g) is not None:
            return m.span(g)
    return m.span()


def scan(text: str) -> list[Found]:
    out: list[Found] = []
    for m in _MD.finditer(text):
        s, e = m.span("phi")
        if m.group("y") is None and m.group("y2") is None and m.group("y3") is None:
            mo, d = int(m.group("mo")), int(m.group("d"))
            if _NOT_DATE_BEFORE.search(text, max(0, s - 12), s):
                continue
            if mo <= 4 and d <= 4 and mo < d:  # 1/2, 1/3, 3/4: fractions
                continue
            if text.startswith("/", e) or text[e : e + 1].isdigit():
                continue
        out.append(Found(s, e, DATE, 0.6, "date_md"))
    for m in _MONTH_DAY.finditer(text):
        s, e = m.span("phi")
        word = _ALPHA.search(text, s, e).group().lower()
        if word in ("may", "mar", "march", "jan", "dec", "sept", "sep", "june", "jun") and not re.search(r"\d", text[s:e]):
            continue
        if word == "may" and not text[s].isupper() and not re.search(r"\d[ \t]*$|\d{4}|'\d\d|st|nd|rd|th", text[s:e]):
            continue
        out.append(Found(s, e, DATE, 0.7, "date_month"))
    for m in _YEAR2.finditer(text):
        s, e = _span(m)
        out.append(Found(s, e, DATE, 0.55, "year2"))
    for m in _YEAR4.finditer(text):
        s, e = _span(m)
        out.append(Found(s, e, DATE, 0.55, "year4"))
    for m in _PHONE.finditer(text):
        s, e = m.span("phi")
        out.append(Found(s, e, PHONE, 0.7, "phone"))
    for m in _PHONE7.finditer(text):
        s, e = m.span("phi")
        out.append(Found(s, e, PHONE, 0.6, "phone7"))
    for m in _PAGER.finditer(text):
        s, e = m.span("phi")
        out.append(Found(s, e, PHONE, 0.6, "pager"))
    return out

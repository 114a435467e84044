"""Regular expressions for the HIPAA safe-harbor identifiers that occur in clinical notes.

Everything here is plain ``re`` and cheap to import (no presidio, no spaCy).  Two kinds:

* :data:`PATTERNS`: one :class:`PhiPattern` per way an identifier is written.  The span that
  is PHI is the named group ``phi`` (the rest of the match is context such as ``MRN:`` or
  ``Dr.``).  A pattern never crosses a line break.
* :func:`could_match`: the document pre-screen, cheap necessary conditions (anchor strings,
  two digit/colon regexes).  Text that fails it has no PHI hit (``tests/test_deid.py`` checks
  that screening changes no result).

Entity names and placeholders are in :mod:`engine.deid.entities`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable

from engine.deid.checks import ok_age, ok_date, ok_ip, ok_name, ok_name_context, ok_phone, ok_ssn
from engine.deid.entities import (  # noqa: F401  (the entity names are used as P.PERSON etc.)
    ACCESSION, ACCOUNT, ADDRESS, AGE, DATE, EMAIL, ENTITIES, IP, LOCATION, MRN, PERSON, PHONE, SSN, URL, ZIP,
)

# -- building blocks ------------------------------------------------------------------------------
_H = r"[ \t]"  # horizontal space only: patterns never cross lines
_CAP = r"[A-Z][a-z]+(?:['\-][A-Z]?[a-z]+)?"  # Smith, O'Neil, Smith-Jones
_MC = r"(?:Mc|Mac|O')[A-Z][a-z]+"
_NAMEW = rf"(?:{_MC}|{_CAP})"
_INIT = r"[A-Z]\."
#: a person name: First [M.] Last, F. Last, First Last-Last, or a single surname
_NAME = rf"(?:{_NAMEW}|{_INIT})(?:{_H}(?:{_NAMEW}|{_INIT})){{0,2}}"
_LASTFIRST = rf"{_NAMEW},{_H}{_NAMEW}(?:{_H}{_INIT})?"
_PH_ITEM = r"(?:\[\*\*[^\]\n]{0,120}?\*\*\]|_{3,}|X{4,})"
_LIST_SEP = rf"(?:,{_H}*(?:and{_H}+)?|{_H}+and{_H}+|{_H}*&{_H}*|{_H}*/{_H}*|;{_H}*)"

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_STATES = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|"
    r"NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR)"
)
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl)"
)
_TLDS = r"(?:com|org|net|edu|gov|mil|io|us|info|biz|health|co\.uk|ca)"

def _lit(words: str) -> str:
    """The literal words with their Capitalised / lower / UPPER forms, as one regex.

    A trie of the words (``S(?:een(?:[ \t]+by)?|igned)|...``): at each position ``re`` tests
    one branch per distinct next character instead of every word in turn, and a longer word
    is still tried before a shorter one it starts with ("Seen by" before "Seen").
    """
    out: list[str] = []
    for w in words.split():
        w = w.replace("_", " ")
        for v in (w, w[:1].upper() + w[1:], w.lower(), w.upper()):
            if v not in out:
                out.append(v)
    return "(?:" + _trie(out) + ")"


def _trie(words: list[str]) -> str:
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [(_H + "+" if ch == " " else re.escape(ch)) + emit(node[ch]) for ch in sorted(k for k in node if k)]
        if not alts:
            return ""
        if len(alts) == 1 and "" not in node:
            return alts[0]
        return "(?:" + "|".join(alts) + ")" + ("?" if "" in node else "")

    return emit(root)


_CONTEXT_VERBS = (
    "seen examined evaluated dictated signed cosigned co-signed transcribed written reviewed discussed referred covered "
    "paged called reported verified interpreted approved performed completed submitted ordered routed accompanied "
    "consented spoke spoken talked"
)
_CONTEXT_NOUNS = (
    "attending resident intern fellow PCP nurse RN NP PA surgeon physician provider consultant referring caller "
    "requesting submitting primary patient Pt name family contact emergency_contact HCP proxy guardian wife husband "
    "son daughter mother father sister brother friend spouse partner cc team signature dictator author per d/w"
)
_NAME_CONTEXT = (
    "(?:" + _lit(_CONTEXT_VERBS) + rf"(?:{_H}+{_lit('by with to from')})?" + "|" + _lit(_CONTEXT_NOUNS) + ")"
)

_CREDENTIAL = r"(?:M\.?D\.?|D\.?O\.?|R\.?N\.?|N\.?P\.?|PA-C|P\.?A\.?|Ph\.?D\.?|MBBS|DDS|CNM|CRNA|LCSW|PharmD|FACC|FACS|FACP)"


@dataclass(frozen=True)
class PhiPattern:
    name: str
    entity: str
    regex: re.Pattern
    score: float
    validate: Callable[[re.Match], bool] | None = None
    #: split the phi group into several names (name lists)
    split_list: bool = False
    #: a match preceded by a character matching this is skipped (a word boundary checked in
    #: Python, so the regex can start with literals and ``re`` can scan fast)
    left: re.Pattern | None = None
    #: how candidates are located before the regex runs (see :func:`anchored`):
    #: ``None`` scan the whole text; ``"start"`` the regex is matched at each occurrence of an
    #: anchor (it begins with its keyword); ``"near"`` the regex searches a short stretch of
    #: the line around each occurrence (``reach`` = characters left, right)
    mode: str | None = None
    anchors: tuple[str, ...] | re.Pattern = ()
    reach: tuple[int, int] = (0, 0)
    #: anchors are whole words (no letter may follow them), not prefixes ("Dr" -> "Drs")
    whole: bool = False
    #: what must come right before an anchor for it to count (searched up to the anchor)
    before: re.Pattern | None = None


_LEFT_WORD = re.compile(r"[A-Za-z0-9_]")


def _p(name, entity, rx, score, validate=None, flags=0, split_list=False, left=None) -> PhiPattern:
    return PhiPattern(name, entity, re.compile(rx, flags), score, validate, split_list, left)


PATTERNS: tuple[PhiPattern, ...] = (
    # ---- names ---------------------------------------------------------------------------------
    _p(
        "name_title",
        PERSON,
        rf"(?:Drs|Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Doctor)\.?{_H}+(?P<phi>(?:{_NAME}|{_PH_ITEM})(?:{_LIST_SEP}(?:(?:Dr|Mr|Mrs|Ms)\.?{_H}+)?(?:{_NAME}|{_PH_ITEM}))*)",
        0.85,
        ok_name,
        split_list=True,
        left=_LEFT_WORD,
    ),
    _p(
        "name_context",
        PERSON,
        rf"(?P<ctx>{_NAME_CONTEXT})\b\.?{_H}*(?P<sep>[:#\-]|is|was)?{_H}*(?P<title>(?:Drs|Dr|Mr|Mrs|Ms)\.?{_H}+)?"
        rf"(?P<phi>(?:{_LASTFIRST}|{_NAME}|{_PH_ITEM})(?:{_LIST_SEP}(?:(?:Dr|Mr|Mrs|Ms)\.?{_H}+)?(?:{_NAME}|{_PH_ITEM}))*)",
        0.7,
        ok_name_context,
        split_list=True,
        left=_LEFT_WORD,
    ),
    _p(
        "name_signature",
        PERSON,
        rf"(?P<phi>(?:{_NAMEW}|{_INIT})(?:{_H}(?:{_NAMEW}|{_INIT})){{1,2}}),?{_H}+{_CREDENTIAL}(?![A-Za-z])",
        0.8,
        ok_name,
    ),
    # ---- dates (with a year) -------------------------------------------------------------------
    _p(
        "date_mdy",
        DATE,
        r"(?<![\d/\-.])(?P<phi>(?P<mo>\d{1,2})([/\-.])(?P<d>\d{1,2})\3(?P<y>\d{4}|\d{2}))(?![\d/\-]|\.\d)",
        0.75,
        ok_date,
    ),
    _p(
        "date_ymd",
        DATE,
        r"(?<![\d/\-.])(?P<phi>(?P<y>\d{4})([/\-.])(?P<mo>\d{1,2})\3(?P<d>\d{1,2}))(?![\d/\-]|\.\d)",
        0.85,
        ok_date,
    ),
    _p(
        "date_month_name",
        DATE,
        rf"\b(?P<phi>{_MONTHS}\.?{_H}+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?{_H}+(?P<y>\d{{4}})|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?{_H}+(?:of{_H}+)?{_MONTHS}\.?,?{_H}+(?P<y2>\d{{4}})|{_MONTHS}\.?,?{_H}+(?P<y3>\d{{4}}))\b",
        0.85,
        ok_date,
    ),
    # ---- contact ---------------------------------------------------------------------------------
    _p(
        "phone",
        PHONE,
        rf"(?<![\d\-/.])(?P<phi>(?:\+?1[ .\-]?)?(?:\(\d{{3}}\){_H}?|\d{{3}}[ .\-])\d{{3}}[ .\-]\d{{4}}(?:{_H}*(?:x|ext\.?){_H}*\d{{1,5}})?)(?![\d\-])",
        0.75,
        ok_phone,
    ),
    _p(
        "phone_context",
        PHONE,
        rf"\b(?:[Pp]hone|[Tt]el|[Cc]ell|[Ff]ax|[Pp]ager|[Bb]eeper|[Pp]h)\b\.?{_H}*(?:#|no\.?|number)?{_H}*:?{_H}*(?P<phi>\d{{3}}[ .\-]\d{{4}}|\d{{4,5}})(?![\d\-])",
        0.7,
    ),
    _p(
        "email",
        EMAIL,
        r"(?<![\w.+\-])(?P<phi>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})\b",
        0.9,
    ),
    _p(
        "url",
        URL,
        rf"(?P<phi>\b(?:https?://|ftp://|www\.)[^\s<>\"'\]\)]+[^\s<>\"'\]\).,;:]|(?<![@\w.\-])[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.{_TLDS}\b(?:/[^\s<>\"']*[^\s<>\"'.,;:)])?)",
        0.6,
    ),
    _p(
        "ipv4",
        IP,
        r"(?<![\d.])(?P<phi>\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?!\d|\.\d)",
        0.75,
        ok_ip,
    ),
    _p("ipv6", IP, r"(?<![:\w])(?P<phi>(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4})(?![:\w])", 0.75),
    # ---- numbers -----------------------------------------------------------------------------------
    _p("ssn", SSN, r"(?<![\d\-])(?P<phi>\d{3}-\d{2}-\d{4})(?![\d\-])", 0.8, ok_ssn),
    _p(
        "ssn_context",
        SSN,
        rf"\b(?:SSN|[Ss]ocial{_H}+[Ss]ecurity(?:{_H}+(?:[Nn]o|[Nn]umber|#))?)\.?{_H}*[:#]?{_H}*(?P<phi>\d{{3}}[ \-]?\d{{2}}[ \-]?\d{{4}})(?!\d)",
        0.85,
    ),
    _p(
        "mrn",
        MRN,
        rf"\b(?:MRN|MR{_H}*#|MR{_H}+(?:[Nn]o|[Nn]umber)|[Mm]ed(?:ical)?{_H}+[Rr]ec(?:ord)?(?:{_H}+(?:[Nn]o|[Nn]umber|#))?|"
        rf"[Uu]nit{_H}+(?:[Nn]o|[Nn]umber|#)|[Hh]ospital{_H}+(?:[Nn]o|[Nn]umber|#)|[Pp]atient{_H}+(?:ID|[Nn]o|[Nn]umber|#)|"
        rf"[Cc]hart{_H}*(?:#|[Nn]o|[Nn]umber)|HN)(?![A-Za-z])\.?{_H}*[:#]?{_H}*(?P<phi>[A-Z]{{0,3}}-?\d[\d\-]{{3,14}}\d)(?![\d\-])",
        0.85,
    ),
    _p(
        "account",
        ACCOUNT,
        rf"\b(?:[Aa]cct|[Aa]ccount|[Bb]illing|[Ee]ncounter|[Vv]isit|CSN|FIN|[Mm]ember{_H}+ID|[Pp]olicy|[Ii]nsurance{_H}+ID|"
        rf"[Hh]ealth{_H}+[Pp]lan(?:{_H}+ID)?|[Mm]edicaid|[Mm]edicare|[Ss]ubscriber{_H}+ID|[Gg]roup{_H}+(?:[Nn]o|#))(?![A-Za-z])\.?"
        rf"(?:{_H}*(?:[Nn]o|[Nn]umber|#|ID)(?![A-Za-z])\.?)?{_H}*[:#]?{_H}*(?P<phi>[A-Z]{{0,4}}-?\d[\dA-Z\-]{{3,16}}\d)(?![\d\-])",
        0.8,
    ),
    _p(
        "accession",
        ACCESSION,
        rf"\b(?:[Aa]ccession|[Aa]cc|[Ss]pecimen|[Cc]ase)(?![A-Za-z]){_H}*(?:[Nn]o|[Nn]umber|#|ID)?(?![A-Za-z])\.?{_H}*[:#]?{_H}*(?P<phi>[A-Z]{{0,4}}-?\d{{2,4}}-?\d{{3,8}})(?![\d\-])",
        0.8,
    ),
    _p("accession_shape", ACCESSION, r"(?<![\w\-])(?P<phi>[A-Z]{1,3}\d{2}-\d{4,7})(?![\w\-])", 0.7),
    # ---- ages over 89 -------------------------------------------------------------------------------
    _p(
        "age",
        AGE,
        rf"(?:\b(?:[Aa]ge|[Aa]ged|AGE)\b:?{_H}*(?P<phi>\d{{2,3}})\b"
        rf"|\b(?P<phi2>\d{{2,3}}){_H}*(?:-|{_H})?(?:y/o|y\.o\.|yo|YO|yrs?{_H}*old|years?[\-{_H}]old|year-old|-year-old|yr-old)(?![A-Za-z]))",
        0.85,
        ok_age,
    ),
    # ---- geography ----------------------------------------------------------------------------------
    _p(
        "street",
        ADDRESS,
        rf"(?<![\w\-/.])(?P<phi>\d{{1,6}}{_H}+(?:[NSEW]\.?{_H}+)?(?:{_CAP}{_H}+){{1,3}}{_STREET_SUFFIX}\b\.?"
        rf"(?:,?{_H}+(?:Apt|Unit|Suite|Ste|#)\.?{_H}*#?\w{{1,5}})?)",
        0.8,
    ),
    _p(
        "city_state_zip",
        LOCATION,
        rf"(?<![A-Za-z])(?P<phi>{_CAP}(?:{_H}{_CAP}){{0,2}}),{_H}*{_STATES}\b{_H}+(?=\d{{5}}|_{{3}}|\[\*\*|X{{4}})",
        0.7,
    ),
    _p("zip", ZIP, rf"\b{_STATES}{_H}+(?P<phi>\d{{5}}(?:-\d{{4}})?)(?![\d\-])", 0.8),
    _p(
        "zip_context",
        ZIP,
        rf"\b(?:ZIP|Zip|zip)(?:{_H}*[Cc]ode)?{_H}*[:#]?{_H}*(?P<phi>\d{{5}}(?:-\d{{4}})?)(?![\d\-])",
        0.85,
    ),
)

def _variants(words: str) -> tuple[str, ...]:
    out: list[str] = []
    for w in words.split():
        w = w.replace("_", " ")
        for v in (w, w[:1].upper() + w[1:], w.lower()) + ((w.upper(),) if len(w) <= 4 and w not in ("Pt", "per") else ()):
            if v not in out:
                out.append(v)
    return tuple(out)


_STATE_CODES = tuple(_STATES[3:-1].split("|"))
_ANCHORS: dict[str, tuple] = {
    "name_title": ("start", ("Dr", "Mr", "Ms", "Miss", "Mx", "Prof", "Doctor"), (0, 0)),
    "name_context": ("start", _variants(_CONTEXT_VERBS + " " + _CONTEXT_NOUNS), (0, 0)),
    "mrn": ("start", _variants("MRN MR Med Medical Unit Hospital Patient Chart") + ("HN",), (0, 0)),
    "account": ("start", _variants("Acct Account Billing Encounter Visit Member Policy Insurance Health Medicaid "
                                   "Medicare Subscriber Group") + ("CSN", "FIN"), (0, 0)),
    "accession": ("start", _variants("Acc Specimen Case"), (0, 0)),
    "ssn_context": ("start", ("SSN", "Social", "social"), (0, 0)),
    "phone_context": ("start", _variants("Ph Tel Cell Fax Pager Beeper"), (0, 0)),
    "zip_context": ("start", ("ZIP", "Zip", "zip"), (0, 0)),
    "age": ("near", ("Age", "age", "AGE", "yo", "YO", "y/o", "y.o.", "year", "yr"), (16, 16)),
    "date_month_name": ("near", ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), (12, 24)),
    "name_signature": ("near", ("MD", "M.D", "DO", "D.O", "RN", "R.N", "NP", "N.P", "PA", "P.A", "PhD", "Ph.D", "MBBS",
                                "DDS", "CNM", "CRNA", "LCSW", "PharmD", "FAC"), (100, 8)),
    "email": ("near", ("@",), (80, 80)),
    "url": ("near", ("://", "www.", ".com", ".org", ".net", ".edu", ".gov", ".mil", ".io", ".us", ".info", ".biz",
                     ".health", ".uk", ".ca"), (120, 200)),
    "street": ("near", ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr",
                        "Court", "Ct", "Way", "Place", "Pl", "Terrace", "Ter", "Circle", "Cir", "Parkway", "Pkwy",
                        "Highway", "Hwy", "Square", "Sq", "Trail", "Trl"), (90, 30)),
    "city_state_zip": ("near", _STATE_CODES, (60, 12)),
    "zip": ("start", _STATE_CODES, (0, 0)),
}
#: one digit-shape scan locates candidates for all the digit patterns (shared: the scan runs
#: once per note and is shared, see :mod:`engine.deid.anchors`); each pattern then runs near them only
DIGIT_SHAPE = re.compile(
    r"\d(?:\d{0,3}[/\-.]\d{1,3}[/\-.]\d"  # dates, IPs, SSNs
    r"|\d\d[ .\-]\d{4}(?!\d)"  # phones
    r"|\d-\d{4})"  # accession shapes
)
_ANCHORS.update(
    {
        "date_mdy": ("near", DIGIT_SHAPE, (8, 16)),
        "date_ymd": ("near", DIGIT_SHAPE, (8, 16)),
        "phone": ("near", DIGIT_SHAPE, (16, 24)),
        "ipv4": ("near", DIGIT_SHAPE, (8, 24)),
        "ssn": ("near", DIGIT_SHAPE, (8, 16)),
        "accession_shape": ("near", DIGIT_SHAPE, (8, 16)),
        "ipv6": ("near", re.compile(r"::|:[0-9A-Fa-f]{1,4}:"), (48, 48)),
    }
)
_WHOLE = ("name_signature", "street", "city_state_zip", "zip")
_BEFORE = {"city_state_zip": re.compile(r",[ \t]*$")}
PATTERNS = tuple(
    replace(p, mode=_ANCHORS[p.name][0], anchors=_ANCHORS[p.name][1], reach=_ANCHORS[p.name][2], whole=p.name in _WHOLE,
            before=_BEFORE.get(p.name))
    if p.name in _ANCHORS
    else p
    for p in PATTERNS
)


#: the document pre-screen (:func:`could_match`).  Every pattern match contains one of: an
#: anchor string of a "start"/"near" pattern (plain ``in``: C substring search), a digit shape
#: of the whole-text patterns, or an IPv6-like colon group.  ``re`` with hundreds of literal
#: alternatives runs at ~0.4 MB/s here; 250 ``in`` checks on a note are ~30x faster.
_GATE_ANCHORS: tuple[tuple[str, bool], ...] = tuple(
    sorted(
        {(a, p.whole) for p in PATTERNS if p.mode and not isinstance(p.anchors, re.Pattern) for a in p.anchors}
        - {(a, True) for p in PATTERNS if p.mode and not p.whole and not isinstance(p.anchors, re.Pattern) for a in p.anchors}
    )
)
TRIGGERS: tuple[re.Pattern, ...] = (
    re.compile(r",[ \t]*" + _STATES + r"\b"),  # City, ST (regex-anchored patterns)
    re.compile(
        r"\d(?:\d{0,3}[/\-.]\d{1,3}[/\-.]\d"  # dates, IPs, SSNs
        r"|\d\d[ .\-]\d{4}(?!\d)"  # phones
        r"|\d-\d{4}"  # accession shapes
        r"|\d{4}(?!\d))"  # ZIP codes (after a state code)
    ),
    re.compile(r"::|:[0-9A-Fa-f]{1,4}:"),  # IPv6
)


def anchor_at(text: str, i: int, a: str, whole: bool) -> bool:
    """Whether the occurrence of anchor ``a`` at ``i`` counts: a word anchor must start a word
    (and, when ``whole``, end one)."""
    if a[0].isalnum() and i > 0 and text[i - 1].isalnum():
        return False
    if whole and a[-1].isalnum():
        j = i + len(a)
        if j < len(text) and text[j].isalpha():
            return False
    return True


def could_match(text: str) -> bool:
    """False only when no pattern can match anywhere in ``text`` (the document gate)."""
    for rx in TRIGGERS:
        if rx.search(text):
            return True
    find = text.find
    for a, whole in _GATE_ANCHORS:
        i = find(a)
        while i >= 0:
            if anchor_at(text, i, a, whole):
                return True
            i = find(a, i + 1)
    return False

"""Places in free-text clinical notes: hospitals, units, facilities, towns, employers.

Rules of the note scanner (:mod:`engine.deid.notes`) that mark words as a place, each started
at a word of :func:`triggers` and looking a bounded number of words around it:

* facility names: the words before ``Hospital`` / ``Hosp`` / ``Memorial`` / ``Medical Center`` /
  ``Rehab`` / ``Clinic`` / ``Campus`` / ``Center`` / ``Building`` ... (a specialty word such as
  ``Heart`` or ``Cancer`` may stand between), ``University of X``, ``U of X``;
* a gazetteer word (US counties and places) that is no common word; ``Town, ST``;
* after ``to`` / ``from`` / ``on`` / ``at`` / ``in``: a two-word gazetteer place, a unit or
  building with a floor number (``to Quartermain 6``, ``to 209 Quartermain``), a word no table
  knows after a transfer (``transferred to Kimbrough``), capitalised words after a transfer
  in a mixed-case note (``transferred from Good Sam``), a hospital acronym (``to XGH``);
* where someone lives or works: ``lives (alone) in X``, ``lives at X``, ``works at / for X``,
  ``retired from X``, ``his business X``;
* a word no table knows followed by a floor number (``PLAN: Quartermain 2 when bed available``).

A capital says something only in a mixed-case note; in a lower-case or all-caps note the
rules that need one fall back to the word tables.
"""
from __future__ import annotations

import bisect
import re

from engine.deid import lexicon as L
from engine.deid.marks import Marks
from engine.deid.words import Words

_UNIT_NUMBER = re.compile(r"[ \t]{1,2}[1-9](?![\d/:%]|\.\d|[ \t]*(?:mg|mcg|u|units|cc|ml|l|g|gm|mm|cm|x)\b)", re.I)
_SPACE2 = re.compile(r"[ \t]{1,2}")
_SPACE_ANY = re.compile(r"[ \t]+")
_FAC_GAP = re.compile(r"[ \t]{1,3}|\.[ \t]{1,2}|'s[ \t]{1,2}")
#: between a context word and what it introduces: spaces, a colon or comma, "is"
_INTRO_GAP = re.compile(r"[ \t]*[:,]?[ \t]*(?:is[ \t]+)?|[ \t]+")
FLOOR = re.compile(
    r"[ \t]{1,2}[1-9](?:[ \t]*(?:[.,;)|]|$)|[ \t]+(?:when|today|tomorrow|tonight|if|this|post|bed|for|later|once|after)\b)",
    re.I | re.M,
)
#: endings of drug and lab names ("captopril 6", "troponin 2"): not a unit with a floor number
_DRUG_ENDINGS = (
    "pril", "olol", "cillin", "mycin", "micin", "floxacin", "azole", "statin", "sartan", "dipine", "oxin", "onin",
    "ase", "ide", "ate", "one", "ine", "mab", "nib", "parin", "phen", "done", "pam", "lam",
)
_NOT_AFTER_FACILITY = frozenset(
    "course stay stays day days admission admissions visit visits discharge bed beds policy records record room "
    "rooms course: acquired onset follow followup follow-up unit units".split()
)
#: words that end a facility's name
FACILITY_END = L.FACILITY_END | {"center", "ctr", "centre", "building", "bldg", "pavilion"}
#: ... and need no proper name before them when a place word ("to", "at") comes first
_STRONG = frozenset(("hospital", "hosp", "hosptial", "medical", "med", "vamc", "memorial"))
#: what a facility is for, between its name and the facility word ("Chester River Heart Center")
_SPECIALTY = frozenset(
    """heart cancer health surgical surgery eye kidney dialysis rehabilitation nursing care children childrens
    women womens medical med wellness imaging infusion cardiac cardiology vascular orthopedic orthopaedic psychiatric
    behavioral trauma burn stroke spine sleep pain transplant diagnostic ambulatory outpatient community regional
    general specialty""".split()
)
_PREV_PLACE = frozenset(("to", "from", "on", "at", "in"))
STATE_CODES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)
#: state codes that are also clinical abbreviations ("intubated, IN", "htn, MI", "cordis, DC")
_AMBIGUOUS_STATES = frozenset("IN MI DC OK PA CO MD ME OR HI MS LA AL DE ID GA VA CT SC MA NE MO OH NC ND SD".split())
_STATE_AFTER = re.compile(r",[ \t]?([A-Z]{2})(?![A-Za-z])")
_MOVED = frozenset(
    "transfer transferred transfered tranfered xfer xferred tx txd admitted back go going went sent return returned "
    "taken brought flighted".split()
)
_LIVES = frozenset("lives living lived live resides residing moved".split())
_LIVES_PREP = frozenset(("in", "at", "near", "to"))
#: what follows "lives in" that is no place name
_HOUSING = frozenset(
    """home house apartment apartments apt condo condominium assisted living senior seniors housing facility
    facilities nursing group shelter area town city country community complex trailer place residence independent
    independently retirement elderly building own same local private rural suburb suburbs neighborhood project projects
    hotel motel room rooms basement single family families one two three rented rental alone together with
    nh snf alf""".split()
)
_WORK = frozenset("works worked employed employee retired job business company employer".split())
_WORK_PREP = frozenset(("at", "for", "from", "by"))
#: words that bring a name right after them ("his business Genentech")
_WORK_NAMED = frozenset(("business", "company", "employer"))
_UNIVERSITY = frozenset(("university", "univ"))


def triggers(T: L.Tables) -> frozenset[str]:
    """The words at which a place rule starts."""
    return FACILITY_END | T.place_words | _PREV_PLACE | _WORK | _UNIVERSITY | {"medical", "med", "u"}


def rule(x: str, T: L.Tables):
    """The place rule that starts at the word ``x`` (see :func:`engine.deid.notes._rule`), or ``None``."""
    if x in _PREV_PLACE:
        return _after_prep
    if x in _WORK:
        return _work
    if x in FACILITY_END or x in ("medical", "med"):
        return _facility_word
    if x in _UNIVERSITY:
        return university
    if x in T.place_words:
        return _gazetteer
    return None


def _gazetteer(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    m.place(i, 0.6, "gazetteer")


def _facility_word(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    w, n, x = nt.w, nt.n, nt.w[i]
    if x == "memorial":
        m.place(i, 0.6, "facility")
    if x in ("medical", "med") and not (i + 1 < n and w[i + 1] in ("center", "ctr")):
        return
    if not (i + 1 < n and w[i + 1] in _NOT_AFTER_FACILITY):  # "Brief Hospital Course", "hospital stay"
        _facility(nt, T, i, m)


def _facility(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """The proper name before a facility word: "Sacred Heart Hosp", "Kessler Medical Center"."""
    w, x = nt.w, nt.w[i]
    k, got, specialty = i - 1, [], []
    while k >= 0 and len(got) < 4 and nt.gap(k, _FAC_GAP):
        y = w[k]
        if not got and len(specialty) < 2 and y in _SPECIALTY and y != x:
            specialty.append(k)  # "... Heart Center", "Sacred Heart Hosp", "General Hospital"
        elif y == "of" and k > 0 and w[k - 1] not in L.STOP:
            got.append(k)
        elif y in ("st", "saint") or len(y) == 2 and y not in L.STOP and nt.raw(k).isupper() and nt.raw(k) in STATE_CODES:
            got.append(k)
        elif y in L.STOP or y in T.clinical or y in L.FACILITY and y not in ("memorial", "va"):
            break
        else:
            got.append(k)
        k -= 1
    if got and w[got[-1]] == "of":
        got.pop()
    if not got:
        return
    # "cardiac rehab", "needs rehab": a weak facility word needs a proper name before it
    proper = any(not T.safe(w[k]) or nt.mixed and nt.text[nt.s[k]].isupper() for k in got)
    strong = x in _STRONG
    if not proper and not (strong and got[-1] > 0 and w[got[-1] - 1] in _PREV_PLACE):
        return
    for k in got + specialty:
        m.place(k, 0.7, "facility")


def university(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """"University of Maryland", "U of MD", "U Maryland"."""
    w, n = nt.w, nt.n
    if w[i] == "u" and nt.raw(i) != "U":
        return
    if i + 2 < n and w[i + 1] == "of" and (w[i + 2] not in L.STOP or nt.raw(i + 2) in STATE_CODES):
        for k in (i, i + 1, i + 2):
            m.place(k, 0.7, "university")
    elif w[i] == "u" and i + 1 < n and nt.gap(i, _SPACE2) and (w[i + 1] in L.STATES or nt.raw(i + 1) in STATE_CODES):
        m.place(i, 0.7, "university")
        m.place(i + 1, 0.7, "university")


def _after_prep(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """Places right after "to" / "from" / "on" / "at" / "in"."""
    w, n, x = nt.w, nt.n, nt.w[i]
    if i + 1 >= n:
        return
    j, y = i + 1, w[i + 1]
    # the common case first: a common word after the preposition, no transfer or home before
    if y in T.safe_words and y != "the" and y not in T.place_first and (i == 0 or w[i - 1] not in _MOVED) and not (
        x in _LIVES_PREP and (i > 0 and w[i - 1] in _LIVES or i > 1 and w[i - 2] in _LIVES or i > 2 and w[i - 3] in _LIVES)
    ):
        return
    # a two-word place ("Middle River") right after "in" / "from" / "to"
    if j + 1 < n and y in T.place_first and y + " " + w[j + 1] in T.places and nt.gap(j, _SPACE2):
        m.place(j, 0.6, "gazetteer2")
        m.place(j + 1, 0.6, "gazetteer2")
        return
    if not nt.gap(i, _SPACE_ANY):
        return
    if y == "the" and j + 1 < n and nt.gap(j, _SPACE_ANY):
        j, y = j + 1, w[j + 1]
    safe = y in T.safe_words
    # a unit or building with a floor number: "to Quartermain 6", "on Smith 2"
    if x != "in" and not safe and len(y) > 2 and _UNIT_NUMBER.match(nt.text, nt.e[j]):
        m.place(j, 0.65, "unit_number")
        return
    moved = i > 0 and w[i - 1] in _MOVED
    if moved and x in ("to", "from"):
        # "transferred to X" with X a word no table knows
        if x == "to" and y not in T.known and len(y) > 3:
            m.place(j, 0.6, "moved_to")
            return
        # "transferred from Good Sam": capitalised words in a mixed-case note
        if nt.mixed and not nt.lower and _capitalised_run(nt, T, j, m):
            return
    # hospital acronyms: "to XGH", "from ABMC"
    if x != "on" and not safe and (y.endswith("h") or y.endswith("mc") or y.startswith("va")):
        raw = nt.raw(j)
        if 2 <= len(raw) <= 5 and (raw.isupper() or len(raw) <= 3 and y not in T.known):
            if y not in T.clinical and y not in T.english and y not in L.STOP:
                m.place(j, 0.6, "hospital_acronym")
                return
    # "lives in X", "lives alone in X", "lives with wife in X", "lives at X"
    if x in _LIVES_PREP and (i > 0 and w[i - 1] in _LIVES or i > 1 and w[i - 2] in _LIVES or i > 2 and w[i - 3] in _LIVES):
        _run_after(nt, T, j, m, "lives_in", lambda k: w[k] not in _HOUSING and w[k] not in L.STATES)


def _capitalised_run(nt: Words, T: L.Tables, j: int, m: Marks) -> bool:
    """Up to three capitalised words from ``j`` with one no common word among them."""
    w, n = nt.w, nt.n
    k = j
    while k < n and k - j < 3 and title_case(nt.raw(k)) and w[k] not in L.STOP and w[k] not in T.clinical:
        if k > j and not nt.gap(k - 1, _SPACE2):
            break
        k += 1
    if k == j or all(T.safe(w[q]) for q in range(j, k)) or all(w[q] in L.STATES for q in range(j, k)):
        return False
    for q in range(j, k):
        m.place(q, 0.6, "moved_named")
    return True


def title_case(raw: str) -> bool:
    """"Sam", "Good": a capital, then lower case (no acronym such as "NSB" or "C-T")."""
    return raw[0].isupper() and raw[1:].isalpha() and raw[1:].islower()


def _run_after(nt: Words, T: L.Tables, j: int, m: Marks, rule: str, ok, proper: bool = False) -> None:
    """Up to three words from ``j`` (spaces between) that are no function or clinical word and
    pass ``ok``; with ``proper``, in a mixed-case note each must be capitalised or no common word."""
    w, n = nt.w, nt.n
    k = j
    while k < n and k - j < 3 and w[k] not in L.STOP and w[k] not in T.clinical and ok(k):
        if k > j and not nt.gap(k - 1, _SPACE2):
            break
        if proper and nt.mixed and not nt.lower and T.safe(w[k]) and not nt.text[nt.s[k]].isupper():
            break
        if proper and not nt.mixed and T.safe(w[k]):
            break
        k += 1
    if k == j or len(w[j]) < 3:
        return
    for q in range(j, k):
        m.place(q, 0.6, rule)


def _work(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """Employers: "works at Harford Memorial", "works for vista health", "his business Genentech"."""
    w, n, x = nt.w, nt.n, nt.w[i]
    j = i + 1
    if j >= n:
        return
    if x in _WORK_NAMED:
        if nt.gap(i, _INTRO_GAP) and w[j] not in T.safe_words and w[j] not in L.STATES:
            _run_after(nt, T, j, m, "work", lambda k: w[k] not in L.STATES, proper=True)
        return
    if w[j] not in _WORK_PREP or not nt.gap(i, _SPACE_ANY) or j + 1 >= n or not nt.gap(j, _SPACE_ANY):
        return
    k = j + 1
    if w[k] == "the" and k + 1 < n and nt.gap(k, _SPACE_ANY):
        k += 1
    # a lower-case note says nothing by its capitals: the context alone decides there
    strict = not nt.lower or x == "retired"
    _run_after(nt, T, k, m, "work", lambda q: w[q] not in _HOUSING and w[q] not in L.STATES, proper=strict)


def unit_candidates(unknown) -> list[str]:
    """Of the words no table knows, those that may name a unit or building."""
    return [x for x in unknown if len(x) > 5 and "-" not in x and not x.endswith(_DRUG_ENDINGS)]


def unit_floor(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """A word no table knows with a floor number: "PLAN: Quartermain 2 when bed available"."""
    if FLOOR.match(nt.text, nt.e[i]):
        m.place(i, 0.55, "unit_number")


def after_words(nt: Words, T: L.Tables, m: Marks) -> None:
    """The place rules that look at the note as a whole: ``Town, ST``."""
    text, w = nt.text, nt.w
    # "Middle River, MD": the words before a state code after a comma
    if "," in text:
        for mt in _STATE_AFTER.finditer(text):
            if mt.group(1) not in STATE_CODES:
                continue
            i = bisect.bisect_left(nt.s, mt.start()) - 1
            if i < 0 or nt.e[i] != mt.start():
                continue
            if i > 0 and nt.gap(i - 1, _SPACE2) and w[i - 1] + " " + w[i] in T.places:
                m.place(i - 1, 0.65, "town_state")
                m.place(i, 0.65, "town_state")
            elif w[i] in T.places and w[i] not in T.clinical or mt.group(1) not in _AMBIGUOUS_STATES and not T.safe(w[i]):
                m.place(i, 0.65, "town_state")

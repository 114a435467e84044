"""Names and places in free-text clinical notes: one linear pass over the words of a note.

Real notes write names and places without the cues that patterns need: lower case or all
caps, no title, surnames alone, relatives and staff named in passing, hospitals, units and
towns.  :func:`scan` tokenises a note once and decides word by word from the word tables of
:mod:`engine.deid.lexicon` and a few words of context on each side:

* a word after a title (``Dr``, ``Mr``, ``Mrs``...) is a name unless it is a function word
  (``Dr aware``); an initial or a given name pulls in the next name-like word;
* a word after a relative or a role (``wife``, ``dtr``, ``son``, ``nurse``, ``np``...) is a name
  when it is a given name, a surname or a word no table knows;
* a word of the surname or given-name tables that is no common English or clinical word is a
  name anywhere (``Garvey``, ``MORETTI``); its unknown or name-like neighbours join it;
* a name-like word before a credential (``..., RN``) or before ``aware`` / ``notified``;
* places: the words before ``Hospital`` / ``Medical Center`` / ``Rehab``..., after
  ``University of``, a gazetteer word that is no common word, ``Town, ST``, a unit name with
  a floor number after ``to`` / ``from`` / ``on``, hospital acronyms (``...H``, ``...MC``).

Work and memory are linear in the length of the note (each rule looks a bounded number of
words away).  Nothing here logs text.
"""
from __future__ import annotations

import bisect
import functools
import re
from itertools import compress
from typing import NamedTuple

from engine.deid import lexicon as L
from engine.deid.words import Words

PERSON = "PERSON"
LOCATION = "LOCATION"

#: between two words of one name: spaces, an initial's dot, nothing else
_NAME_GAP = re.compile(r"[ \t]{1,3}|\.[ \t]{0,2}|\.?,[ \t]{0,2}")
#: between a relative / role word and the name: ``wife, Mary``, ``son (Rob)``, ``dtr- peggy``
_REL_GAP = re.compile(r"(?:'s)?[ \t]*[,:(\-\"]?[ \t]*(?:(?:is|named|who is)[ \t]+)?\"?")
_UNIT_NUMBER = re.compile(r"[ \t]{1,2}[1-9](?![\d/:%]|\.\d|[ \t]*(?:mg|mcg|u|units|cc|ml|l|g|gm|mm|cm|x)\b)", re.I)
_SPACES = re.compile(r"[ \t]{1,3}")
_SPACE2 = re.compile(r"[ \t]{1,2}")
_SPACE_ANY = re.compile(r"[ \t]+")
_FAC_GAP = re.compile(r"[ \t]{1,3}|\.[ \t]{1,2}|'s[ \t]{1,2}")
_FLOOR = re.compile(
    r"[ \t]{1,2}[1-9](?:[ \t]*(?:[.,;)|]|$)|[ \t]+(?:when|today|tomorrow|tonight|if|this|post|bed|for|later|once|after)\b)",
    re.I | re.M,
)
_JOIN = re.compile(r"[ \t]{1,3}|\.[ \t]{0,2}|[ \t]*-[ \t]*")
_EPONYM_NEXT = frozenset(
    "disease diseases syndrome sign signs scale score criteria test maneuver reflex catheter drain tube procedure "
    "repair fundoplication lymphoma sarcoma palsy phenomenon respirations".split()
)
_NOT_AFTER_FACILITY = frozenset(
    "course stay stays day days admission admissions visit visits discharge bed beds policy records record room "
    "rooms course: acquired onset follow followup follow-up unit units".split()
)
#: endings of drug and lab names ("captopril 6", "troponin 2"): not a unit with a floor number
_DRUG_ENDINGS = (
    "pril", "olol", "cillin", "mycin", "micin", "floxacin", "azole", "statin", "sartan", "dipine", "oxin", "onin",
    "ase", "ide", "ate", "one", "ine", "mab", "nib", "parin", "phen", "done", "pam", "lam",
)
_CRED_GAP = re.compile(r"[ \t]{1,3}|,[ \t]{0,2}")
_WEAK_TITLES = frozenset(("ms", "mr", "miss", "mister"))
#: state codes that are also clinical abbreviations ("intubated, IN", "htn, MI", "cordis, DC")
_AMBIGUOUS_STATES = frozenset("IN MI DC OK PA CO MD ME OR HI MS LA AL DE ID GA VA CT SC MA NE MO OH NC ND SD".split())
_STATE_AFTER = re.compile(r",[ \t]?([A-Z]{2})(?![A-Za-z])")
_STATE_CODES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)
_MOVED = frozenset("transfer transferred transfered xfer xferred tx txd admitted back go going sent return returned".split())
_LIVES = frozenset("lives living lived live resides residing moved from".split())


class Found(NamedTuple):
    start: int
    end: int
    entity: str
    score: float
    rule: str


_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_PREV_PLACE = frozenset(("to", "from", "on", "at", "in"))


@functools.lru_cache(maxsize=1)
def _interest() -> frozenset[str]:
    """Words at which some rule starts (every other word is skipped with one set lookup)."""
    T = L.tables()
    return (
        L.TITLES | L.RELATIVES | L.CREDENTIALS | L.AFTER_NAME | L.FACILITY_END | T.names | T.place_words
        | _LETTERS | _PREV_PLACE | {"medical", "med", "university"}
    )


def scan(text: str | Words) -> list[Found]:
    """Names and places found in ``text`` (a note or its :class:`~engine.deid.words.Words`;
    unsorted, may overlap)."""
    if not text or isinstance(text, Words) and not text.text:
        return []
    T = L.tables()
    interest = _interest()
    nt = text if isinstance(text, Words) else Words(text)
    text = nt.text
    w, n = nt.w, nt.n
    names: dict[int, tuple[float, str]] = {}  # word index -> (score, rule)
    places: dict[int, tuple[float, str]] = {}

    def mark(d, i, score, rule):
        if i not in d or d[i][0] < score:
            d[i] = (score, rule)

    def name_like(j: int) -> bool:
        x = w[j]
        return x in T.names or x not in T.known and len(x) > 1 or nt.initial(j)

    # a word no table knows with a floor number: "PLAN: Quartermain 2 when bed available"
    unknown = {x for x in set(w).difference(T.known) if len(x) > 5 and "-" not in x and not x.endswith(_DRUG_ENDINGS)}
    if unknown:
        for i in compress(range(n), map(unknown.__contains__, w)):
            if _FLOOR.match(text, nt.e[i]):
                mark(places, i, 0.55, "unit_number")
    # every rule starts at a word of ``interest``: the others are skipped in C
    for i in compress(range(n), map(interest.__contains__, w)):
        x = w[i]
        # -- titles: "Dr. Smith", "DR JONES", "Mrs. Haas", "Dr George Griffin", "Dr. X and Y aware"
        if x in L.TITLES:
            j = i + 1
            if j < n and nt.gap(i, _NAME_GAP) and not L.title_stop(w[j]) and (
                x not in _WEAK_TITLES and (not nt.mixed or nt.text[nt.s[j]].isupper() or not T.safe(w[j]))
                or w[j] in T.names or w[j] not in T.known and len(w[j]) > 2
                or not T.safe(w[j]) and (nt.text.startswith(".", nt.e[i]) or nt.text[nt.s[i] + 1].islower())
            ):
                mark(names, j, 0.85, "title")
                k = j
                while k + 1 < n and k - j < 2 and nt.gap(k, _NAME_GAP) and _next_name(nt, T, k, name_like):
                    k += 1
                    mark(names, k, 0.85, "title")
                if k + 2 < n and w[k + 1] == "and" and nt.gap(k, _SPACE_ANY) and not T.safe(w[k + 2]):
                    mark(names, k + 2, 0.8, "title_list")
            continue
        # -- relatives and roles: "wife mary", "dtr, Peggy", "son rob", "nurse leslie kiezulas"
        if x in L.RELATIVES:
            j = i + 1
            if j < n and nt.gap(i, _REL_GAP) and w[j] not in L.STOP:
                y = w[j]
                if y in T.names or y in T.given or (y not in T.known and len(y) > 1):
                    mark(names, j, 0.8, "relative")
                    k = j
                    if k + 1 < n and nt.gap(k, _NAME_GAP) and _next_name(nt, T, k, name_like):
                        k += 1
                        mark(names, k, 0.8, "relative")
                    if k + 2 < n and w[k + 1] == "and" and (w[k + 2] in T.given or name_like(k + 2)) and w[k + 2] not in L.STOP:
                        mark(names, k + 2, 0.75, "relative_list")
            continue
        # -- a name-table word that is no common word: a name anywhere
        if x in T.names:
            if i + 1 < n and w[i + 1] in _EPONYM_NEXT or len(x) < 3:  # "Wilson disease"; "NY", "WI"
                continue
            mark(names, i, 0.6, "lexicon")
            if i + 1 < n and nt.gap(i, _NAME_GAP) and name_like(i + 1):
                mark(names, i + 1, 0.6, "lexicon")
            if i > 0 and nt.gap(i - 1, _NAME_GAP) and (name_like(i - 1) or w[i - 1] in T.given and not T.safe(w[i - 1])):
                mark(names, i - 1, 0.6, "lexicon")
            continue
        # -- an initial before a name-like word: "E. WELSH", "B. Kargas"
        if len(x) == 1:
            if x not in "aios" and nt.initial(i) and nt.text.startswith(".", nt.e[i]) and nt.gap(i, _NAME_GAP) and (
                nt.s[i] == 0 or nt.text[nt.s[i] - 1] in " \t\n(\"-"
            ):
                nxt = nt.raw(i + 1)
                y = w[i + 1]
                if (y in T.names or y not in T.known or y in T.surnames and y not in T.clinical and y not in L.STOP) and (
                    len(nxt) > 1 and nxt[0].isupper()
                ):
                    mark(names, i, 0.7, "initial")
                    mark(names, i + 1, 0.7, "initial")
            continue
        # -- credentials: "Herman W. Smith, RRT", "barbara j. jones bsn/rn"
        if x in L.CREDENTIALS:
            if i > 0 and (nt.raw(i).isupper() or not nt.mixed or x not in ("md", "do", "pa")):
                k, got = i - 1, 0
                while k >= 0 and got < 3 and nt.gap(k, _NAME_GAP if got else _CRED_GAP) and (
                    name_like(k) and (len(w[k]) > 1 or got) or w[k] in T.given and not T.safe(w[k]) or len(w[k]) == 1 and got
                ):
                    mark(names, k, 0.7, "credential")
                    k, got = k - 1, got + 1
            continue
        # -- "X aware", "X notified"
        if x in L.AFTER_NAME:
            if i > 0 and nt.gap(i - 1, _SPACES) and name_like(i - 1) and len(w[i - 1]) > 1:
                mark(names, i - 1, 0.7, "after_name")
            continue
        _places(nt, T, i, places, mark)

    # "Middle River, MD": the words before a state code after a comma
    if "," in text:
        for m in _STATE_AFTER.finditer(text):
            if m.group(1) not in _STATE_CODES:
                continue
            i = bisect.bisect_left(nt.s, m.start()) - 1
            if i < 0 or nt.e[i] != m.start():
                continue
            if i > 0 and nt.gap(i - 1, _SPACE2) and w[i - 1] + " " + w[i] in T.places:
                mark(places, i - 1, 0.65, "town_state")
                mark(places, i, 0.65, "town_state")
            elif w[i] in T.places and w[i] not in T.clinical or m.group(1) not in _AMBIGUOUS_STATES and not T.safe(w[i]):
                mark(places, i, 0.65, "town_state")

    _propagate(nt, T, names, places)
    for i in names:
        places.pop(i, None)
    return _merge(nt, names, PERSON) + _merge(nt, places, LOCATION)


def _merge(nt: Words, found: dict, entity: str) -> list[Found]:
    """One span per run of found words that only spaces, dots or hyphens separate
    ("Deborah Haddad", "E. Welsh", "Sacred Heart"), with the run's best score."""
    out: list[Found] = []
    run: list[int] = []
    for i in sorted(found):
        if run and i == run[-1] + 1 and _JOIN.fullmatch(nt.text, nt.e[run[-1]], nt.s[i]):
            run.append(i)
            continue
        if run:
            out.append(_run(nt, run, found, entity))
        run = [i]
    if run:
        out.append(_run(nt, run, found, entity))
    return out


def _run(nt: Words, run: list[int], found: dict, entity: str) -> Found:
    sc, rule = max(found[i] for i in run)
    return Found(nt.s[run[0]], nt.e[run[-1]], entity, sc, rule)


def _next_name(nt: Words, T: L.Tables, k: int, name_like) -> bool:
    """After a title or relative: whether word ``k + 1`` continues the name that word ``k`` is part of
    ("Dr B Muse", "dr. john bowman", "dtr Frances Baker")."""
    y = nt.w[k + 1]
    if y in L.STOP or y in T.clinical or y in L.TITLES:
        return False
    if y in T.names or nt.initial(k + 1):
        return True
    return nt.initial(k) or nt.w[k] in T.given and (y in T.surnames or y not in T.known)


def _propagate(nt: Words, T: L.Tables, names: dict, places: dict) -> None:
    """A word found as a name or place is found everywhere in the note ("Radu ... Radu")."""
    seen = {nt.w[i]: ("PERSON", sc) for i, (sc, _) in names.items()}
    seen.update({nt.w[i]: ("LOCATION", sc) for i, (sc, _) in places.items() if i not in names})
    seen = {x: v for x, v in seen.items() if len(x) > 2 and not T.safe(x) and x not in L.TITLES}
    if not seen:
        return
    for i, x in enumerate(nt.w):
        if x in seen and i not in names and i not in places:
            ent, sc = seen[x]
            (names if ent == "PERSON" else places)[i] = (min(sc, 0.6), "same_word")


def _places(nt: Words, T: L.Tables, i: int, places: dict, mark) -> None:
    w, n, x = nt.w, nt.n, nt.w[i]
    # facility names: "Sacred Heart Hosp", "Kessler Medical Center", "University of Maryland Hospital"
    if x == "memorial":
        mark(places, i, 0.6, "facility")
    if x in L.FACILITY_END and i + 1 < n and w[i + 1] in _NOT_AFTER_FACILITY:
        return  # "Brief Hospital Course", "hospital stay"
    if x in L.FACILITY_END or x in ("medical", "med") and i + 1 < n and w[i + 1] in ("center", "ctr"):
        k, got = i - 1, []
        while k >= 0 and len(got) < 4 and nt.gap(k, _FAC_GAP):
            y = w[k]
            if y == "of" and k > 0 and w[k - 1] not in L.STOP:
                got.append(k)
            elif y in ("st", "saint") or len(y) == 2 and nt.raw(k).isupper() and nt.raw(k) in _STATE_CODES:
                got.append(k)
            elif y in L.STOP or y in T.clinical or y in L.FACILITY and y not in ("memorial", "va"):
                break
            else:
                got.append(k)
            k -= 1
        if got and w[got[-1]] == "of":
            got.pop()
        # "cardiac rehab", "needs rehab": a weak facility word needs a proper name before it
        proper = any(not T.safe(w[k]) or nt.mixed and nt.text[nt.s[k]].isupper() for k in got)
        strong = x in ("hospital", "hosp", "hosptial", "medical", "med", "vamc", "memorial")
        if got and not proper and not (strong and got[-1] > 0 and w[got[-1] - 1] in _PREV_PLACE):
            got = []
        for k in got:
            mark(places, k, 0.7, "facility")
        return
    if x == "university":
        if i + 2 < n and w[i + 1] == "of" and (w[i + 2] not in L.STOP or nt.raw(i + 2) in _STATE_CODES):
            for k in (i, i + 1, i + 2):
                mark(places, k, 0.7, "university")
        return
    if x in T.place_words:
        mark(places, i, 0.6, "gazetteer")
        return
    if x not in _PREV_PLACE or i + 1 >= n:
        return
    j, y = i + 1, w[i + 1]
    # a two-word place ("Middle River") right after "in" / "from" / "to"
    if j + 1 < n and y + " " + w[j + 1] in T.places and nt.gap(j, _SPACE2):
        mark(places, j, 0.6, "gazetteer2")
        mark(places, j + 1, 0.6, "gazetteer2")
        return
    if not nt.gap(i, _SPACE_ANY):
        return
    if y == "the" and j + 1 < n and nt.gap(j, _SPACE_ANY):
        j, y = j + 1, w[j + 1]
    # a unit or building with a floor number: "to Quartermain 6", "on Smith 2"
    if x != "in" and not T.safe(y) and len(y) > 2 and _UNIT_NUMBER.match(nt.text, nt.e[j]):
        mark(places, j, 0.65, "unit_number")
        return
    # "transferred to X", "admitted to X" with X a word no table knows
    if x == "to" and y not in T.known and len(y) > 3 and i > 0 and w[i - 1] in _MOVED:
        mark(places, j, 0.6, "moved_to")
        return
    # hospital acronyms: "to XGH", "from ABMC"
    raw = nt.raw(j)
    if x != "on" and 2 <= len(raw) <= 5 and (raw.isupper() or len(raw) <= 3 and y not in T.known) and (
        y.endswith("h") or y.endswith("mc") or y.startswith("va")
    ):
        if y not in T.clinical and y not in T.english and y not in L.STOP:
            mark(places, j, 0.6, "hospital_acronym")
            return
    # "lives in X", "lives alone in X"
    if x in ("in", "to") and (i > 0 and w[i - 1] in _LIVES or i > 1 and w[i - 2] in _LIVES):
        if not T.safe(y) and len(y) > 2:
            mark(places, j, 0.6, "lives_in")
            if j + 1 < n and nt.gap(j, _SPACE2) and not T.safe(w[j + 1]):
                mark(places, j + 1, 0.6, "lives_in")

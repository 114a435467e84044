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
* places: :mod:`engine.deid.places` (facilities, units, towns, where someone lives or works);
* a word found once as a name or place is found everywhere in its note.

Work and memory are linear in the length of the note (each rule looks a bounded number of
words away).  Nothing here logs text.
"""
from __future__ import annotations

import functools
import re
from itertools import compress

from engine.deid import lexicon as L
from engine.deid import places
from engine.deid.entities import Hit
from engine.deid.marks import Marks
from engine.deid.places import title_case
from engine.deid.words import Words


#: between two words of one name: spaces, an initial's dot, nothing else
_NAME_GAP = re.compile(r"[ \t]{1,3}|\.[ \t]{0,2}|\.?,[ \t]{0,2}")
#: between a relative / role word and the name: ``wife, Mary``, ``son (Rob)``, ``dtr- peggy``
_REL_GAP = re.compile(r"(?:'s)?[ \t]*[,:(\-\"]?[ \t]*(?:(?:is|named|who is)[ \t]+)?\"?")
_SPACES = re.compile(r"[ \t]{1,3}")
_ONE_SPACE = re.compile(r" ")
_SPACE2 = re.compile(r"[ \t]{1,2}")
_SPACE_ANY = re.compile(r"[ \t]+")
_EPONYM_NEXT = frozenset(
    "disease diseases syndrome sign signs scale score criteria test maneuver reflex catheter drain tube procedure "
    "repair fundoplication lymphoma sarcoma palsy phenomenon respirations".split()
)
_CRED_GAP = re.compile(r"[ \t]{1,3}|,[ \t]{0,2}")
_WEAK_TITLES = frozenset(("ms", "mr", "miss", "mister"))


_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


@functools.lru_cache(maxsize=1)
def _interest() -> frozenset[str]:
    """Words at which some rule starts (every other word is skipped with one set lookup)."""
    T = L.tables()
    return L.TITLES | L.RELATIVES | L.CREDENTIALS | L.AFTER_NAME | T.names | _LETTERS | places.triggers(T)


class Vocab:
    """The distinct words of a batch of notes, looked up once for the batch: the rule each
    word starts (most words start none), including the words no table knows that may name a
    unit (``Quartermain 2``)."""

    __slots__ = ("rules",)

    def __init__(self, words) -> None:
        T = L.tables()
        v = words if isinstance(words, (set, frozenset)) else set(words)
        units = places.unit_candidates(v.difference(T.known))
        rules = {x: places.unit_floor for x in units}
        for x in v.intersection(_interest()):
            r = _rule(x, T)
            if r is not None:
                rules[x] = r
        self.rules = rules


def _rule(x: str, T: L.Tables):
    """The rule that starts at the word ``x`` (a function of the note, the tables, the word's
    index and the marks), or ``None``."""
    if x in L.TITLES:
        return _title
    if x in L.RELATIVES:
        return _relative
    if x in T.names:
        return _lexicon
    if len(x) == 1:
        return _u if x == "u" else _initial
    if x in L.CREDENTIALS:
        return _credential
    if x in L.AFTER_NAME:
        return _after_name
    return places.rule(x, T)


def scan(text: str | Words, vocab: Vocab | None = None) -> list[Hit]:
    """Names and places found in ``text`` (a note or its :class:`~engine.deid.words.Words`;
    unsorted, may overlap); ``vocab``: the :class:`Vocab` of a batch holding the note."""
    if not text or isinstance(text, Words) and not text.text:
        return []
    T = L.tables()
    nt = text if isinstance(text, Words) else Words(text)
    if vocab is None:
        vocab = Vocab(nt.w)
    m = Marks()
    w = nt.w
    rules = vocab.rules
    # the words that start a rule are picked in C; each runs its rule
    for i in compress(range(nt.n), map(rules.__contains__, w)):
        rules[w[i]](nt, T, i, m)
    places.after_words(nt, T, m)
    m.settle()
    _propagate(nt, T, m)
    return m.spans(nt)


def _after_name(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """"X aware", "X notified"."""
    if i > 0 and nt.gap(i - 1, _SPACES) and _name_like(nt, T, i - 1) and len(nt.w[i - 1]) > 1:
        m.name(i - 1, 0.7, "after_name")


def _u(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """"U. Smith" (an initial) or "U of MD" (a university)."""
    _initial(nt, T, i, m)
    places.university(nt, T, i, m)


def _name_like(nt: Words, T: L.Tables, j: int) -> bool:
    x = nt.w[j]
    return x in T.names or x not in T.known and len(x) > 1 or nt.initial(j)


def _title(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """"Dr. Smith", "DR JONES", "Mrs. Haas", "Dr George Griffin", "Dr. X and Y aware", "dr green aware"."""
    w, n, x = nt.w, nt.n, nt.w[i]
    j = i + 1
    if j >= n or not nt.gap(i, _NAME_GAP) or L.title_stop(w[j]):
        return
    y = w[j]
    if not (
        x not in _WEAK_TITLES and (not nt.mixed or nt.text[nt.s[j]].isupper() or not T.safe(y))
        or y in T.names or y not in T.known and len(y) > 2
        or not T.safe(y) and (nt.text.startswith(".", nt.e[i]) or nt.text[nt.s[i] + 1].islower())
        # a word between a title and "aware" / "notified" is a name whatever it is
        or j + 1 < n and w[j + 1] in L.AFTER_NAME and nt.gap(j, _SPACES) and y not in T.clinical
    ):
        return
    m.name(j, 0.85, "title")
    k = j
    while k + 1 < n and k - j < 2 and nt.gap(k, _NAME_GAP) and _next_name(nt, T, k):
        k += 1
        m.name(k, 0.85, "title")
    if k + 2 < n and w[k + 1] == "and" and nt.gap(k, _SPACE_ANY) and not T.safe(w[k + 2]):
        m.name(k + 2, 0.8, "title_list")


def _relative(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """"wife mary", "dtr, Peggy", "son rob", "nurse leslie kiezulas", "lawyer (Wil Laberbera)"."""
    w, n = nt.w, nt.n
    j = i + 1
    if j >= n or not nt.gap(i, _REL_GAP) or w[j] in L.STOP or w[j] in L.RELATIVES:
        return
    y = w[j]
    if not (y in T.names or y in T.given or (y not in T.known and len(y) > 1)):
        return
    m.name(j, 0.8, "relative")
    k = j
    if k + 1 < n and nt.gap(k, _NAME_GAP) and _next_name(nt, T, k):
        k += 1
        m.name(k, 0.8, "relative")
    if k + 2 < n and w[k + 1] == "and" and (w[k + 2] in T.given or _name_like(nt, T, k + 2)) and w[k + 2] not in L.STOP:
        m.name(k + 2, 0.75, "relative_list")


def _lexicon(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """A name-table word that is no common word: a name anywhere, with its name-like neighbours."""
    w, n, x = nt.w, nt.n, nt.w[i]
    if i + 1 < n and w[i + 1] in _EPONYM_NEXT or len(x) < 3:  # "Wilson disease"; "NY", "WI"
        return
    m.name(i, 0.6, "lexicon")
    if i + 1 < n and nt.gap(i, _NAME_GAP) and _name_like(nt, T, i + 1) and _same_case(nt, i, i + 1) and (
        "." not in nt.text[nt.e[i] : nt.s[i + 1]]  # "Maine. Eschar": a sentence ends
    ):
        m.name(i + 1, 0.6, "lexicon")
    if i > 0 and nt.gap(i - 1, _NAME_GAP) and _same_case(nt, i, i - 1) and (
        _name_like(nt, T, i - 1) or w[i - 1] in T.given and not T.safe(w[i - 1])
    ):
        # across a dot only an initial joins ("E. Welsh"; not "I/Os. Anna")
        if nt.initial(i - 1) or "." not in nt.text[nt.e[i - 1] : nt.s[i]]:
            m.name(i - 1, 0.6, "lexicon")


def _same_case(nt: Words, i: int, k: int) -> bool:
    """In a mixed-case note, an all-caps neighbour of a word that is not all caps is an
    abbreviation ("Michael   MRN"), not the rest of the name."""
    if not nt.mixed:
        return True
    r = nt.raw(k)
    return len(r) < 2 or not r.isupper() or nt.raw(i).isupper()


def _initial(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """An initial before a name-like word: "E. WELSH", "B. Kargas"."""
    x, text, a = nt.w[i], nt.text, nt.s[i]
    if not text.startswith(".", a + 1) or x in "aios" or i + 1 >= nt.n or not nt.initial(i) or not nt.gap(i, _NAME_GAP):
        return
    if a and text[a - 1] not in " \t\n(\"-":
        return
    nxt = nt.raw(i + 1)
    y = nt.w[i + 1]
    if (y in T.names or y not in T.known or y in T.surnames and y not in T.clinical and y not in L.STOP) and (
        len(nxt) > 1 and nxt[0].isupper()
    ):
        m.name(i, 0.7, "initial")
        m.name(i + 1, 0.7, "initial")


def _credential(nt: Words, T: L.Tables, i: int, m: Marks) -> None:
    """"Herman W. Smith, RRT", "barbara j. jones bsn/rn"."""
    w, x = nt.w, nt.w[i]
    if i == 0 or not (nt.raw(i).isupper() or not nt.mixed or x not in ("md", "do", "pa")):
        return
    k, got = i - 1, 0
    while k >= 0 and got < 3 and nt.gap(k, _NAME_GAP if got else _CRED_GAP) and (
        _name_like(nt, T, k) and (len(w[k]) > 1 or got) or w[k] in T.given and not T.safe(w[k]) or len(w[k]) == 1 and got
    ):
        m.name(k, 0.7, "credential")
        k, got = k - 1, got + 1


def _next_name(nt: Words, T: L.Tables, k: int) -> bool:
    """After a title or relative: whether word ``k + 1`` continues the name that word ``k`` is part of
    ("Dr B Muse", "dr. john bowman", "dtr Frances Baker", "lawyer (Wil Laberbera)")."""
    y = nt.w[k + 1]
    if y in L.STOP or y in T.clinical or y in L.TITLES:
        return False
    if y in T.names or nt.initial(k + 1):
        return True
    if nt.initial(k) or nt.w[k] in T.given and (y in T.surnames or y not in T.known):
        return True
    # two capitalised words one space apart in a mixed-case note, the second one no table knows
    return (nt.mixed and not nt.lower and y not in T.known and nt.text[nt.s[k]].isupper() and nt.gap(k, _ONE_SPACE)
            and title_case(nt.raw(k + 1)))


def _propagate(nt: Words, T: L.Tables, m: Marks) -> None:
    """A word found as a name or place is found everywhere in the note ("Radu ... Radu")."""
    w = nt.w
    seen = {w[i]: ("PERSON", sc) for i, (sc, _) in m.names.items()}
    seen.update({w[i]: ("LOCATION", sc) for i, (sc, rule) in m.places.items()
                 if len(w[i]) > 2 or rule == "hospital_acronym"})
    seen = {x: v for x, v in seen.items() if (len(x) > 2 or v[0] == "LOCATION") and not T.safe(x) and x not in L.TITLES}
    if not seen:
        return
    for i in compress(range(nt.n), map(seen.__contains__, w)):
        if i not in m.names and i not in m.places:
            ent, sc = seen[w[i]]
            (m.name if ent == "PERSON" else m.place)(i, min(sc, 0.6), "same_word")

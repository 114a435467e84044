"""Where each pattern of :mod:`engine.deid.patterns` may match: its anchors in a note, found
from the note's words (:mod:`engine.deid.words`) instead of one text search per anchor.

A pattern's anchors are strings (``Dr``, ``MRN``, ``Patient``, ``y/o``, ``@``, ``.com``...) or a
regex (the digit shapes).  An occurrence of a string anchor counts where the anchor starts a
word (no letter or digit right before it) and, for a *whole* anchor, no letter follows it;
string anchors are case-exact (``Patient`` and ``patient`` are two anchors).

* Anchors that start with a letter are looked up by the word they start: each distinct
  lower-case word is classified once (cached across notes) into the (pattern, anchor) pairs
  it may begin, at its start or after a hyphen or apostrophe inside it; the exact anchor
  string is then checked at those few places only.  One dictionary lookup a word.
* Anchors that start with another character (``@``, ``://``, ``.com``) are found with
  ``str.find`` (after a substring test), and regex anchors with their regex (shared between
  patterns).

The result is the same set of occurrences as searching the text for every anchor, at a cost
linear in the number of words.
"""
from __future__ import annotations

import re
from collections import defaultdict
from itertools import compress
from typing import NamedTuple

from engine.deid.words import Words

_LEAD = re.compile(r"[A-Za-z]+")
_SUBPART = re.compile(r"[-']")
#: classified words kept (cleared when full: notes bring typos and numbers without end)
_MEMO_MAX = 300_000


class Anchors(NamedTuple):
    """One set of anchors: strings (case-exact unless ``nocase``) or a regex.

    ``whole``: no letter may follow the anchor; ``digit_before``: the anchor may follow a
    digit (it must never follow a letter)."""

    strings: tuple[str, ...] | re.Pattern
    whole: bool = False
    nocase: bool = False
    digit_before: bool = False


def of_pattern(pat) -> Anchors | None:
    """The anchors of a :class:`~engine.deid.patterns.PhiPattern` (``None``: it has none)."""
    return Anchors(pat.anchors, pat.whole) if pat.mode else None


class AnchorIndex:
    """Occurrences of anchor sets in a note: ``find(words)`` gives, per set (by position in
    ``sets``), the sorted start offsets of its anchors, or ``None`` for a ``None`` set."""

    def __init__(self, sets) -> None:
        self.sets = list(sets)
        #: lower-case letters an anchor starts with -> [(set id, letters only, variants, whole, nocase, digit ok)]
        self._by_lead: dict[str, list] = defaultdict(list)
        symbols: dict[str, list[int]] = defaultdict(list)
        self._regex: list[tuple[int, re.Pattern]] = []
        for pid, a_set in enumerate(self.sets):
            if a_set is None:
                continue
            if isinstance(a_set.strings, re.Pattern):
                self._regex.append((pid, a_set.strings))
                continue
            groups: dict[str, list[str]] = defaultdict(list)
            for a in a_set.strings:
                m = _LEAD.match(a)
                if m is None:
                    symbols[a].append(pid)
                else:
                    groups[a.lower()].append(a.lower() if a_set.nocase else a)
            for low, variants in groups.items():
                lead = _LEAD.match(low).group()
                entry = (pid, lead == low, tuple(dict.fromkeys(variants)), a_set.whole, a_set.nocase, a_set.digit_before)
                self._by_lead[lead].append(entry)
        self._leads = sorted({len(k) for k in self._by_lead})
        self._symbol_pids = dict(symbols)
        self._memo: dict[str, tuple] = {}
        #: spelling of a word -> the anchors it begins (see :meth:`_confirm`)
        self._raw: dict[str, tuple] = {}

    # -- classification of one word ----------------------------------------------------------------
    def _classify(self, x: str) -> tuple:
        """(offset in the word, pattern id, variants, whole) for each anchor the word may begin."""
        out = []
        offsets = [0] + [m.end() for m in _SUBPART.finditer(x)]
        for o in offsets:
            k = o
            while k < len(x) and x[k] not in "-'":
                k += 1
            run = x[o:k]
            for n in self._leads:
                if n > len(run):
                    break
                for pid, letters_only, variants, whole, nocase, digit_ok in self._by_lead.get(run[:n], ()):
                    # an anchor of letters only is a prefix of the run (the whole run when no
                    # letter may follow it); one with a non-letter after its letters (``y/o``,
                    # ``M.D``, ``co-signed``) needs the run to end there
                    if n == len(run) or letters_only and not whole:
                        out.append((o, pid, variants, whole, nocase, digit_ok))
        return tuple(out)

    def _confirm(self, raw: str, x: str) -> tuple:
        """Of the anchors the lower-case word ``x`` may begin, those its spelling ``raw`` begins:
        (offset, set id, anchor, whole, nocase, digit ok, whether the anchor runs past the word)."""
        out = []
        for o, pid, variants, whole, nocase, digit_ok in self._memo[x]:
            src = x if nocase else raw
            rest = src[o:]
            for v in variants:
                if rest.startswith(v):
                    out.append((o, pid, v, whole, nocase, digit_ok, False))
                    break
                if len(v) > len(rest) and v.startswith(rest):
                    out.append((o, pid, v, whole, nocase, digit_ok, True))
                    break
        return tuple(out)

    # -- a batch of notes ----------------------------------------------------------------------------
    def prepare(self, vocab: set[str]) -> frozenset[str]:
        """Classify the distinct words of a batch of notes (those not seen before); the words
        that may begin an anchor (pass them to :meth:`find` for each note of the batch)."""
        memo = self._memo
        missing = vocab.difference(memo)
        if missing:
            if len(memo) + len(missing) > _MEMO_MAX:
                memo.clear()
                self._raw.clear()
                missing = vocab
            for x in missing:
                memo[x] = self._classify(x)
        return frozenset(x for x in vocab if memo[x])

    # -- one note ------------------------------------------------------------------------------------
    def find(self, nw: Words, active: frozenset[str] | None = None) -> list[list[int] | None]:
        """Per anchor set, the sorted offsets of its anchors in the note (``active``: what
        :meth:`prepare` returned for a batch holding this note)."""
        text = nw.text
        low = nw.low
        found: list[list[int] | None] = [None if a is None else [] for a in self.sets]
        if active is None:
            active = self.prepare(set(nw.w))
        w = nw.w
        starts = nw.s
        raw_memo = self._raw
        # only the words that may begin an anchor, picked in C; then the anchors their exact
        # spelling begins (cached by spelling), checked in the text only past the word
        for i in compress(range(nw.n), map(active.__contains__, w)):
            base = starts[i]
            r = text[base : base + len(w[i])]
            hits = raw_memo.get(r)
            if hits is None:
                if len(raw_memo) > _MEMO_MAX:
                    raw_memo.clear()
                hits = raw_memo[r] = self._confirm(r, w[i])
            for o, pid, v, whole, nocase, digit_ok, tail in hits:
                p = base + o
                if p > 0 and (text[p - 1].isalpha() or not digit_ok and text[p - 1].isalnum()):
                    continue
                if tail and not (low if nocase else text).startswith(v, p):
                    continue
                j = p + len(v)
                if whole and j < len(text) and text[j].isalpha() and v[-1].isalnum():
                    continue
                lst = found[pid]
                if not lst or lst[-1] != p:
                    lst.append(p)
        # symbol anchors: a substring test each (in C), a search only for those present
        touched = set()
        for a, pids in self._symbol_pids.items():
            if a in text:
                i = text.find(a)
                while i >= 0:
                    for pid in pids:
                        found[pid].append(i)
                    i = text.find(a, i + 1)
                touched.update(pids)
        for pid in touched:  # after the word anchors of the same pattern
            found[pid] = sorted(set(found[pid]))
        shared: dict[int, list[int]] = {}
        for pid, rx in self._regex:
            key = id(rx)
            if key not in shared:
                shared[key] = [m.start() for m in rx.finditer(text)]
            found[pid] = shared[key]
        return found

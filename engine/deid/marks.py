"""What the note scanners found, word by word, and how found words become spans.

A scanner marks words of a note (:class:`~engine.deid.words.Words` indices) as part of a name
or a place, each with a score and the rule that found it; :meth:`Marks.spans` joins runs of
marked words that only spaces, dots or hyphens separate ("Deborah Haddad", "E. Welsh",
"Sacred Heart") into one :class:`engine.deid.entities.Hit` span with the run's best score.
"""
from __future__ import annotations

import re

from engine.deid.entities import LOCATION, PERSON, Hit
from engine.deid.words import Words

_JOIN = re.compile(r"[ \t]{1,3}|\.[ \t]{0,2}|[ \t]*-[ \t]*")


class Marks:
    """Word index -> (score, rule), for names and for places; a higher score replaces a lower."""

    __slots__ = ("names", "places")

    def __init__(self) -> None:
        self.names: dict[int, tuple[float, str]] = {}
        self.places: dict[int, tuple[float, str]] = {}

    def name(self, i: int, score: float, rule: str) -> None:
        d = self.names
        if i not in d or d[i][0] < score:
            d[i] = (score, rule)

    def place(self, i: int, score: float, rule: str) -> None:
        d = self.places
        if i not in d or d[i][0] < score:
            d[i] = (score, rule)

    def settle(self) -> None:
        """A word marked both ways: a facility's name (scored 0.7+) keeps a word that only the
        name tables say is a name ("Frederick Memorial"); any other name mark wins."""
        for i, (sc, _) in list(self.names.items()):
            p = self.places.get(i)
            if p is None:
                continue
            if p[0] >= 0.7 and sc <= 0.6:
                del self.names[i]
            else:
                del self.places[i]

    def spans(self, nt: Words) -> list[Hit]:
        return _merge(nt, self.names, PERSON) + _merge(nt, self.places, LOCATION)


def _merge(nt: Words, found: dict, entity: str) -> list[Hit]:
    out: list[Hit] = []
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


def _run(nt: Words, run: list[int], found: dict, entity: str) -> Hit:
    sc, rule = max(found[i] for i in run)
    return Hit(nt.s[run[0]], nt.e[run[-1]], entity, sc, rule)

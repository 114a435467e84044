"""The shared word split and the anchor index of the de-id scanners, against plain references."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.deid import patterns as P
from engine.deid.anchors import AnchorIndex, of_pattern
from engine.deid.evaluate import read_gold
from engine.deid.words import Words, ascii_lower, split

GOLD = Path(__file__).resolve().parent / "data" / "deid" / "gold.jsonl"
WORD = re.compile(r"[a-z]+(?:'[a-z][a-z]+|-[a-z]+)*")
TRICKY = [
    "o'neil son-in-law pt's a'bc'd a--b x-'ab MRN-x-y-z é-a ü'ab ab'cd 'tis",
    "Ärzte café-bar naïve d'état İstanbul K-9 \ud800 lone surrogate",
    "Dr.Smith,MD;DR-JONES/RN 2Dr x@y.com http://a.b y/o 85yo M.D. Ph.D co-signed Co-Signed",
    "",
    "-'-",
]


def _texts():
    return TRICKY + [d["text"] for d in read_gold(str(GOLD))[:60]]


@pytest.mark.parametrize("text", TRICKY)
def test_ascii_lower_keeps_offsets(text):
    low = ascii_lower(text)
    assert len(low) == len(text)
    assert all(a == b or ("A" <= a <= "Z" and b == a.lower()) for a, b in zip(text, low))


def test_words_match_the_regex():
    texts = _texts()
    for t in texts:
        nw = Words(t)
        low = ascii_lower(t)
        assert nw.w == WORD.findall(low) and nw.s == [m.start() for m in WORD.finditer(low)]
    joined = "\n".join(texts)
    bounds, o = [], 0
    for t in texts:
        bounds.append(o)
        o += len(t) + 1
    for t, nw in zip(texts, split(joined, bounds)):
        assert nw.text == t and nw.w == Words(t).w and nw.s == Words(t).s


def _reference(text: str, anchors, whole: bool) -> list[int]:
    """Every occurrence of every anchor string that starts a word (and ends one when ``whole``)."""
    if isinstance(anchors, re.Pattern):
        return [m.start() for m in anchors.finditer(text)]
    found = set()
    for a in anchors:
        i = text.find(a)
        while i >= 0:
            if P.anchor_at(text, i, a, whole):
                found.add(i)
            i = text.find(a, i + 1)
    return sorted(found)


def test_anchor_index_finds_what_a_search_for_each_anchor_finds():
    pats = [p for p in P.PATTERNS if p.mode]
    index = AnchorIndex([of_pattern(p) for p in pats])
    for t in _texts():
        got = index.find(Words(t))
        for p, occ in zip(pats, got):
            assert occ == _reference(t, p.anchors, p.whole), (p.name, t[:80])

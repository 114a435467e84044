"""The words of a note, found once and shared by every scanner (names, places, dates, patterns).

A *word* is what ``[a-z]+(?:'[a-z][a-z]+|-[a-z]+)*`` matches in the ASCII-lower-cased text:
letters, with ``o'neil`` and ``son-in-law`` kept whole (``pt's`` is ``pt`` and ``s``).
:func:`split` finds the words of many notes at once with a few array operations over their
joined text (no per-character Python, no regex match objects): a batch of notes costs a
handful of numpy calls plus one slice per word.

Offsets are characters of the note's text; lower-casing keeps them (ASCII letters only).
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np



def ascii_lower(text: str) -> str:
    """``text`` with A-Z lower-cased and every other character kept: same length, same offsets
    (``str.lower`` changes the length of some non-ASCII text)."""
    if text.isascii():
        return text.lower()
    c = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    c[(c >= 65) & (c <= 90)] += 32
    return c.tobytes().decode("utf-32-le", "surrogatepass")


_CAPS = re.compile(r"[A-Z]")


class _Ends:
    """End offsets of the words, computed on demand (most words are never looked at twice)."""

    __slots__ = ("s", "w")

    def __init__(self, s: list[int], w: list[str]) -> None:
        self.s, self.w = s, w

    def __getitem__(self, i: int) -> int:
        return self.s[i] + len(self.w[i])

    def __len__(self) -> int:
        return len(self.s)


class Words:
    """One note: its text, lower-cased text, words (lower case) and their start offsets."""

    __slots__ = ("text", "low", "w", "s", "e", "n", "mixed", "_lower")

    def __init__(self, text: str, low: str | None = None, w: list[str] | None = None, s: list[int] | None = None):
        self.text = text
        self.low = ascii_lower(text) if low is None else low
        if w is None:
            w, s = _words(self.low)
        self.w, self.s, self.n = w, s, len(w)
        self.e = _Ends(s, w)
        # mixed case, not an all-caps note: lower-case vowels are 8%+ of the text
        self.mixed = sum(map(text.count, "aeiou")) * 12 > len(text)
        self._lower: bool | None = None

    @property
    def lower(self) -> bool:
        """A lower-case note: under 2% of its letters are capitals (so a capital says nothing)."""
        if self._lower is None:
            letters = sum(map(len, self.w))  # the letters of the words (and their few hyphens)
            self._lower = self.mixed and len(_CAPS.findall(self.text)) * 50 < letters
        return self._lower

    def gap(self, i: int, rx: re.Pattern) -> bool:
        """Whether the text between word ``i`` and word ``i + 1`` is what ``rx`` allows."""
        if i < 0 or i + 1 >= self.n:
            return False
        return rx.fullmatch(self.text, self.s[i] + len(self.w[i]), self.s[i + 1]) is not None

    def raw(self, i: int) -> str:
        a = self.s[i]
        return self.text[a : a + len(self.w[i])]

    def initial(self, i: int) -> bool:
        """A capital letter alone, not the start of "M.D." / "R.N." """
        if len(self.w[i]) != 1 or not self.text[self.s[i]].isupper():
            return False
        k = self.s[i] + 1
        t = self.text
        return not (t.startswith(".", k) and k + 1 < len(t) and t[k + 1].isalpha())


def _codes(low: str) -> np.ndarray:
    """The characters of ``low`` as an integer array, one element a character."""
    if low.isascii():
        return np.frombuffer(low.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _bounds(low: str, as_list: bool = True):
    """Start and end offsets of the words of ``low`` (see the module docstring): lists, or
    integer arrays when not ``as_list``."""
    c = _codes(low)
    n = len(c)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return ([], []) if as_list else (e, e)
    letter = (c >= 97) & (c <= 122)
    # a hyphen joins two letters; an apostrophe joins a letter to two more letters
    prev = np.zeros(n, dtype=bool)
    prev[1:] = letter[:-1]
    nxt = np.zeros(n, dtype=bool)
    nxt[:-1] = letter[1:]
    joined = letter | ((c == 45) & prev & nxt)
    apo = c == 39
    if apo.any():
        nxt2 = np.zeros(n, dtype=bool)
        nxt2[:-2] = letter[2:]
        joined |= apo & prev & nxt & nxt2
    edge = np.diff(joined.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    st, en = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    return (st.tolist(), en.tolist()) if as_list else (st, en)


def _words(low: str) -> tuple[list[str], list[int]]:
    starts, ends = _bounds(low)
    return [low[a:b] for a, b in zip(starts, ends)], starts


def split(text: str, bounds: Sequence[int]) -> list[Words]:
    """The notes of a joined text, each as :class:`Words` with offsets relative to the note.

    ``bounds`` are the start offsets of the notes in ``text``; each note ends one character
    (the separator) before the next one starts, the last one at the end of ``text``.  The
    separator must not be a letter, hyphen or apostrophe (so no word crosses two notes).
    """
    low = ascii_lower(text)
    st, en = _bounds(low, as_list=False)
    words = [low[a:b] for a, b in zip(st.tolist(), en.tolist())]
    # word offsets relative to their note
    b_arr = np.asarray(bounds, dtype=np.int64)
    note_of = np.searchsorted(b_arr, st, side="right") - 1
    rel = (st - b_arr[note_of]).tolist() if len(bounds) > 1 else st.tolist()
    cuts = np.searchsorted(note_of, np.arange(len(bounds) + 1), side="left").tolist()
    out: list[Words] = []
    nb = len(bounds)
    for j, a in enumerate(bounds):
        b = bounds[j + 1] - 1 if j + 1 < nb else len(text)
        k, k2 = cuts[j], cuts[j + 1]
        out.append(Words(text[a:b], low[a:b], words[k:k2], rel[k:k2]))
    return out

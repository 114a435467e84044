"""Running the patterns of :mod:`engine.deid.patterns` over a note.

Each pattern's regex runs only where its anchors are (:mod:`engine.deid.anchors`): matched at
each anchor (``start`` patterns, which begin with their keyword) or searched in a short
stretch of the line around the anchors (``near`` patterns); patterns without anchors search
the whole note.  The span reported is the pattern's ``phi`` group; a match that fails its
validator is retried one character later; person names are split into lists and trimmed of
stop words and titles.
"""
from __future__ import annotations

import re
from typing import Sequence

from engine.deid import checks as C
from engine.deid import entities as E
from engine.deid import patterns as P
from engine.deid.words import Words

_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+)?|\s+and\s+|&|/|;)\s*|\s+(?=(?:Dr|Mr|Mrs|Ms)\.?\s)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*\.?|\[\*\*[^\]\n]{0,120}?\*\*\]|_{3,}")
_CRED = re.compile(P._CREDENTIAL)


def _trim_name(text: str, s: int, e: int) -> tuple[int, int] | None:
    """Drop leading/trailing stop words and titles from a name span; None when nothing is left."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, s, e)]

    def stop(w):
        t = text[w[0]:w[1]].rstrip(".").lower()
        return t in C.STOP_WORDS or t in ("dr", "mr", "mrs", "ms")
    while words and stop(words[0]):
        words.pop(0)
    while words and stop(words[-1]):
        words.pop()
    if not words:
        return None
    cred = _CRED.match(text, words[0][0])
    if cred and cred.end() >= words[-1][1]:  # "Smith, M.D." -> not a second name
        return None
    if text[words[0][0]] in "[_X" and E.PLACEHOLDER.match(text, words[0][0]):
        return None
    s, e = words[0][0], words[-1][1]
    # a trailing initial keeps its dot; a trailing sentence dot after a word does not
    if text[e - 1] == "." and e - s > 2 and text[e - 3] != " ":
        e -= 1
    return s, e


#: how far a region is widened to the next whitespace (bounded: linear on lines without spaces)
_WIDEN = 64


def _regions(text: str, starts: list[int], left: int, right: int, pos: int, n: int) -> list[list[int]]:
    """Merged stretches of the line around each anchor, widened to whitespace.

    Linear in the text: the anchors are sorted, so each line's start and end are searched for
    once (not once per anchor: a 600 KB line of digit shapes has ~10^5 anchors), and an anchor
    whose stretch overlaps the current one only moves its end.
    """
    out: list[list[int]] = []
    find, rfind = text.find, text.rfind
    ls, le, prev = pos, -1, pos
    cur_b = cur_le = -1  # current stretch: raw end (before widening) and its line's end

    def widen_right(b: int, le: int) -> int:
        if b >= le:
            return le
        hi = min(le, b + _WIDEN)
        ks = [k for k in (find(" ", b, hi), find("\t", b, hi)) if k >= 0]
        return min(ks) if ks else hi

    for p in starts:
        if p >= le:  # a new line (or the first anchor): search only the text since the last anchor
            k = rfind("\n", prev, p)
            if k >= 0:
                ls = k + 1
            le = find("\n", p, n)
            if le < 0:
                le = n
        prev = p
        a, b = max(ls, p - left), min(le, p + right + 8)
        if out and a <= cur_b:  # overlaps the current stretch
            if b > cur_b:
                cur_b, cur_le = b, le
            continue
        if a > ls:
            lo = max(ls, a - _WIDEN)
            k = max(rfind(" ", lo, a), rfind("\t", lo, a))
            a = k + 1 if k >= 0 else lo
        if out:
            out[-1][1] = widen_right(cur_b, cur_le)
            if a <= out[-1][1]:
                cur_b, cur_le = max(cur_b, b), le
                continue
        out.append([a, b])
        cur_b, cur_le = b, le
    if out:
        out[-1][1] = max(out[-1][1], widen_right(cur_b, cur_le))
    return out


def _matches(pat: P.PhiPattern, text: str, pos: int, n: int, occ: list[int] | None):
    """Candidate regex matches of ``pat`` (before validation), in order, non-overlapping;
    ``occ``: the sorted offsets of the pattern's anchors (``None``: search the whole text)."""
    rx = pat.regex
    if pat.mode == "start":
        last = -1
        for p in occ:
            if p < last:
                continue
            m = rx.match(text, p, n)
            if m is not None:
                ok = yield m
                if ok:
                    last = m.end()
        return
    if pat.mode == "near":
        if pat.before is not None:
            occ = [p for p in occ if pat.before.search(text, max(pos, p - 8), p)]
        if not occ:
            return
        stretches = _regions(text, occ, pat.reach[0], pat.reach[1], pos, n)
    else:
        stretches = [[pos, n]]
    for a, b in stretches:
        p = a
        while p <= b:
            m = rx.search(text, p, b)
            if m is None:
                break
            ok = yield m
            p = m.end() if ok and m.end() > m.start() else m.start() + 1


def spans(pat: P.PhiPattern, text: str, occ: list[int] | None, pos: int = 0, endpos: int | None = None):
    """(start, end) of each PHI span ``pat`` finds in ``text[pos:endpos]`` (``occ``: its anchors).

    A match that fails validation is retried one character later, so a context word
    consumed by a rejected match (``Patient Name: ...``) still anchors the next one.
    """
    n = len(text) if endpos is None else endpos
    gen = _matches(pat, text, pos, n, occ)
    try:
        m = next(gen)
    except StopIteration:
        return
    while True:
        ok = True
        if pat.left is not None and m.start() > 0 and pat.left.match(text, m.start() - 1):
            ok = False
        elif pat.validate is not None and not pat.validate(m):
            ok = False
        if ok:
            s, e = C.phi_span(m)
            if pat.entity == P.PERSON:
                parts = [(s, e)]
                if pat.split_list:
                    parts, last = [], s
                    for sm in _SPLIT.finditer(text, s, e):
                        if sm.start() > last:
                            parts.append((last, sm.start()))
                        last = sm.end()
                    if last < e:
                        parts.append((last, e))
                for ps, pe in parts:
                    t = _trim_name(text, ps, pe)
                    if t is not None:
                        yield t
            elif e > s:
                yield s, e
        try:
            m = gen.send(ok)
        except StopIteration:
            return


def patterns_for(entities=None) -> tuple[P.PhiPattern, ...]:
    """The patterns that find one of ``entities`` (all when ``None``)."""
    return tuple(p for p in P.PATTERNS if entities is None or p.entity in entities)


def scan(nw: Words, pats: Sequence[P.PhiPattern], occ: Sequence[list[int] | None]) -> list[tuple[int, int, str, float, str]]:
    """``(start, end, entity, score, pattern name)`` of every PHI span ``pats`` find in a note;
    ``occ``: each pattern's anchor offsets (:meth:`engine.deid.anchors.AnchorIndex.find` over
    ``[of_pattern(p) for p in pats]``)."""
    out = []
    text = nw.text
    for pat, o in zip(pats, occ):
        if o is not None and not o:
            continue
        for s, e in spans(pat, text, o):
            out.append((s, e, pat.entity, pat.score, pat.name))
    return out

"""presidio recognizers for clinical PHI, built from :mod:`engine.deid.patterns`.

presidio's ``PatternRecognizer`` reports the whole regex match; clinical identifiers need
their context inside the pattern (``MRN: 1234567``, ``Dr. Smith``) with only a part of the
match being PHI, so :class:`ClinicalPatternRecognizer` reports the ``phi`` group, runs a
validator, splits name lists, and trims stop words off names.  It needs no NLP artifacts,
which lets the stage skip spaCy tokenization of whole notes when the pipeline has no NER.
"""
from __future__ import annotations

import re

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult

from engine.deid import patterns as P

_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+)?|\s+and\s+|&|/|;)\s*|\s+(?=(?:Dr|Mr|Mrs|Ms)\.?\s)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*\.?|\[\*\*[^\]\n]{0,120}?\*\*\]|_{3,}")
_CRED = re.compile(P._CREDENTIAL)


def _trim_name(text: str, s: int, e: int) -> tuple[int, int] | None:
    """Drop leading/trailing stop words and titles from a name span; None when nothing is left."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, s, e)]

    def stop(w):
        t = text[w[0]:w[1]].rstrip(".").lower()
        return t in P.STOP_WORDS or t in ("dr", "mr", "mrs", "ms")
    while words and stop(words[0]):
        words.pop(0)
    while words and stop(words[-1]):
        words.pop()
    if not words:
        return None
    cred = _CRED.match(text, words[0][0])
    if cred and cred.end() >= words[-1][1]:  # "Smith, M.D." -> not a second name
        return None
    if text[words[0][0]] in "[_X" and P.PLACEHOLDER.match(text, words[0][0]):
        return None
    s, e = words[0][0], words[-1][1]
    # a trailing initial keeps its dot; a trailing sentence dot after a word does not
    if text[e - 1] == "." and e - s > 2 and text[e - 3] != " ":
        e -= 1
    return s, e


class ClinicalPatternRecognizer(EntityRecognizer):
    """One presidio recognizer per entity type, over the :data:`~engine.deid.patterns.PATTERNS`
    of that type."""

    def __init__(self, entity: str, patterns: list[P.PhiPattern]):
        self.phi_patterns = list(patterns)
        super().__init__(
            supported_entities=[entity],
            name=f"Clinical{entity.title().replace('_', '')}Recognizer",
            supported_language="en",
            version="1",
            context=None,
        )

    def load(self) -> None:  # patterns are compiled at import
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        out: list[RecognizerResult] = []
        for pat in self.phi_patterns:
            for s, e in spans(pat, text):
                out.append(
                    RecognizerResult(
                        pat.entity,
                        s,
                        e,
                        pat.score,
                        analysis_explanation=AnalysisExplanation(
                            recognizer=self.name, original_score=pat.score, pattern_name=pat.name
                        ),
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                            "pattern": pat.name,
                        },
                    )
                )
        return out


#: (anchor regex id, pos, end) -> (text, offsets): recognizers sharing an anchor regex
#: (the digit patterns) scan each text once; holds at most a few recent texts
_RX_CACHE: dict[tuple[int, int, int], tuple[str, list[int]]] = {}


def _occurrences(text: str, anchors, pos: int, n: int, whole: bool = False) -> list[int]:
    """Sorted start offsets of the anchors in ``text[pos:n]`` (word anchors at a word start).

    ``str.find`` runs in C: this is the pre-screen inside each recognizer.
    """
    if isinstance(anchors, re.Pattern):
        key = (id(anchors), pos, n)
        hit = _RX_CACHE.get(key)
        if hit is not None and hit[0] is text:
            return hit[1]
        found = [m.start() for m in anchors.finditer(text, pos, n)]
        if len(_RX_CACHE) > 8:
            _RX_CACHE.clear()
        _RX_CACHE[key] = (text, found)
        return found
    found: set[int] = set()
    find = text.find
    for a in anchors:
        i = find(a, pos, n)
        while i >= 0:
            if P.anchor_at(text, i, a, whole):
                found.add(i)
            i = find(a, i + 1, n)
    return sorted(found)


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


def _matches(pat: P.PhiPattern, text: str, pos: int, n: int):
    """Candidate regex matches of ``pat`` (before validation), in order, non-overlapping."""
    rx = pat.regex
    if pat.mode == "start":
        last = -1
        for p in _occurrences(text, pat.anchors, pos, n, pat.whole):
            if p < last:
                continue
            m = rx.match(text, p, n)
            if m is not None:
                ok = yield m
                if ok:
                    last = m.end()
        return
    if pat.mode == "near":
        occ = _occurrences(text, pat.anchors, pos, n, pat.whole)
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


def spans(pat: P.PhiPattern, text: str, pos: int = 0, endpos: int | None = None):
    """(start, end) of each PHI span ``pat`` finds in ``text[pos:endpos]``.

    A match that fails validation is retried one character later, so a context word
    consumed by a rejected match (``Patient Name: ...``) still anchors the next one.
    """
    n = len(text) if endpos is None else endpos
    gen = _matches(pat, text, pos, n)
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
            s, e = P.phi_span(m)
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


class NoteRecognizer(EntityRecognizer):
    """Names, places, dates and phones as real notes write them: :func:`engine.deid.notes.scan`
    (word tables and context) and :func:`engine.deid.note_dates.scan`.

    Both work per note (a name found once is found everywhere in its note), so when the
    engine joins several notes into one text it sets :attr:`bounds` (start offsets of the
    notes in the joined text) and each note is scanned on its own.
    """

    ENTITIES = (P.PERSON, P.LOCATION, P.DATE, P.PHONE)

    def __init__(self, entities=None):
        self.bounds: list[int] | None = None
        super().__init__(
            supported_entities=[e for e in self.ENTITIES if entities is None or e in entities],
            name="ClinicalNoteRecognizer",
            supported_language="en",
            version="1",
            context=None,
        )

    def load(self) -> None:  # tables are loaded on first use (engine.deid.lexicon.tables)
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        from engine.deid import note_dates, notes

        wanted = set(self.supported_entities) & set(entities or self.supported_entities)
        bounds = self.bounds or [0]
        out: list[RecognizerResult] = []
        for k, a in enumerate(bounds):
            b = bounds[k + 1] - 1 if k + 1 < len(bounds) else len(text)
            note = text[a:b] if (a, b) != (0, len(text)) else text
            for f in notes.scan(note) + note_dates.scan(note):
                if f.entity in wanted:
                    out.append(
                        RecognizerResult(
                            f.entity,
                            f.start + a,
                            f.end + a,
                            # a hair under the pattern scores: presidio keeps one of two equal results
                            # in set order, so an exact tie with a pattern hit would not be deterministic
                            f.score - 0.001,
                            analysis_explanation=AnalysisExplanation(
                                recognizer=self.name, original_score=f.score, pattern_name="note_" + f.rule
                            ),
                            recognition_metadata={
                                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                                "pattern": "note_" + f.rule,
                            },
                        )
                    )
        return out


def clinical_recognizers(entities=None, notes: bool = True) -> list[EntityRecognizer]:
    """One pattern recognizer per entity type, plus (``notes``) the :class:`NoteRecognizer`."""
    by_type: dict[str, list[P.PhiPattern]] = {}
    for pat in P.PATTERNS:
        if entities is None or pat.entity in entities:
            by_type.setdefault(pat.entity, []).append(pat)
    out: list[EntityRecognizer] = [ClinicalPatternRecognizer(ent, pats) for ent, pats in by_type.items()]
    if notes and (entities is None or set(entities) & set(NoteRecognizer.ENTITIES)):
        out.append(NoteRecognizer(entities))
    return out

"""presidio recognizers for clinical PHI, built from :mod:`engine.deid.patterns`.

presidio's ``PatternRecognizer`` reports the whole regex match; clinical identifiers need
their context inside the pattern (``MRN: 1234567``, ``Dr. Smith``) with only a part of the
match being PHI, so :class:`ClinicalPatternRecognizer` reports the ``phi`` group, runs a
validator, splits name lists, and trims stop words off names.  It needs no NLP artifacts,
which lets the stage run it on pre-screened windows without tokenizing whole notes.
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


def spans(pat: P.PhiPattern, text: str, pos: int = 0, endpos: int | None = None):
    """(start, end) of each PHI span ``pat`` finds in ``text[pos:endpos]``.

    A match that fails validation is retried one character later, so a context word
    consumed by a rejected match (``Patient Name: ...``) still anchors the next one.
    """
    rx = pat.regex
    n = len(text) if endpos is None else endpos
    while pos <= n:
        m = rx.search(text, pos, n)
        if m is None:
            return
        if pat.validate is not None and not pat.validate(m):
            pos = m.start() + 1
            continue
        s, e = P.phi_span(m)
        pos = m.end() if m.end() > m.start() else m.start() + 1
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


def clinical_recognizers(entities=None) -> list[ClinicalPatternRecognizer]:
    by_type: dict[str, list[P.PhiPattern]] = {}
    for pat in P.PATTERNS:
        if entities is None or pat.entity in entities:
            by_type.setdefault(pat.entity, []).append(pat)
    return [ClinicalPatternRecognizer(ent, pats) for ent, pats in by_type.items()]

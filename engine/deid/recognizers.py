"""The presidio recognizer for clinical PHI: :class:`ClinicalRecognizer`.

One presidio ``EntityRecognizer`` runs every way this package finds PHI, note by note: the
patterns of :mod:`engine.deid.patterns` (context inside the pattern, ``MRN: 1234567``,
``Dr. Smith``; :mod:`engine.deid.pattern_scan`) and, with ``notes``, the note scanners
(names and places from word tables and context, :mod:`engine.deid.notes`; dates and phones as
real notes write them, :mod:`engine.deid.note_dates`).  The words of each note are found
once (:mod:`engine.deid.words`) and the anchors of all of them in one pass over the words
(:mod:`engine.deid.anchors`).

It needs no NLP artifacts (nothing is tokenized by spaCy).  When the engine joins several
notes into one text it sets :attr:`ClinicalRecognizer.bounds` (start offsets of the notes in
the joined text) and each note is scanned on its own: a name found once in a note is found
everywhere in that note, never in the next one.
"""
from __future__ import annotations

from itertools import chain

from presidio_analyzer import EntityRecognizer, RecognizerResult

from engine.deid import note_dates, notes, pattern_scan
from engine.deid import patterns as P
from engine.deid.anchors import AnchorIndex, of_pattern
from engine.deid.words import split

#: what the note scanners find
NOTE_ENTITIES = (P.PERSON, P.LOCATION, P.DATE, P.PHONE)


class ClinicalRecognizer(EntityRecognizer):
    """Patterns and note scanners for ``entities`` (all of :data:`engine.deid.patterns.ENTITIES`
    when ``None``); ``notes=False`` runs the patterns only.

    Results carry ``recognition_metadata["pattern"]``: the pattern's name, or ``note_`` and the
    note scanner's rule.  Note-scanner scores sit 0.001 under their nominal value so that no
    note hit ties exactly with a pattern hit (ties would be broken by presidio's set order).
    """

    def __init__(self, entities=None, notes: bool = True) -> None:
        self.bounds: list[int] | None = None
        self.patterns = pattern_scan.patterns_for(entities)
        self.notes = notes and (entities is None or bool(set(entities) & set(NOTE_ENTITIES)))
        wanted = set(P.ENTITIES if entities is None else entities)
        self.note_entities = frozenset(wanted & set(NOTE_ENTITIES)) if self.notes else frozenset()
        sets = [of_pattern(p) for p in self.patterns] + (list(note_dates.ANCHORS) if self.notes else [])
        self.index = AnchorIndex(sets)
        supported = sorted({p.entity for p in self.patterns} | self.note_entities)
        super().__init__(
            supported_entities=supported,
            name="ClinicalRecognizer",
            supported_language="en",
            version="2",
            context=None,
        )

    def load(self) -> None:  # patterns are compiled at import, word tables load on first use
        pass

    def find(self, text: str, bounds: list[int] | None = None) -> list[tuple[int, int, str, float, str]]:
        """``(start, end, entity, score, rule)`` in ``text`` (notes starting at ``bounds``)."""
        out: list[tuple[int, int, str, float, str]] = []
        k = len(self.patterns)
        nws = split(text, bounds or [0])
        # the distinct words of the batch are looked up once
        vocab = set(chain.from_iterable(nw.w for nw in nws))
        active = self.index.prepare(vocab)
        nv = notes.Vocab(vocab) if self.notes else None
        # one kind of work at a time over all notes (each keeps its tables and regexes warm)
        occs = [self.index.find(nw, active) if nw.text else [] for nw in nws]
        per_note = [pattern_scan.scan(nw, self.patterns, occ[:k]) if nw.text else [] for nw, occ in zip(nws, occs)]
        if self.notes:
            wanted = self.note_entities
            for scanned in ([notes.scan(nw, nv) for nw in nws],
                            [note_dates.scan(nw, occ[k:]) if nw.text else [] for nw, occ in zip(nws, occs)]):
                for found, fs in zip(per_note, scanned):
                    found += [(f.start, f.end, f.entity, f.score - 0.001, "note_" + f.recognizer) for f in fs if f.entity in wanted]
        for a, found in zip(bounds or [0], per_note):
            out += [(s + a, e + a, ent, sc, r) for s, e, ent, sc, r in found] if a else found
        return out

    def analyze(self, text, entities, nlp_artifacts=None):
        wanted = set(self.supported_entities) & set(entities or self.supported_entities)
        meta_name, meta_id = RecognizerResult.RECOGNIZER_NAME_KEY, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        return [
            RecognizerResult(ent, s, e, sc, recognition_metadata={meta_name: self.name, meta_id: self.id, "pattern": rule})
            for s, e, ent, sc, rule in self.find(text, self.bounds)
            if ent in wanted
        ]


def clinical_recognizers(entities=None, notes: bool = True) -> list[EntityRecognizer]:
    """The recognizers to register with presidio for ``entities``: one :class:`ClinicalRecognizer`."""
    return [ClinicalRecognizer(entities, notes=notes)]

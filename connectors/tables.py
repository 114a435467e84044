"""Smaller clinical and case-report tables distributed as CSV (streamed by
:class:`connectors.csv_table.CsvConnector`: multi-line quoted fields, ragged rows quarantined).

* ``chexpert_plus``: CheXpert Plus ``df_chexpert_plus_240401.csv``: one row per *image* with
  ``path_to_image``, ``report`` and parsed ``section_*`` columns; a study's report repeats for
  every image: exact duplicates by design, left to exact dedup.  Id: path_to_image.  Only
  ``report`` and ``path_to_image`` are required.
* ``mtsamples``: the mtsamples.com scrape (``mtsamples.csv``): an unnamed index column,
  description, medical_specialty, sample_name, transcription, keywords.  Empty transcriptions
  are filtered by source rule.  The scrape turned the reports' line breaks into commas
  (``SUBJECTIVE:,  This ...``, ``... flaring up.,MEDICATIONS: , Her ...``, ``M-MODE: , ,1.  Left
  ...cm.,2.  Normal``): a comma after a heading colon, a comma glued between a sentence end and
  the next line, and commas left at the start of a line become the line breaks they replaced.
* ``aci_bench``: aci-bench ``data/challenge_data/*.csv``: header
  ``dataset,encounter_id,dialogue,note``, multi-line quoted dialogue / note.  Dialogue and note
  are two documents; ids ``<file stem>/<encounter_id>#dialogue|#note`` (encounter ids repeat
  across files).
* ``mts_dialog``: MTS-Dialog ``Main-Dataset/MTS-Dialog-TrainingSet.csv`` etc.: header
  ``ID,section_header,section_text,dialogue`` (``ID`` restarts in every split).  ``section_text``
  and ``dialogue`` are two documents; ids are file-scoped.
* ``pmc_patients``: PMC-Patients ``PMC-Patients.csv``: patient_id, patient_uid ("PMID-x"),
  PMID, file_path, title, patient, age, gender, relevant_articles, similar_patients.  Text
  ``patient``, id ``patient_uid``.  (The JSON of other releases has the same keys and can be
  read with ``connector: jsonl`` after conversion.)

Format references: docs/SOURCES.md.
"""
from __future__ import annotations

import re

from connectors._fixed import FileScopedIds, FixedOptions
from connectors.base import Doc
from connectors.csv_table import CsvConnector
from connectors.registry import register

_HEADING_COMMA = re.compile(r":[ \t]*,[ \t]*")
_GLUED_LINE = re.compile(r"(?<=[.?!)]),(?=[A-Z0-9(])")
_LEADING_COMMA = re.compile(r"^(?:[ \t]*,)+[ \t]*", re.M)


def mtsamples_lines(text: str) -> str:
    """The line breaks of an MTSamples transcription back from the commas the scrape left."""
    text = _HEADING_COMMA.sub(":\n", text)
    text = _GLUED_LINE.sub("\n", text)
    return _LEADING_COMMA.sub("", text)


@register("chexpert_plus")
class ChexpertPlusConnector(FixedOptions, CsvConnector):
    placeholder = None  # PHI was replaced by surrogates upstream, no placeholder token
    language = "en"
    defaults = {"text_field": "report", "id_field": "path_to_image", "meta_fields": ["split", "frontal_lateral"]}


@register("mtsamples")
class MtsamplesConnector(FixedOptions, CsvConnector):
    placeholder = None
    language = "en"
    defaults = {"text_field": "transcription", "id_field": "", "meta_fields": ["medical_specialty", "sample_name"]}

    def docs_from_record(self, rec: dict, fallback_id: str, location: str, path: str | None = None) -> list:
        # the first (index) column has an empty header name
        idx = rec.get("")
        if idx not in (None, "") and not self.options.get("id_field"):
            fallback_id = str(idx).strip()
        out = super().docs_from_record(rec, fallback_id, location, path)
        for d in out:
            if isinstance(d, Doc):
                d.text = mtsamples_lines(d.text)
        return out

    def filter_rule(self, rec: dict) -> str | None:
        if not str(rec.get("transcription") or "").strip():
            return "empty transcription"
        return super().filter_rule(rec)


@register("aci_bench")
class AciBenchConnector(FixedOptions, FileScopedIds, CsvConnector):
    placeholder = None  # synthetic encounters with fictitious names
    language = "en"
    defaults = {"text_field": ["dialogue", "note"], "id_field": "encounter_id", "meta_fields": ["dataset"]}


@register("mts_dialog")
class MtsDialogConnector(FixedOptions, FileScopedIds, CsvConnector):
    placeholder = None
    language = "en"
    defaults = {"text_field": ["section_text", "dialogue"], "id_field": "ID", "meta_fields": ["section_header"]}


@register("pmc_patients")
class PmcPatientsConnector(FixedOptions, CsvConnector):
    placeholder = None
    language = "en"
    defaults = {"text_field": "patient", "id_field": "patient_uid", "meta_fields": ["PMID", "gender"]}

"""Smaller clinical and case-report tables distributed as CSV (streamed by
:class:`connectors.csv_table.CsvConnector`: multi-line quoted fields, ragged rows quarantined).

Verified layouts (search tool; where a check found nothing it says so):

* ``chexpert_plus``: CheXpert Plus ``df_chexpert_plus_240401.csv`` (Stanford AIMI, arXiv
  2405.19538): one row per *image* with ``path_to_image``, ``report`` and the parsed
  ``section_*`` columns (section_findings, section_impression, section_history, ...);
  a study's report repeats for every image: exact duplicates by design, left to exact dedup.
  Id: path_to_image.  (Column names: the paper describes the parsed report sections; public
  code read with the search tool uses ``section_findings`` / ``section_impression`` /
  ``section_history`` / ``section_clinical_history`` / ``split``; the full column list of the
  release CSV was not available to the search tool, so only ``report`` and ``path_to_image``
  are required.)
* ``mtsamples``: the mtsamples.com scrape (Kaggle ``mtsamples.csv``): an unnamed index column,
  description, medical_specialty, sample_name, transcription, keywords.  Empty transcriptions
  are filtered by source rule.
* ``aci_bench``: aci-bench ``data/challenge_data/*.csv`` (train, valid, clinicalnlp_taskB_test1,
  ...): header ``dataset,encounter_id,dialogue,note`` (found verbatim in several public readers
  of "ACI-Bench's challenge CSVs", corpus ``code``), multi-line quoted dialogue / note.
  Dialogue and note are two documents; ids ``<file stem>/<encounter_id>#dialogue|#note``
  (encounter ids repeat across files).
* ``mts_dialog``: MTS-Dialog ``Main-Dataset/MTS-Dialog-TrainingSet.csv`` etc.: header
  ``ID,section_header,section_text,dialogue`` (corpus ``code``: readers and augmented copies
  quote it; training IDs 0-1200, validation 0-99, i.e. ``ID`` restarts in every split).
  ``section_text`` and ``dialogue`` are two documents; ids are file-scoped.
* ``pmc_patients``: PMC-Patients ``PMC-Patients.csv`` (HF zhengyun21/PMC-Patients dataset card,
  corpus ``docs``: patient_id "a continuous id", patient_uid "PMID-x", PMID, file_path, title,
  patient "patient summary", age as a list of (value, unit), gender M/F, relevant_articles,
  similar_patients; the CSV replaced the earlier JSON in April 2023; V2 (THUMedInfo) is JSON
  with the same keys and can be read with ``connector: jsonl`` after conversion).  Text
  ``patient``, id ``patient_uid``.
"""
from __future__ import annotations

from connectors._fixed import FileScopedIds, FixedOptions
from connectors.csv_table import CsvConnector
from connectors.registry import register


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
        return super().docs_from_record(rec, fallback_id, location, path)

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

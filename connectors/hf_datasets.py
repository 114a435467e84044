"""Sources distributed as JSON Lines or Parquet (Hugging Face datasets and PhysioNet JSONL).

* ``mednli`` (PhysioNet ``mednli/1.0.0``): ``mli_{train,dev,test}_v1.jsonl``, one pair per line
  with sentence1, sentence2, gold_label, pairID (plus SNLI-style parse fields).  Both sentences
  become documents (``<pairID>#sentence1`` / ``#sentence2``); a premise repeats in its three
  pairs (entailment / neutral / contradiction), so "unique sentences" is left to exact dedup,
  which counts the repeats.  Sentences come from MIMIC-III notes, so the MIMIC-III placeholder
  convention applies.
* ``asclepius_notes`` (``starmpcc/Asclepius-Synthetic-Clinical-Notes``, read from the Hub's
  parquet export ``default/train/*.parquet``): patient_id, note, question, answer, task; the
  same note repeats for each question of a patient.  The note is emitted once per patient_id
  (first row of the file); later rows of the same patient are counted as ``filtered`` ("source
  rule: note repeated for another question").  The seen-set is per work unit (file); a patient
  split across two parquet files is left to exact dedup.  (The uploaded CSV can be read with
  ``connector: csv`` and the same options.)
* ``augmented_clinical_notes`` (``AGBonnet/augmented-clinical-notes``,
  ``augmented_notes_30K.jsonl``): idx, note, full_note, conversation, summary.  Documents:
  full_note and conversation (``<idx>#full_note`` / ``#conversation``); ``note`` is the
  PMC-Patients text (source 14) and is not repeated here.
* ``clinical_guidelines`` (``epfl-llm/guidelines``, ``open_guidelines.jsonl``): id, source,
  title, clean_text, raw_text, url, overview.  Text clean_text (kept as distributed, including
  its Markdown-style headings), meta source + title.

Format references: docs/SOURCES.md.
"""
from __future__ import annotations

from typing import Iterator

from connectors._fixed import FixedOptions
from connectors.base import PLACEHOLDER_MIMIC_III, Drop, Record, WorkUnit
from connectors.jsonl import JsonlConnector
from connectors.parquet import ParquetConnector
from connectors.registry import register


@register("mednli")
class MednliConnector(FixedOptions, JsonlConnector):
    placeholder = PLACEHOLDER_MIMIC_III
    language = "en"
    defaults = {"text_field": ["sentence1", "sentence2"], "id_field": "pairID", "meta_fields": ["gold_label"]}


@register("asclepius_notes")
class AsclepiusNotesConnector(FixedOptions, ParquetConnector):
    placeholder = None  # synthetic notes
    language = "en"
    defaults = {"text_field": "note", "id_field": "patient_id", "meta_fields": []}

    def read(self, unit: WorkUnit) -> Iterator[Record]:
        self._seen: set[str] = set()
        yield from super().read(unit)

    def docs_from_record(self, rec: dict, fallback_id: str, location: str, path: str | None = None) -> list:
        pid = rec.get("patient_id")
        if pid not in (None, ""):
            if str(pid) in self._seen:
                row = fallback_id.rsplit(":", 1)[-1]
                return [Drop(self.doc_id(f"{pid}#row{row}"), "filtered",
                             "source rule: note repeated for another question of the same patient", location)]
            self._seen.add(str(pid))
        return super().docs_from_record(rec, fallback_id, location, path)


@register("augmented_clinical_notes")
class AugmentedClinicalNotesConnector(FixedOptions, JsonlConnector):
    placeholder = None
    language = "en"
    defaults = {"text_field": ["full_note", "conversation"], "id_field": "idx", "meta_fields": []}


@register("clinical_guidelines")
class ClinicalGuidelinesConnector(FixedOptions, JsonlConnector):
    placeholder = None
    language = "en"
    defaults = {"text_field": "clean_text", "id_field": "id", "meta_fields": ["source", "title"]}

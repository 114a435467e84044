"""MIMIC notes on PhysioNet: MIMIC-III ``NOTEEVENTS``, MIMIC-IV-Note ``discharge`` / ``radiology``
and the MIMIC-CXR free-text reports.

* MIMIC-III v1.4 ``NOTEEVENTS.csv.gz``: ROW_ID, SUBJECT_ID, HADM_ID, CHARTDATE, CHARTTIME,
  STORETIME, CATEGORY, DESCRIPTION, CGID, ISERROR, TEXT; rows with ISERROR = 1 (a note flagged
  as an error) are filtered.  TEXT holds multi-line quoted notes with ``[**...**]``
  de-identification placeholders.  Column names are matched case-insensitively by
  :class:`connectors.csv_table.CsvConnector` (header case differs between releases).
* MIMIC-IV-Note 2.2 ``note/discharge.csv.gz`` and ``note/radiology.csv.gz``: note_id, subject_id,
  hadm_id, note_type (``DS`` / ``AD``; ``RR`` / ``AR``), note_seq, charttime, storetime, text;
  de-identified spans are ``___``.  hadm_id may be empty in radiology (outpatient studies).
* MIMIC-CXR 2.0 ``mimic-cxr-reports.zip``: one report per study at
  ``files/pXX/pSUBJECT/sSTUDY.txt``; reports use ``___`` for de-identified spans.  Members are
  read from the zip through fsspec without unpacking.

Format references: docs/SOURCES.md.
"""
from __future__ import annotations

import os
import re

from connectors._fixed import FixedOptions
from connectors.base import PLACEHOLDER_MIMIC_III, PLACEHOLDER_MIMIC_IV, Record
from connectors.csv_table import CsvConnector
from connectors.registry import register
from connectors.text_files import TextFilesConnector


@register("mimic_iii_notes")
class MimicIIINotesConnector(FixedOptions, CsvConnector):
    """``NOTEEVENTS.csv(.gz)``: one document per row, id ``ROW_ID``; ISERROR=1 rows are filtered."""

    placeholder = PLACEHOLDER_MIMIC_III
    language = "en"
    defaults = {
        "text_field": "TEXT",
        "id_field": "ROW_ID",
        "meta_fields": ["category", "description", "chartdate", "hadm_id"],
    }

    def filter_rule(self, rec: dict) -> str | None:
        if str(rec.get("iserror") or "").strip() in ("1", "1.0"):
            return "ISERROR=1"
        return super().filter_rule(rec)


@register("mimic_iv_note")
class MimicIVNoteConnector(FixedOptions, CsvConnector):
    """MIMIC-IV-Note ``discharge.csv.gz`` / ``radiology.csv.gz``: id ``note_id``, meta note_type, charttime."""

    placeholder = PLACEHOLDER_MIMIC_IV
    language = "en"
    defaults = {
        "text_field": "text",
        "id_field": "note_id",
        "meta_fields": ["note_type", "charttime", "hadm_id"],
    }


_CXR = re.compile(r"(?:^|/)(p\d+)/(p\d+)/(s\d+)\.txt$")


@register("mimic_cxr_reports")
class MimicCxrReportsConnector(FixedOptions, TextFilesConnector):
    """``mimic-cxr-reports.zip`` (or the unpacked ``files/`` tree): id ``pSUBJECT/sSTUDY``."""

    placeholder = PLACEHOLDER_MIMIC_IV
    language = "en"
    defaults = {"pattern": "*.txt", "files_per_unit": 2048}

    def _doc(self, name: str, data, location: str) -> Record:
        rec = super()._doc(name, data, location)
        m = _CXR.search(name)
        local = f"{m.group(2)}/{m.group(3)}" if m else os.path.splitext(name)[0]
        rec.doc_id = self.doc_id(local)
        if getattr(rec, "meta", None) is not None and m:
            rec.meta.pop("file", None)
            rec.meta.update(subject_id=m.group(2)[1:], study_id=m.group(3)[1:])
        return rec

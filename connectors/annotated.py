"""Annotated clinical notes from the n2c2 (formerly i2b2) portal (DUA; never committed).

* ``n2c2_2018_ade`` (2018 n2c2 Track 2, medication and adverse drug event extraction): folders
  ``training_20180910/`` and ``test/`` of brat standoff pairs ``NNNNNN.txt`` (the note: MIMIC-III
  discharge summaries, so MIMIC-III ``[**...**]`` placeholders) + ``NNNNNN.ann`` (annotations:
  ``T1\tDrug 10 19\ttext`` lines).  The ``.txt`` is the document, id its path without ``.txt``.
  The ``.ann`` files are not pretraining text: each one the source's URI matches is counted
  as ``filtered`` ("source rule: brat .ann annotation file, not a document"), so the ledger
  shows how many there were; point the source at the folders (``*/*``) to have them counted.
  Notes overlap
  MIMIC-III NOTEEVENTS (cross-source duplicates, left to dedup).
* ``n2c2_2014_deid`` (2014 i2b2/UTHealth de-identification track): folders
  ``training-PHI-Gold-Set1/``, ``training-PHI-Gold-Set2/``, ``testing-PHI-Gold-fixed/`` of
  ``NNN-NN.xml`` files ``<deIdi2b2><TEXT><![CDATA[note]]></TEXT><TAGS><DATE id="P0"
  start="16" end="26" text="..." TYPE="DATE" comment=""/>...</TAGS></deIdi2b2>``.  The text
  carries realistic *surrogate* PHI (no placeholder convention): the manifest sets
  ``deid: redact``.  meta ``phi_tags`` = number of gold PHI tags, for the de-id report.

Format references: docs/SOURCES.md.
"""
from __future__ import annotations

from engine.core import fsio

import os
from typing import Iterator

from connectors._fixed import FixedOptions
from connectors._xmlutil import local, parse_xml
from connectors.base import PLACEHOLDER_MIMIC_III, Drop, Record, safe_reason
from connectors.registry import register
from connectors.text_files import TextFilesConnector


@register("n2c2_2018_ade")
class N2c2AdeConnector(FixedOptions, TextFilesConnector):
    placeholder = PLACEHOLDER_MIMIC_III
    language = "en"
    defaults = {"pattern": ["*.txt", "*.ann"]}

    def records_for(self, name: str, data, location: str) -> Iterator[Record]:
        if name.lower().endswith(".ann"):
            yield Drop(self.doc_id(name), "filtered", "source rule: brat .ann annotation file, not a document", location)
            return
        yield from super().records_for(name, data, location)

    def _doc(self, name: str, data, location: str) -> Record:
        rec = super()._doc(name, data, location)
        rec.doc_id = self.doc_id(name[:-4] if name.endswith(".txt") else name)
        return rec


@register("n2c2_2014_deid")
class N2c2DeidConnector(FixedOptions, TextFilesConnector):
    placeholder = None  # realistic surrogates, not placeholders
    language = "en"
    defaults = {"pattern": "*.xml"}

    def records_for(self, name: str, data, location: str) -> Iterator[Record]:
        did = self.doc_id(os.path.splitext(name)[0])
        if isinstance(data, Exception):
            yield Drop(did, "quarantined", safe_reason(data, "unreadable file"), location)
            return
        try:
            root = parse_xml(data)
        except Exception as e:
            if fsio.is_transient(e):  # the store did not answer: let the task be retried, never quarantine
                raise
            yield Drop(did, "quarantined", safe_reason(e, "malformed n2c2 XML"), location)
            return
        text_el = next((c for c in root if local(c.tag) == "TEXT"), None)
        if text_el is None:
            yield Drop(did, "quarantined", "no <TEXT> element in the document", location)
            return
        tags = next((c for c in root if local(c.tag) == "TAGS"), None)
        n_tags = len(tags) if tags is not None else 0
        yield self.checked(did, text_el.text or "", location, phi_tags=n_tags, file=name)

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
  ``deid: redact``.  meta ``phi_tags`` = number of gold PHI tags, for the de-id report;
  meta ``phi_spans`` = the tagged spans as ``[start, end, ENTITY]`` (offsets into the text, no
  values) and ``phi_text_len``: the de-id stage merges them with what it detects, so with
  ``redact`` every tagged span is replaced (see :func:`engine.stages.deid.known_spans`).  A tag
  whose offsets do not hold its ``text`` is looked for within 64 characters; a tag found
  nowhere quarantines the note (its PHI could not be located).

Format references: docs/SOURCES.md.
"""
from __future__ import annotations


import os
from typing import Iterator

from connectors._fixed import FixedOptions
from connectors._xmlutil import local, parse_member
from connectors.base import PLACEHOLDER_MIMIC_III, Drop, Record
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
        root = parse_member(data, did, location, "n2c2")
        if isinstance(root, Drop):
            yield root
            return
        text_el = next((c for c in root if local(c.tag) == "TEXT"), None)
        if text_el is None:
            yield Drop(did, "quarantined", "no <TEXT> element in the document", location)
            return
        tags = next((c for c in root if local(c.tag) == "TAGS"), None)
        text = text_el.text or ""
        spans, lost = tag_spans(text, list(tags) if tags is not None else [])
        if lost:
            yield Drop(did, "quarantined", f"{lost} PHI tags whose text is not at or near their offsets", location)
            return
        yield self.checked(
            did, text, location, phi_tags=len(spans), phi_spans=spans or None, phi_text_len=len(text) if spans else None,
            file=name,
        )


#: i2b2 2014 PHI categories -> the engine's entity types (unknown categories keep their own name)
TAG_ENTITY = {
    "NAME": "PERSON",
    "DATE": "DATE_TIME",
    "AGE": "AGE",
    "LOCATION": "LOCATION",
    "CONTACT": "PHONE_NUMBER",
    "ID": "MEDICAL_RECORD_NUMBER",
    "PROFESSION": "PROFESSION",
}


def _nearest(text: str, val: str, at: int, reach: int = 64) -> int:
    """Start of the occurrence of ``val`` nearest to ``at`` (within ``reach``) that is not
    inside a longer word or number; -1 when there is none."""
    best, k = -1, text.find(val, max(0, at - reach))
    while 0 <= k <= at + reach:
        e = k + len(val)
        if (k == 0 or not text[k - 1].isalnum()) and (e == len(text) or not text[e].isalnum()):
            if best < 0 or abs(k - at) < abs(best - at):
                best = k
        k = text.find(val, k + 1)
    return best


def tag_spans(text: str, tags) -> tuple[list[list], int]:
    """``([[start, end, ENTITY], ...], tags not found)`` from the ``<TAGS>`` children."""
    out, lost = [], 0
    for t in tags:
        cat = local(t.tag).upper()
        val = t.get("text") or ""
        try:
            s, e = int(t.get("start")), int(t.get("end"))
        except (TypeError, ValueError):
            s = e = -1
        if not (0 <= s < e <= len(text)) or (val and text[s:e] != val):
            k = _nearest(text, val, s) if val else -1
            if k < 0:
                lost += 1
                continue
            s, e = k, k + len(val)
        out.append([s, e, TAG_ENTITY.get(cat, cat)])
    out.sort()
    return out, lost

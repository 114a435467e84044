"""MedQuAD (``connector: medquad``): NIH question-answer pairs, one XML file per document.

Layout: 12 collection folders (``1_CancerGov_QA`` ... ``12_MPlusHerbsSupplements_QA``); each
file ``<Document id source url><Focus/><FocusAnnotations/><QAPairs><QAPair pid><Question qid
qtype/><Answer/></QAPair>...</QAPairs></Document>``.  Three MedlinePlus collections ship with
their answers removed (copyright): those QA pairs have an empty ``<Answer/>`` and are counted
as ``filtered`` (source rule), not read as documents.

One document per QA pair: question, blank line, answer.  The answers come with their line
breaks flattened to runs of spaces; list items (``syndrome:  - Genetic Testing Registry  -
Diagnostic Tests``) are put back on lines of their own (``- `` at the start of a line).  Id
``<collection>/<file stem>#<pid>`` (document ids alone repeat across collections).  meta:
focus, qtype, collection source.  Format references: docs/SOURCES.md.
"""
from __future__ import annotations


import os
import re
from typing import Iterator

from connectors._fixed import FixedOptions
from connectors._xmlutil import flat_text, iter_local, local, parse_member
from connectors.base import Drop, Record
from connectors.registry import register
from connectors.text_files import TextFilesConnector


_BULLET = re.compile(r"(?<=\S)[ \t]{2,}- (?=[^\W\d_])")


@register("medquad")
class MedquadConnector(FixedOptions, TextFilesConnector):
    placeholder = None
    language = "en"
    defaults = {"pattern": "*.xml"}

    def records_for(self, name: str, data, location: str) -> Iterator[Record]:
        stem = os.path.splitext(name)[0]
        root = parse_member(data, self.doc_id(stem), location, "MedQuAD")
        if isinstance(root, Drop):
            yield root
            return
        focus = flat_text(next((c for c in root if local(c.tag) == "Focus"), None)) or None
        src = root.get("source")
        pairs = list(iter_local(root, "QAPair"))
        if not pairs:
            yield Drop(self.doc_id(stem), "filtered", "source rule: document has no QA pairs", location)
            return
        for i, qa in enumerate(pairs, 1):
            pid = qa.get("pid") or str(i)
            did = self.doc_id(f"{stem}#{pid}")
            q_el = next((c for c in qa if local(c.tag) == "Question"), None)
            a_el = next((c for c in qa if local(c.tag) == "Answer"), None)
            # answers keep their line structure (lists, paragraphs); only the ends are trimmed
            q, a = flat_text(q_el), (_BULLET.sub("\n- ", "".join(a_el.itertext()).strip()) if a_el is not None else "")
            if not a:
                yield Drop(did, "filtered", "source rule: empty answer (removed upstream for copyright)", f"{location}#pid={pid}")
                continue
            yield self.checked(did, f"{q}\n\n{a}" if q else a, f"{location}#pid={pid}",
                               focus=focus, qtype=q_el.get("qtype") if q_el is not None else None, collection=src)

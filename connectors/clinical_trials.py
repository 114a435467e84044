"""ClinicalTrials.gov API v2 JSON (``connector: clinical_trials``).

Inputs read (plain files in a folder tree, or members of a ``.zip`` / ``.tar(.gz)``):

* the bulk download ``ctg-studies.json.zip``: one study object per member
  (``NCTnnnnnnnn.json``, or sharded into folders by the id's last two digits,
  ``35/NCT02252835.json``);
* a search-results page of ``GET /api/v2/studies`` saved as a file:
  ``{"studies": [study, ...], "nextPageToken": ...}``;
* a JSON array of study objects.

A study is the API v2 object with a ``protocolSection``.  Each study of a page or array is
its own record: a study that is not an object or has no ``protocolSection`` is quarantined
alone (id ``<file stem>#<index>``) and its neighbours come through.  A member that is not
``.json``, not UTF-8 or not JSON at all is quarantined whole.  JSON Lines and CSV exports are
not read.

Document: the brief title, then the official title (only the longer one when one contains the
other, e.g. equal titles), then the sections "Brief Summary", "Detailed Description" (left out
when it repeats the brief summary), "Study Population" (observational studies) and
"Eligibility Criteria", each heading on its own line.  The text fields are CommonMark; they are rendered to plain text
(:mod:`connectors._markdown`: escapes resolved, list items one per line).  A study with
none of the section texts is filtered.  Id: nctId.  meta: nct_id, status, study_type.
"""
from __future__ import annotations

import json
import os
from typing import Iterator

from connectors._fixed import FixedOptions
from connectors._markdown import to_plain
from connectors.base import Drop, Record, safe_reason
from connectors.registry import register
from connectors.text_files import TextFilesConnector

_SECTIONS = (
    ("Brief Summary", "descriptionModule", "briefSummary"),
    ("Detailed Description", "descriptionModule", "detailedDescription"),
    ("Study Population", "eligibilityModule", "studyPopulation"),
    ("Eligibility Criteria", "eligibilityModule", "eligibilityCriteria"),
)


def _same(a: str, b: str) -> bool:
    """Equal up to case and whitespace (a title or summary repeated with other spacing)."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _titles(brief, official) -> list[str]:
    """Both titles, unless one repeats the other (up to case and spacing) or is contained in it:
    then only the longer one (the brief title when they are equal)."""
    ts = [" ".join(t.split()) for t in (brief, official) if isinstance(t, str) and t.strip()]
    if len(ts) < 2:
        return ts
    a, b = (t.casefold() for t in ts)
    if b in a:
        return ts[:1]
    if a in b:
        return ts[1:]
    return ts


def _studies(obj) -> list | None:
    """The study objects of a parsed file: one study, a ``{"studies": [...]}`` page or a list."""
    if isinstance(obj, dict) and "protocolSection" in obj:
        return [obj]
    if isinstance(obj, dict) and isinstance(obj.get("studies"), list):
        return obj["studies"]
    if isinstance(obj, list):
        return obj
    return None


@register("clinical_trials")
class ClinicalTrialsConnector(FixedOptions, TextFilesConnector):
    placeholder = None
    language = "en"
    # every member is counted: non-JSON members are quarantined, not skipped
    defaults = {"pattern": "*", "files_per_unit": 4096}

    def records_for(self, name: str, data, location: str) -> Iterator[Record]:
        stem = os.path.splitext(os.path.basename(name))[0]
        fallback = self.doc_id(stem)
        if isinstance(data, Exception):
            yield Drop(fallback, "quarantined", safe_reason(data, "unreadable member"), location)
            return
        if not name.lower().endswith(".json"):
            yield Drop(self.doc_id(name), "quarantined", "archive member is not a .json study", location)
            return
        try:
            parsed = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            yield Drop(fallback, "quarantined", f"invalid UTF-8 at byte {e.start}", location)
            return
        except json.JSONDecodeError as e:
            yield Drop(fallback, "quarantined", f"malformed JSON ({e.msg} at char {e.pos})", location)
            return
        studies = _studies(parsed)
        if studies is None:
            yield Drop(fallback, "quarantined", "no protocolSection object (not a study, a studies page or a list)", location)
            return
        if not studies:
            yield Drop(fallback, "filtered", "source rule: studies page with no studies", location)
            return
        single = len(studies) == 1 and studies[0] is parsed
        for i, study in enumerate(studies):
            loc = location if single else f"{location}#{i}"
            try:
                yield self._study(study, stem if single else f"{stem}#{i}", loc)
            except Exception as e:  # an unexpected structure must not end the page
                yield Drop(self.doc_id(f"{stem}#{i}"), "quarantined", safe_reason(e, "unexpected study structure"), loc)

    def _study(self, study, local: str, location: str) -> Record:
        ps = study.get("protocolSection") if isinstance(study, dict) else None
        if not isinstance(ps, dict):
            return Drop(self.doc_id(local), "quarantined", "no protocolSection object", location)
        ident = ps.get("identificationModule") or {}
        nct = str(ident.get("nctId") or local)
        did = self.doc_id(nct)
        parts: list[str] = _titles(ident.get("briefTitle"), ident.get("officialTitle"))
        body: list[str] = []
        summary = ""
        for heading, module, field in _SECTIONS:
            v = (ps.get(module) or {}).get(field)
            text = to_plain(v) if isinstance(v, str) else ""
            if not text:
                continue
            if field == "briefSummary":
                summary = text
            elif field == "detailedDescription" and summary and _same(text, summary):
                continue  # the description repeats the brief summary
            body.append(text)
            parts.append(f"{heading}\n{text}")
        if not body:
            return Drop(did, "filtered", "source rule: no summary, description, study population or eligibility text", location)
        status = (ps.get("statusModule") or {}).get("overallStatus")
        stype = (ps.get("designModule") or {}).get("studyType")
        return self.checked(did, "\n\n".join(parts), location, nct_id=nct, status=status, study_type=stype)

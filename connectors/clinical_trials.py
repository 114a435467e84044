"""ClinicalTrials.gov bulk JSON (``connector: clinical_trials``).

Verified format: the API v2 bulk download ``GET /api/v2/studies/download?format=json.zip``
returns ``ctg-studies.json.zip`` with one JSON document per study (``NCTnnnnnnnn.json``;
recent downloads shard them into 100 folders by the NCT id's last two digits, e.g.
``35/NCT02252835.json``; both layouts are read), each the API v2 study object:
``protocolSection.identificationModule.{nctId, briefTitle, officialTitle}``,
``protocolSection.descriptionModule.{briefSummary, detailedDescription}``,
``protocolSection.eligibilityModule.eligibilityCriteria``,
``protocolSection.statusModule.overallStatus``, ``protocolSection.designModule.studyType``
(ClinicalTrials.gov API v2 reference, search corpus ``pages`` and ``code``; rich text is
CommonMark Markdown, kept as is).

Document: title, then "Brief Summary", "Detailed Description" and "Eligibility Criteria"
sections (headings kept).  Id: nctId.  Members are read from the zip one by one (grouped into
work units of ``files_per_unit``); a member that is not JSON (or not UTF-8, or has no study
object) is quarantined; a study with none of the three text fields is filtered.
"""
from __future__ import annotations

import json
import os
from typing import Iterator

from connectors._fixed import FixedOptions
from connectors.base import Drop, Record, safe_reason
from connectors.registry import register
from connectors.text_files import TextFilesConnector

_SECTIONS = (
    ("Brief Summary", "descriptionModule", "briefSummary"),
    ("Detailed Description", "descriptionModule", "detailedDescription"),
    ("Eligibility Criteria", "eligibilityModule", "eligibilityCriteria"),
)


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
            study = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            yield Drop(fallback, "quarantined", f"invalid UTF-8 at byte {e.start}", location)
            return
        except json.JSONDecodeError as e:
            yield Drop(fallback, "quarantined", f"malformed JSON ({e.msg} at char {e.pos})", location)
            return
        ps = study.get("protocolSection") if isinstance(study, dict) else None
        if not isinstance(ps, dict):
            yield Drop(fallback, "quarantined", "no protocolSection object", location)
            return
        ident = ps.get("identificationModule") or {}
        nct = str(ident.get("nctId") or stem)
        did = self.doc_id(nct)
        parts = []
        title = ident.get("officialTitle") or ident.get("briefTitle")
        if isinstance(title, str) and title.strip():
            parts.append(title.strip())
        body = 0
        for heading, module, field in _SECTIONS:
            v = (ps.get(module) or {}).get(field)
            if isinstance(v, str) and v.strip():
                parts.append(f"{heading}\n{v.strip()}")
                body += 1
        if not body:
            yield Drop(did, "filtered", "source rule: no summary, description or eligibility text", location)
            return
        status = (ps.get("statusModule") or {}).get("overallStatus")
        stype = (ps.get("designModule") or {}).get("studyType")
        yield self.checked(did, "\n\n".join(parts), location, nct_id=nct, status=status, study_type=stype)

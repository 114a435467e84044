"""Entity types (the same names in counters, reasons, gold files and placeholders) and placeholders.

* :data:`PLACEHOLDER_TOKEN`: the typed placeholder the ``redact`` policy writes per entity type.
* :data:`PLACEHOLDER`: what de-identified sources already put in place of PHI (MIMIC-III
  ``[**...**]``, MIMIC-IV ``___``, ``XXXX``, and this engine's own ``[NAME]`` etc.); a hit
  overlapping one is never counted (:func:`find_placeholders`).
"""
from __future__ import annotations

import re
from typing import NamedTuple

# -- entity types (the same names in counters, reasons, gold files and placeholders) ----------------
PERSON = "PERSON"
DATE = "DATE_TIME"
PHONE = "PHONE_NUMBER"
EMAIL = "EMAIL_ADDRESS"
URL = "URL"
IP = "IP_ADDRESS"
SSN = "US_SSN"
MRN = "MEDICAL_RECORD_NUMBER"
ACCOUNT = "ACCOUNT_NUMBER"
ACCESSION = "ACCESSION_NUMBER"
AGE = "AGE"
ADDRESS = "STREET_ADDRESS"
LOCATION = "LOCATION"
ZIP = "ZIP_CODE"



class Hit(NamedTuple):
    """One PHI span found in a document: offsets, entity type, score and the rule or recognizer that found it."""

    start: int
    end: int
    entity: str
    score: float
    recognizer: str


ENTITIES = (PERSON, DATE, PHONE, EMAIL, URL, IP, SSN, MRN, ACCOUNT, ACCESSION, AGE, ADDRESS, LOCATION, ZIP)

#: typed placeholder written by the ``redact`` policy
PLACEHOLDER_TOKEN = {
    PERSON: "[NAME]",
    DATE: "[DATE]",
    PHONE: "[PHONE]",
    EMAIL: "[EMAIL]",
    URL: "[URL]",
    IP: "[IP]",
    SSN: "[SSN]",
    MRN: "[ID]",
    ACCOUNT: "[ID]",
    ACCESSION: "[ID]",
    AGE: "[AGE]",
    ADDRESS: "[ADDRESS]",
    LOCATION: "[LOCATION]",
    ZIP: "[ZIP]",
}

# -- placeholders --------------------------------------------------------------------------------
_TYPED = "|".join(sorted({t[1:-1] for t in PLACEHOLDER_TOKEN.values()} | {"PHI", "REDACTED"}))
PLACEHOLDER_PARTS = (
    r"\[\*\*[^\]\n]{0,120}?\*\*\]",  # MIMIC-III
    r"_{3,}",  # MIMIC-IV
    r"\bX{4,}\b|\bx{4,}\b",  # XXXX
    r"\[(?:" + _TYPED + r")\]",  # ours (redact output is re-scanned)
)
PLACEHOLDER = re.compile("|".join(PLACEHOLDER_PARTS))


def find_placeholders(text: str, extra: re.Pattern | None = None) -> list[tuple[int, int]]:
    # every placeholder holds "[", "__" or "XXXX"/"xxxx": skip the regex on notes without them
    if "[" in text or "__" in text or "XX" in text or "xx" in text:
        spans = [m.span() for m in PLACEHOLDER.finditer(text)]
    else:
        spans = []
    if extra is not None:
        spans += [m.span() for m in extra.finditer(text) if m.end() > m.start()]
        spans.sort()
    return spans

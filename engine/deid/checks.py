"""Checks a pattern match must pass to count as PHI (valid dates, phone and SSN shapes, names that
are not stop words), and the words that follow name contexts without being names."""
from __future__ import annotations

import re

#: capitalised words that follow name contexts but are not names
STOP_WORDS = frozenset(
    """the a an this that he she his her they patient pt pts was is has had will with without of on in at to
    for from by per and or not no yes please see also then today tomorrow yesterday tonight this am pm
    md do rn np pa phd mbbs dds
    emergency department hospital clinic service team unit floor icu micu sicu ccu ed er or pacu
    medicine surgery cardiology neurology oncology radiology pathology nephrology pulmonary gi id
    psychiatry urology orthopedics dermatology endocrinology hematology rheumatology obstetrics
    gynecology pediatrics anesthesia nursing social work case management physical therapy pt ot
    general internal family primary care attending resident intern fellow nurse staff physician
    doctor provider consult consultant admission admitted discharge discharged date time name
    mrn dob sex age unit no number history exam plan assessment impression findings signed
    electronically reviewed dictated transcribed seen examined evaluated note report result
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    street avenue road st ave rd boulevard apt suite drs
    mother father wife husband son daughter sister brother friend family spouse partner
    contact phone cell home work fax pager email
    echo ekg ecg ct cxr mri us eeg labs vitals meds plan pmh hpi ros
    """.split()
)


def ok_date(m: re.Match) -> bool:
    g = m.groupdict()
    try:
        if g.get("y") is not None:
            y = int(g["y"])
            if len(g["y"]) == 4 and not 1880 <= y <= 2199:
                return False
        if g.get("mo") is not None and not 1 <= int(g["mo"]) <= 12:
            return False
        if g.get("d") is not None and not 1 <= int(g["d"]) <= 31:
            return False
    except ValueError:
        return False
    return True


def ok_phone(m: re.Match) -> bool:
    digits = re.sub(r"\D", "", m.group("phi").split("x")[0].split("ext")[0])
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] not in "01" and digits[3] not in "01" or len(digits) == 7


def ok_ssn(m: re.Match) -> bool:
    d = re.sub(r"\D", "", m.group("phi"))
    if len(d) != 9 or d[:3] in ("000", "666") or d[0] == "9" or d[3:5] == "00" or d[5:] == "0000":
        return False
    return len(set(d)) > 1 and d not in ("123456789", "987654321")


def ok_ip(m: re.Match) -> bool:
    parts = m.group("phi").split(".")
    return all(p.isdigit() and int(p) <= 255 and (p == "0" or not p.startswith("0")) for p in parts)


def ok_name(m: re.Match) -> bool:
    words = re.findall(r"[A-Za-z']+", m.group("phi"))
    return bool(words) and not all(w.lower() in STOP_WORDS or len(w) == 1 for w in words)


_RELATIVES = frozenset(
    "wife husband son daughter mother father sister brother friend spouse partner hcp proxy guardian".split()
)


def ok_name_context(m: re.Match) -> bool:
    """A single capitalised word right after a role word ("Patient Denies", "Family Meeting",
    "Contact Precautions") is not a name unless a separator, a title or a relative word says so
    ("Patient: Smith", "PCP Dr. Lee", "daughter Mary"); two-word names always count."""
    if not ok_name(m):
        return False
    phi = m.group("phi")
    if m.group("sep") or m.group("title") or re.search(r"[ \t,;&/]", phi.strip()):
        return True
    return m.group("ctx").split()[0].lower() in _RELATIVES


def phi_span(m: re.Match) -> tuple[int, int]:
    """The PHI part of a pattern match: group ``phi`` (or ``phi2`` for alternatives)."""
    if m.group("phi") is not None:
        return m.span("phi")
    return m.span("phi2")


def ok_age(m: re.Match) -> bool:
    s, e = phi_span(m)
    return 90 <= int(m.string[s:e]) <= 125

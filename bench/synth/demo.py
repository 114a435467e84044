"""The bundled demo corpus (deterministic): ``python -m bench.synth.demo [FOLDER]`` rewrites ``demo/data``.

Three sources in real formats, a few hundred documents:

* ``mimic_notes.csv.gz``: MIMIC-III ``NOTEEVENTS``-style CSV (upper-case header, multi-line
  quoted TEXT, ``[**...**]`` placeholders, some ISERROR=1 rows, exact and near-duplicate notes,
  one ragged row, one empty note, a few notes with leaked surrogate identifiers for the
  de-id check to catch).
* ``pubmed_abstracts.jsonl``: PubMed-style abstracts (pmid, title, abstract) with structured
  abstracts, one malformed line, one line with invalid UTF-8, duplicate abstracts.
* ``case_reports.zip``: case reports as text files inside a zip, one of them the same
  text as a PubMed abstract (cross-source exact duplicate), one binary member.

Everything is synthetic (:mod:`bench.synth.words`): no real patient appears here.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import random
import sys
import zipfile
from pathlib import Path

from bench.synth import words as W

OUT = Path(__file__).resolve().parent.parent.parent / "demo" / "data"


def discharge_note(r: random.Random) -> str:
    age = r.randint(23, 88)
    sex = r.choice(["male", "female"])
    sym = r.sample(W.SYMPTOMS, 2)
    dx = r.choice(W.DIAGNOSES)
    meds = r.sample(W.DISCHARGE_MEDS, 4)
    hosp = [f"# {dx.capitalize()}: treated with {r.choice(W.DISCHARGE_MEDS)}; {r.choice(['improved', 'stable', 'resolved'])} "
            f"by hospital day {r.randint(2, 9)}." for _ in range(r.randint(2, 5))]
    return (
        f"Admission Date:  [**{r.randint(2100, 2190)}-{r.randint(1, 12)}-{r.randint(1, 28)}**]     "
        f"Discharge Date:   [**{r.randint(2100, 2190)}-{r.randint(1, 12)}-{r.randint(1, 28)}**]\n\n"
        f"Service: MEDICINE\n\nChief Complaint:\n{sym[0].capitalize()}\n\n"
        f"History of Present Illness:\n{age} yo {sex} with history of {r.choice(W.DIAGNOSES)} presenting with {sym[0]} and "
        f"{sym[1]} for {r.randint(1, 14)} days. Seen by Dr. [**Last Name (STitle) {r.randint(100, 9999)}**] in clinic.\n\n"
        f"Brief Hospital Course:\n" + "\n".join(hosp) + "\n\n"
        f"Discharge Medications:\n" + "\n".join(f"{i + 1}. {m}" for i, m in enumerate(meds)) + "\n\n"
        f"Discharge Diagnosis:\n{dx}\n\nDischarge Condition:\n{r.choice(['Good', 'Fair', 'Stable'])}\n\n"
        f"Followup Instructions:\nFollow up with PCP Dr. [**First Name (STitle) {r.randint(10, 999)}**] in "
        f"{r.randint(1, 4)} weeks.\n"
    )


def radiology_note(r: random.Random) -> str:
    return (
        f"[**{r.randint(2100, 2190)}-{r.randint(1, 12)}-{r.randint(1, 28)}**] {r.randint(1, 12)}:{r.randint(10, 59)} "
        f"{r.choice(['AM', 'PM'])}\nCHEST (PORTABLE AP)\n\nREASON FOR THIS EXAMINATION:\n"
        f"eval for {r.choice(W.SYMPTOMS)}\n\nFINDINGS: " + " ".join(r.sample(W.RADIOLOGY_FINDINGS, 3)) +
        f"\n\nIMPRESSION: {r.choice(W.RADIOLOGY_FINDINGS)}\n"
    )


def leaked_note(r: random.Random) -> str:
    """A note where surrogate identifiers slipped through de-identification (for the de-id check)."""
    name = f"{r.choice(W.SURROGATE_FIRST_NAMES)} {r.choice(W.SURROGATE_LAST_NAMES)}"
    return (
        discharge_note(r)
        + f"\nDictated by: Dr. {name}, MD\nPatient phone: (617) {r.randint(200, 999)}-{r.randint(1000, 9999)}\n"
        + f"MRN: {r.randint(1000000, 9999999)}  DOB: {r.randint(1, 12)}/{r.randint(1, 28)}/19{r.randint(30, 89)}\n"
    )


def abstract(r: random.Random, structured: bool) -> tuple[str, str]:
    topic = r.choice(W.TOPICS)
    design = r.choice(W.STUDY_DESIGNS)
    outcome = r.choice(W.OUTCOMES)
    n = r.randint(40, 12000)
    title = f"{outcome.capitalize()} in patients with {topic}: {design}"
    parts = {
        "BACKGROUND": f"The effect of early intervention on {outcome} in {topic} remains uncertain.",
        "METHODS": f"We conducted {design} including {n} adults with {topic} across {r.randint(1, 40)} centres.",
        "RESULTS": f"Early intervention was associated with improved {outcome} (hazard ratio {r.uniform(0.5, 0.95):.2f}; "
                   f"95% CI {r.uniform(0.3, 0.5):.2f}-{r.uniform(0.96, 1.2):.2f}).",
        "CONCLUSIONS": f"These findings support further trials of early intervention for {topic}.",
    }
    if structured:
        text = "\n".join(f"{k}: {v}" for k, v in parts.items())
    else:
        text = " ".join(parts.values())
    return title, text


def write(out: Path = OUT) -> None:
    """Write the three demo sources under ``out``."""
    r = random.Random(20261125)
    out.mkdir(parents=True, exist_ok=True)

    # --- MIMIC-III style NOTEEVENTS ------------------------------------------------------------
    rows = []
    row_id = 1000
    notes = []
    for i in range(160):
        kind = r.random()
        if kind < 0.55:
            cat, text = "Discharge summary", discharge_note(r)
        elif kind < 0.9:
            cat, text = "Radiology", radiology_note(r)
        else:
            cat, text = "Discharge summary", leaked_note(r)
        notes.append((cat, text))
    for i in range(12):  # the same note stored twice (exact duplicates)
        notes.append(notes[r.randrange(60)])
    for i in range(6):  # templated near-duplicates: the same note with one dose changed
        cat, text = notes[r.randrange(60)]
        if cat == "Discharge summary" and "mg" in text:
            notes.append((cat, text.replace(" mg", " mcg", 1)))
    notes.append(("Nursing", ""))  # empty note
    for cat, text in notes:
        row_id += 1
        iserror = "1" if r.random() < 0.03 else ""
        rows.append([row_id, r.randint(10000, 99999), r.randint(100000, 199999), "2150-01-01", "", "", cat,
                     "Report", r.randint(1, 20000), iserror, text])
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    w.writerow(["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME", "CATEGORY", "DESCRIPTION",
                "CGID", "ISERROR", "TEXT"])
    for i, row in enumerate(rows):
        w.writerow(row)
        if i == 40:
            buf.write('99999,1,2,2150-01-01,,,Radiology,Report,1,,"ragged row",EXTRA\n')
    (out / "mimic_notes.csv.gz").write_bytes(gzip.compress(buf.getvalue().encode(), mtime=0))

    # --- PubMed-style abstracts -------------------------------------------------------------------
    lines = []
    abstracts = []
    for i in range(150):
        title, text = abstract(r, structured=r.random() < 0.5)
        abstracts.append(text)
        lines.append(json.dumps({"pmid": str(30000000 + i), "title": title, "abstract": text}).encode())
    for i in range(8):  # duplicate abstracts under new PMIDs
        lines.append(json.dumps({"pmid": str(31000000 + i), "title": "Erratum", "abstract": abstracts[i]}).encode())
    lines.insert(20, b'{"pmid": "39999999", "title": "broken record", "abstract": ')  # malformed line
    lines.insert(50, b'{"pmid": "39999998", "title": "bad bytes", "abstract": "caf\xe9 au lait spots"}')  # latin-1 byte
    lines.append(json.dumps({"pmid": "39999997", "title": "no abstract", "abstract": ""}).encode())
    (out / "pubmed_abstracts.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    # --- case reports in a zip --------------------------------------------------------------------
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(60):
            age = r.randint(18, 90)
            text = (f"Case {i + 1}. A {age}-year-old patient presented with {r.choice(W.SYMPTOMS)} and was diagnosed with "
                    f"{r.choice(W.DIAGNOSES)}. " + " ".join(r.sample(W.RADIOLOGY_FINDINGS, 2)) + f" Treatment with {r.choice(W.DISCHARGE_MEDS)} led to "
                    f"{r.choice(['full recovery', 'partial improvement', 'stable disease'])} over {r.randint(2, 30)} days.")
            info = zipfile.ZipInfo(f"reports/case_{i + 1:03d}.txt", date_time=(2024, 1, 1, 0, 0, 0))
            z.writestr(info, text)
        info = zipfile.ZipInfo("reports/case_999.txt", date_time=(2024, 1, 1, 0, 0, 0))
        z.writestr(info, abstracts[3])  # cross-source exact duplicate of a PubMed abstract
        info = zipfile.ZipInfo("reports/scan_001.txt", date_time=(2024, 1, 1, 0, 0, 0))
        z.writestr(info, bytes(range(256)) * 4)  # binary content under a .txt name
    (out / "case_reports.zip").write_bytes(zbuf.getvalue())
    print(f"wrote {', '.join(p.name for p in sorted(out.iterdir()))} to {out}")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)

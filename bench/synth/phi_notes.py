"""Synthetic span-annotated clinical notes (the de-id gold set and the benchmark text).

Every value here is invented: names come from :mod:`bench.synth.words`' lists of common US names,
numbers are random.  Notes follow the shapes of real note types (discharge summary, progress
note, radiology / pathology report, ED note, nursing note, telephone encounter, consult
letter) with clinical content that is full of numbers and capitalised words that are *not*
PHI (vitals, labs, doses, drug and service names).  Each PHI slot is filled either with a
planted value (a gold span) or, in about a third of cases, with a source placeholder
(MIMIC-III ``[**...**]``, MIMIC-IV ``___``, ``XXXX``), which must not be flagged.  Some
names are planted with no clinical context at all ("Mary was given..."), so the set also
measures what pattern recognizers cannot see and an NER model may.

Gold format (JSONL, one note a line)::

    {"doc_id": "synth-00001", "text": "...", "spans": [[start, end, "PERSON"], ...]}

``start``/``end`` are Python string offsets (code points), ``end`` exclusive; types are
those of :data:`engine.deid.patterns.ENTITIES`.  The set is read back with
:func:`engine.deid.evaluate.read_gold`.

    python -m engine.deid generate --n 200 --seed 7 --out tests/data/deid/gold.jsonl
"""
from __future__ import annotations

import json
import random
import re
from typing import Iterator

from bench.synth import words as W
from engine.deid import patterns as P


class Note:
    """Text under construction with its gold spans."""

    def __init__(self, rng: random.Random, p_placeholder: float):
        self.rng = rng
        self.parts: list[str] = []
        self.n = 0
        self.spans: list[list] = []
        self.p_ph = p_placeholder

    def t(self, s: str) -> "Note":
        self.parts.append(s)
        self.n += len(s)
        return self

    def phi(self, entity: str, value: str, ph_kind: str | None = None) -> "Note":
        """Plant ``value`` (gold) or, with probability p_placeholder, a source placeholder."""
        if ph_kind is not None and self.rng.random() < self.p_ph:
            return self.t(self.placeholder(ph_kind))
        self.spans.append([self.n, self.n + len(value), entity])
        return self.t(value)

    def placeholder(self, kind: str) -> str:
        r = self.rng
        style = r.random()
        if style < 0.45:
            mimic3 = {
                "name": f"[**{r.choice(['First Name', 'Last Name', 'Known firstname', 'Known lastname', 'Doctor Last Name', 'Name (NI)'])} {r.randint(1, 999)}**]",
                "date": f"[**{r.randint(2100, 2199)}-{r.randint(1, 12)}-{r.randint(1, 28)}**]",
                "phone": f"[**Telephone/Fax ({r.randint(1, 5)}) {r.randint(100, 9999)}**]",
                "id": f"[**Medical Record Number {r.randint(1, 99)}**]",
                "loc": f"[**Location (un) {r.randint(100, 9999)}**]",
                "email": "[**E-mail address 123**]",
                "age": "[**Age over 90 **]",
                "hosp": f"[**Hospital{r.randint(1, 6)} {r.randint(1, 99)}**]",
            }
            return mimic3.get(kind, "[**Name**]")
        if style < 0.9:
            return "___"
        return "XXXX"

    def text(self) -> str:
        return "".join(self.parts)


class PhiValues:
    """Invented identifiers of every kind, drawn from one seeded RNG."""

    def __init__(self, seed: int = 7, p_placeholder: float = 0.33):
        self.rng = random.Random(seed)
        self.p_ph = p_placeholder

    def first(self):
        return self.rng.choice(W.FIRST_NAMES)

    def last(self):
        return self.rng.choice(W.LAST_NAMES)

    def full(self):
        r = self.rng.random()
        if r < 0.55:
            return f"{self.first()} {self.last()}"
        if r < 0.75:
            return f"{self.first()[0]}. {self.last()}"
        if r < 0.9:
            return f"{self.first()} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {self.last()}"
        return f"{self.first()} {self.last()}-{self.last()}"

    def date(self):
        r, y = self.rng, self.rng.choice([self.rng.randint(1930, 2024), self.rng.randint(2100, 2190)])
        m, d = r.randint(1, 12), r.randint(1, 28)
        k = r.randrange(7)
        return [
            f"{m:02d}/{d:02d}/{y}",
            f"{m}/{d}/{y % 100:02d}",
            f"{y}-{m:02d}-{d:02d}",
            f"{W.MONTHS[m - 1]} {d}, {y}",
            f"{d} {W.MONTHS[m - 1]} {y}",
            f"{W.MONTHS[m - 1][:3]} {d}, {y}",
            f"{m}-{d}-{y}",
        ][k]

    def phone(self):
        r = self.rng
        a, b, c = r.randint(201, 989), r.randint(200, 989), r.randint(0, 9999)
        k = r.randrange(6)
        return [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
                f"{a}-{b}-{c:04d} x{r.randint(10, 9999)}", f"({a}){b}-{c:04d}"][k]

    def ssn(self):
        r = self.rng
        return f"{r.choice([r.randint(1, 665), r.randint(667, 899)]):03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"

    def mrn(self):
        r = self.rng
        return r.choice([str(r.randint(1000000, 99999999)), f"{r.randint(100, 999)}-{r.randint(10, 99)}-{r.randint(10, 99)}", f"MR{r.randint(100000, 9999999)}"])

    def acct(self):
        r = self.rng
        return r.choice([str(r.randint(10**8, 10**10)), f"A{r.randint(10**6, 10**8)}", f"{r.randint(1000, 9999)}-{r.randint(100000, 999999)}"])

    def accession(self):
        r = self.rng
        return r.choice([f"S{r.randint(10, 24)}-{r.randint(1000, 99999)}", f"SP-{r.randint(10, 24)}-{r.randint(1000, 999999)}",
                         f"CT{r.randint(10, 24)}-{r.randint(10000, 999999)}"])

    def email(self, first=None, last=None):
        first, last = first or self.first(), last or self.last()
        user = self.rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{last}{self.rng.randint(1, 99)}"]).lower().replace("'", "")
        return f"{user}@{self.rng.choice(W.EMAIL_DOMAINS)}"

    def url(self):
        r = self.rng
        return r.choice([f"https://www.{self.last().lower().replace(chr(39), '')}family.com/photos", f"http://{self.last().lower().replace(chr(39), '')}-clinic.org",
                         f"www.{self.last().lower().replace(chr(39), '')}{r.randint(1, 99)}.net", f"https://mychart.example-health.org/p/{r.randint(10000, 99999)}"])

    def ip(self):
        r = self.rng
        return f"{r.choice([10, 172, 192, 128, 64])}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def street(self):
        r = self.rng
        s = f"{r.randint(1, 9999)} {r.choice(['', 'N. ', 'S. ', 'W. '])}{r.choice(W.STREETS)} {r.choice(W.STREET_SUFFIXES)}"
        if r.random() < 0.25:
            s += f", Apt {r.randint(1, 40)}{r.choice(['', 'B', 'C'])}"
        return s

    def zip(self):
        return f"{self.rng.randint(1001, 99950):05d}" + (f"-{self.rng.randint(1000, 9999)}" if self.rng.random() < 0.15 else "")

    def age90(self):
        return str(self.rng.randint(90, 104))


class NoteGenerator(PhiValues):
    """Notes of eight clinical types with planted PHI: the pieces notes share are methods, the note
    types the functions below (:data:`NOTE_TYPES`)."""

    def vitals(self, n: Note):
        r = self.rng
        n.t(f"Vitals: T {r.randint(970, 1030) / 10} F, BP {r.randint(90, 180)}/{r.randint(50, 100)}, HR {r.randint(50, 130)}, "
            f"RR {r.randint(12, 28)}, SpO2 {r.randint(86, 100)}% on {r.choice(['RA', '2L NC', '4L NC', 'NRB'])}.\n")

    def labs(self, n: Note):
        r = self.rng
        n.t(f"Labs: Na {r.randint(128, 146)}, K {r.randint(30, 55) / 10}, Cl {r.randint(95, 110)}, HCO3 {r.randint(18, 30)}, "
            f"BUN {r.randint(8, 60)}, Cr {r.randint(6, 40) / 10}, Glu {r.randint(70, 320)}, WBC {r.randint(40, 180) / 10}, "
            f"Hgb {r.randint(70, 160) / 10}, Plt {r.randint(90, 450)}, INR {r.randint(9, 35) / 10}.\n")

    def meds(self, n: Note):
        n.t("Medications on Admission:\n")
        for i, d in enumerate(self.rng.sample(W.DRUG_ORDERS, self.rng.randint(3, 6)), 1):
            n.t(f"{i}. {d}\n")

    def doctor(self, n: Note, title=True):
        if title:
            n.t(self.rng.choice(["Dr. ", "Dr. ", "Dr "]))
        n.phi(P.PERSON, self.full() if not title else self.rng.choice([self.last(), self.full()]), "name")

    def patient_header(self, n: Note):
        r = self.rng
        n.t("Name: ")
        if r.random() < 0.3:
            n.phi(P.PERSON, f"{self.last()}, {self.first()}", "name")
        else:
            n.phi(P.PERSON, f"{self.first()} {self.last()}", "name")
        n.t("    MRN: ").phi(P.MRN, self.mrn(), "id")
        n.t("    DOB: ").phi(P.DATE, self.date(), "date")
        n.t("\n")
        if r.random() < 0.5:
            n.t("Unit No: ").phi(P.MRN, self.mrn(), "id").t("   Acct #: ").phi(P.ACCOUNT, self.acct(), "id").t("\n")
        n.t("Admission Date: ").phi(P.DATE, self.date(), "date").t("    Discharge Date: ").phi(P.DATE, self.date(), "date").t("\n")

    def age_phrase(self, n: Note):
        r = self.rng
        if r.random() < 0.4:
            age = self.age90()
            k = r.randrange(4)
            if k == 0:
                n.phi(P.AGE, age, "age").t(" yo ")
            elif k == 1:
                n.phi(P.AGE, age, "age").t("-year-old ")
            elif k == 2:
                n.phi(P.AGE, age, "age").t(" y/o ")
            else:
                n.t("aged ").phi(P.AGE, age, "age").t(", ")
        else:
            n.t(f"{r.randint(19, 88)} {r.choice(['yo', 'year old', 'y/o'])} ")
        n.t(r.choice(["M", "F", "man", "woman"]) + " ")

    def signature(self, n: Note):
        r = self.rng
        k = r.randrange(4)
        if k == 0:
            n.phi(P.PERSON, self.full(), "name").t(f", {r.choice(W.CREDENTIALS)}\n")
        elif k == 1:
            n.t("Electronically signed by: ").phi(P.PERSON, self.full(), "name").t(f", {r.choice(W.CREDENTIALS)} on ").phi(P.DATE, self.date(), "date").t("\n")
        elif k == 2:
            n.t("Dictated By: ").phi(P.PERSON, self.full(), "name").t("\nMEDQUIST36\nD: ").phi(P.DATE, self.date(), "date").t(f" {r.randint(0, 23):02d}:{r.randint(0, 59):02d}\n")
        else:
            n.t("Completed by: ").phi(P.PERSON, self.full(), "name").t(f" {r.choice(W.CREDENTIALS)}\n")

    def social(self, n: Note):
        r = self.rng
        n.t("Social History: Lives at ").phi(P.ADDRESS, self.street(), "loc").t(", ")
        city, st = r.choice(W.CITIES)
        n.phi(P.LOCATION, city, "loc").t(f", {st} ").phi(P.ZIP, self.zip(), "loc")
        n.t(f" with her {r.choice(['husband', 'son', 'daughter', 'wife'])} ").phi(P.PERSON, self.full(), "name")
        n.t(f". Former smoker, {r.randint(5, 60)} pack-years, quit {r.randint(2, 30)} years ago. Occasional EtOH.\n")
        n.t("Emergency Contact: ").phi(P.PERSON, self.full(), "name").t(" (")
        n.t(r.choice(["daughter", "son", "wife", "HCP"])).t(") ").phi(P.PHONE, self.phone(), "phone").t("\n")
        if r.random() < 0.5:
            n.t("SSN: ").phi(P.SSN, self.ssn(), "id").t("   Insurance ID: ").phi(P.ACCOUNT, self.acct(), "id").t("\n")

    def note(self, i: int) -> dict:
        n = Note(self.rng, self.p_ph)
        kind = self.rng.choice(NOTE_TYPES)
        kind(self, n)
        if kind in (discharge, consult) and self.rng.random() < 0.5:
            n.t("\n")
            self.social(n)
        return {"doc_id": f"synth-{i:05d}", "text": n.text(), "spans": n.spans}


def discharge(g: NoteGenerator, n: Note) -> None:
    r = g.rng
    n.t("DISCHARGE SUMMARY\n\n")
    g.patient_header(n)
    n.t("Service: MEDICINE\nAttending: ")
    g.doctor(n, title=r.random() < 0.5)
    n.t(f", {r.choice(W.CREDENTIALS)}\n\n" if r.random() < 0.5 else "\n\n")
    n.t("Chief Complaint: shortness of breath\n\nHistory of Present Illness:\n")
    g.age_phrase(n)
    n.t(f"with a history of {r.choice(W.PROBLEM_LIST)} and {r.choice(W.PROBLEM_LIST)} who presents with {r.randint(2, 10)} days of "
        "worsening dyspnea on exertion and orthopnea. Per the patient's daughter ")
    n.phi(P.PERSON, g.first(), "name")
    n.t(", she had been more fatigued since ").phi(P.DATE, g.date(), "date").t(". In the ED she was given Lasix 40 mg IV x1.\n")
    g.vitals(n)
    g.labs(n)
    g.meds(n)
    n.t("\nBrief Hospital Course:\n")
    n.t(f"# {r.choice(W.PROBLEM_LIST)}: treated with {r.choice(W.DRUG_ORDERS)}. {r.choice(W.SERVICES)} was consulted and followed. ")
    if r.random() < 0.5:
        n.t("Discussed with Dr. ")
        n.phi(P.PERSON, g.last(), "name")
        n.t(f" from {r.choice(W.SERVICES)}. ")
    if r.random() < 0.35:  # a name without clinical context
        n.phi(P.PERSON, g.first(), "name")
        n.t(" tolerated the diuresis well and was ambulating with PT. ")
    n.t("Echo showed an EF of 35%.\n")
    n.t("\nDischarge Disposition: Home with services\nFacility: ")
    n.t(n.placeholder("hosp") if r.random() < 0.7 else "Home")
    n.t("\n\nFollowup Instructions:\nFollow up with your PCP ")
    g.doctor(n, title=r.random() < 0.6)
    n.t(" on ").phi(P.DATE, g.date(), "date").t(" at ").t(f"{r.randint(1, 12)}:{r.choice(['00', '15', '30', '45'])} {r.choice(['AM', 'PM'])}")
    n.t(". Phone: ").phi(P.PHONE, g.phone(), "phone").t("\n")
    if r.random() < 0.5:
        n.t("Please send records to ").phi(P.EMAIL, g.email(), "email").t(" or fax ").phi(P.PHONE, g.phone(), "phone").t(".\n")
    n.t("\n")
    g.signature(n)


def radiology(g: NoteGenerator, n: Note) -> None:
    r = g.rng
    n.t(f"{r.choice(['CHEST (PA & LAT)', 'CT HEAD W/O CONTRAST', 'CTA CHEST', 'MR BRAIN W/ CONTRAST'])}\n")
    n.t("Accession No: ").phi(P.ACCESSION, g.accession(), "id").t("   Exam date: ").phi(P.DATE, g.date(), "date").t("\n")
    n.t("MRN: ").phi(P.MRN, g.mrn(), "id").t("\n")
    n.t("Reason: eval for infiltrate\nHistory: ")
    g.age_phrase(n)
    n.t("with fever and cough.\n\nFINDINGS: There is a 2.3 x 1.5 cm opacity in the right lower lobe. No pneumothorax. "
        f"Heart size is normal. Comparison is made to the prior study from ").phi(P.DATE, g.date(), "date").t(".\n\n")
    n.t("IMPRESSION: Right lower lobe pneumonia. Findings were discussed with ")
    g.doctor(n, title=r.random() < 0.7)
    n.t(f" by telephone at {r.randint(1, 12)}:{r.randint(10, 59)} pm on ").phi(P.DATE, g.date(), "date").t(".\n")
    n.t("Interpreted by: ").phi(P.PERSON, g.full(), "name").t(", MD\n")


def pathology(g: NoteGenerator, n: Note) -> None:
    r = g.rng
    n.t("SURGICAL PATHOLOGY REPORT\nCase #: ").phi(P.ACCESSION, g.accession(), "id").t("\n")
    n.t("Patient: ").phi(P.PERSON, f"{g.last()}, {g.first()}", "name").t("   MRN: ").phi(P.MRN, g.mrn(), "id").t("\n")
    n.t("Collected: ").phi(P.DATE, g.date(), "date").t("   Received: ").phi(P.DATE, g.date(), "date").t("\n")
    n.t("Submitting physician: Dr. ").phi(P.PERSON, g.full(), "name").t("\n\n")
    n.t(f"SPECIMEN: colon, sigmoid, biopsy.\nGROSS: Received in formalin are {r.randint(2, 6)} fragments of tan tissue, "
        f"{r.randint(1, 9) / 10} cm in aggregate, entirely submitted in cassette A1.\n")
    n.t("DIAGNOSIS: Tubular adenoma. Negative for high-grade dysplasia.\n")
    n.t("Signed out by: ").phi(P.PERSON, g.full(), "name").t(", MD on ").phi(P.DATE, g.date(), "date").t("\n")


def ed_note(g: NoteGenerator, n: Note) -> None:
    r = g.rng
    n.t("ED PROVIDER NOTE\nPt: ").phi(P.PERSON, g.full(), "name").t("   DOB: ").phi(P.DATE, g.date(), "date")
    n.t("   MRN: ").phi(P.MRN, g.mrn(), "id").t("\n")
    n.t("Time seen: ").t(f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}").t("   Seen by: ")
    g.doctor(n, title=r.random() < 0.5)
    n.t("\nHPI: ")
    g.age_phrase(n)
    n.t(f"presenting with chest pain x {r.randint(1, 6)} hours, 7/10, radiating to the left arm. "
        f"Troponin {r.randint(1, 90) / 100}. EKG with {r.choice(['ST depressions in V4-V6', 'NSR, no acute changes', 'new LBBB'])}.\n")
    g.vitals(n)
    g.social(n)
    n.t("Plan: aspirin 325 mg, heparin gtt, admit to Cardiology. Case discussed with attending ")
    g.doctor(n, title=r.random() < 0.5)
    n.t(".\n")
    g.signature(n)


def nursing(g: NoteGenerator, n: Note) -> None:
    r = g.rng
    n.t(f"NURSING PROGRESS NOTE {r.randint(7, 19):02d}00-{r.randint(7, 19):02d}00\n")
    n.t("Neuro: A&Ox3, MAE, follows commands. CV: NSR 70s-80s, SBP 110s-130s. Resp: LS clear, SpO2 95-98% on 2L NC.\n")
    n.t(f"GI/GU: tolerating POs, UOP {r.randint(20, 90)} cc/hr via foley. Skin: stage II sacral decubitus, dressing changed.\n")
    n.t("Social: ")
    n.t(r.choice(["Wife ", "Son ", "Daughter ", "Husband "])).phi(P.PERSON, g.first(), "name")
    n.t(" called for update at ").phi(P.PHONE, g.phone(), "phone").t("; questions answered.\n")
    if r.random() < 0.4:
        n.t("Remote monitoring login from ").phi(P.IP, g.ip(), None).t(" noted by IT.\n")
    n.t("Plan: continue current care, monitor I/Os. ").phi(P.PERSON, g.full(), "name").t(", RN\n")


def telephone(g: NoteGenerator, n: Note) -> None:
    r = g.rng
    n.t("TELEPHONE ENCOUNTER\nCaller: ").phi(P.PERSON, g.full(), "name").t(" (patient)   Call back: ").phi(P.PHONE, g.phone(), "phone").t("\n")
    n.t("Date: ").phi(P.DATE, g.date(), "date").t("\n")
    n.t(f"Reason: refill request for {r.choice(W.DRUG_ORDERS).split(' ')[0]}. Patient reports BP readings 130s/80s at home.\n")
    n.t("Patient portal: ").phi(P.URL, g.url(), None).t("   email: ").phi(P.EMAIL, g.email(), "email").t("\n")
    n.t("Home address verified: ").phi(P.ADDRESS, g.street(), "loc").t(", ")
    city, st = r.choice(W.CITIES)
    n.phi(P.LOCATION, city, "loc").t(f", {st} ").phi(P.ZIP, g.zip(), "loc").t("\n")
    n.t("Routed to Dr. ").phi(P.PERSON, g.last(), "name").t(" for review. ")
    n.t("Mr. " if r.random() < 0.5 else "Mrs. ").phi(P.PERSON, g.last(), "name").t(" was informed.\n")


def consult(g: NoteGenerator, n: Note) -> None:
    r = g.rng
    n.t(f"{r.choice(W.SERVICES).upper()} CONSULT NOTE\n")
    n.t("Requesting physician: ").phi(P.PERSON, g.full(), "name").t("   Reason: evaluation of ").t(r.choice(W.PROBLEM_LIST)).t("\n\n")
    n.t("Dear Dr. ").phi(P.PERSON, g.last(), "name").t(",\n\nThank you for referring ")
    n.t(r.choice(["Mr. ", "Mrs. ", "Ms. "])).phi(P.PERSON, g.full(), "name").t(", a ")
    g.age_phrase(n)
    n.t(f"whom I saw in clinic on ").phi(P.DATE, g.date(), "date")
    n.t(f". {r.choice(W.PROBLEM_LIST).capitalize()} was confirmed. Creatinine has risen from 1.1 to {r.randint(15, 40) / 10}. "
        f"We recommend {r.choice(W.DRUG_ORDERS)} and a repeat BMP in 1 week.\n")
    if r.random() < 0.5:
        n.t("Care team: Drs. ").phi(P.PERSON, g.last(), "name").t(", ").phi(P.PERSON, g.last(), "name").t(" and ").phi(P.PERSON, g.last(), "name").t(".\n")
    n.t("cc: ").phi(P.PERSON, g.full(), "name").t(", ").phi(P.PERSON, g.full(), "name").t("\n")
    n.t("Sincerely,\n\n").phi(P.PERSON, g.full(), "name").t(f", {r.choice(W.CREDENTIALS)}\n")


#: the note types, drawn uniformly (discharge summaries twice as often)
NOTE_TYPES = (discharge, discharge, radiology, pathology, ed_note, nursing, telephone, consult)


def generate(n: int, seed: int = 7, p_placeholder: float = 0.33) -> Iterator[dict]:
    g = NoteGenerator(seed, p_placeholder)
    for i in range(n):
        yield g.note(i)


def write_gold(docs, path: str) -> int:
    k = 0
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
            k += 1
    return k


def check_gold(doc: dict) -> None:
    for s, e, t in doc["spans"]:
        if not (0 <= s < e <= len(doc["text"])) or t not in P.ENTITIES or re.search(r"\n", doc["text"][s:e]):
            raise ValueError(f"{doc['doc_id']}: bad span [{s}, {e}, {t}]")

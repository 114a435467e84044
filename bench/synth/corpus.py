"""Clinical-like and literature-like documents with a long-tailed length distribution (benchmark input).

Nothing here is real patient data: documents are sentences from templates whose ``{slots}`` are
filled from :mod:`bench.synth.words` and random numbers.  The lengths follow real corpora:

* clinical: 45% short notes (radiology / nursing, median ~8 sentences), 45% discharge
  summaries (median ~80 sentences, ~1.2k tokens), 10% long multi-day summaries
  (median ~300 sentences, tail past 20k tokens);
* literature: 80% abstracts (median ~14 sentences), 20% full-text articles (median ~400).

``dup_rate`` repeats an earlier document verbatim under a new id (exact duplicates);
``near_dup_rate`` repeats one with ~1 word in 60 replaced (5-gram Jaccard ~0.85, a near
duplicate at the engine's 0.8 threshold).  The same arguments always give the same text.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
from pathlib import Path
from typing import Callable, Iterator

from bench.synth import words as W

_NAMES = (W.FIRST_NAMES + W.MORE_FIRST_NAMES, W.LAST_NAMES + W.MORE_LAST_NAMES)
_SYMPTOMS = W.SYMPTOMS + W.MORE_SYMPTOMS
_DIAGNOSES = W.DIAGNOSES + W.PROBLEM_LIST + W.MORE_DIAGNOSES
_TOPICS = W.TOPICS + W.MORE_TOPICS
_DESIGNS = W.STUDY_DESIGNS + W.MORE_STUDY_DESIGNS
_OUTCOMES = W.OUTCOMES + W.MORE_OUTCOMES
_EXAM_SIGNS = ["tenderness", "crackles", "a systolic murmur", "no abnormality", "trace edema", "decreased breath sounds"]
_SURGERIES = ["CABG", "appendectomy", "cholecystectomy", "PCI", "hip replacement"]
_CONSULTS = ["cardiology", "nephrology", "GI", "infectious disease", "surgery"]

def _upper_first(s: str) -> str:
    return s[:1].upper() + s[1:]


#: what each ``{slot}`` of a template becomes (every occurrence draws again)
SLOTS: dict[str, Callable[[random.Random], str]] = {
    "symptom": lambda r: r.choice(_SYMPTOMS),
    "diagnosis": lambda r: r.choice(_DIAGNOSES),
    "drug": lambda r: r.choice(W.DRUGS),
    "Drug": lambda r: _upper_first(r.choice(W.DRUGS)),
    "dose": lambda r: str(r.choice([5, 10, 20, 25, 40, 50, 81, 100, 500])),
    "frequency": lambda r: r.choice(["daily", "BID", "TID", "QHS", "q6h PRN"]),
    "lab": lambda r: r.choice(W.LABS),
    "value": lambda r: f"{r.uniform(0.5, 150):.1f}",
    "Imaging": lambda r: _upper_first(r.choice(W.IMAGING)),
    "finding": lambda r: r.choice(W.IMAGING_FINDINGS).format(n=r.randint(2, 99)),
    "site": lambda r: r.choice(W.EXAM_SITES),
    "sign": lambda r: r.choice(_EXAM_SIGNS),
    "vitals": lambda r: (f"T {r.uniform(36, 39.5):.1f} HR {r.randint(50, 140)} BP {r.randint(85, 190)}/{r.randint(40, 110)} "
                         f"RR {r.randint(12, 32)} SpO2 {r.randint(86, 100)}% on {r.choice(['RA', '2L NC', '4L NC', 'BiPAP'])}"),
    "last": lambda r: r.choice(_NAMES[1]),
    "name": lambda r: f"{r.choice(_NAMES[0])} {r.choice(_NAMES[1])}",
    "consult": lambda r: r.choice(_CONSULTS),
    "surgery": lambda r: r.choice(_SURGERIES),
    "n": lambda r: str(r.randint(2, 99)),
    "weeks": lambda r: str(r.randint(1, 8)),
    "sentence": lambda r: r.choice(W.CLINICAL_SENTENCES),
    "design": lambda r: r.choice(_DESIGNS),
    "topic": lambda r: r.choice(_TOPICS),
    "outcome": lambda r: r.choice(_OUTCOMES),
    "gene": lambda r: r.choice(W.GENES),
    "patients": lambda r: f"{r.randint(20, 50000):,}",
    "ratio": lambda r: f"{r.uniform(0.4, 1.9):.2f}",
    "ci": lambda r: f"{r.uniform(0.3, 0.9):.2f} to {r.uniform(1.0, 2.5):.2f}",
    "p": lambda r: f"{r.uniform(0.001, 0.5):.3f}",
    "percent": lambda r: f"{r.uniform(5, 60):.1f}",
    "years": lambda r: f"{r.uniform(1, 10):.1f}",
    "iqr": lambda r: f"{r.uniform(0.5, 3):.1f} to {r.uniform(5, 14):.1f}",
}

CLINICAL_TEMPLATES = [
    "Patient reports {symptom} for {n} days, associated with {symptom}.",
    "{Drug} {dose} mg PO {frequency}.",
    "{lab} {value}, {lab} {value}, {lab} {value}.",
    "{Imaging} showed {finding}.",
    "She was treated for {diagnosis} with {drug} and {drug}, with improvement over {n} hours.",
    "On exam the {site} was notable for {sign}.",
    "Vitals: {vitals}.",
    "Dr. {last} from {consult} was consulted and recommended {drug}.",
    "Follow up with {name} in {weeks} weeks; repeat {lab} in {n} days.",
    "History of {diagnosis} and {topic}, status post {surgery} {n} years ago.",
    "{sentence}",
]
LITERATURE_TEMPLATES = [
    "We conducted {design} of {patients} patients with {topic}.",
    "The primary outcome was {outcome} (hazard ratio {ratio}; 95% CI {ci}; P={p}).",
    "Expression of {gene} was associated with {outcome} in {topic}.",
    "Treatment with {drug} reduced {outcome} by {percent}% compared with placebo.",
    "These findings suggest that {gene} signalling contributes to {topic} pathogenesis.",
    "Median follow-up was {years} years (interquartile range {iqr}).",
]
_SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, r: random.Random) -> str:
    return _SLOT.sub(lambda m: SLOTS[m.group(1)](r), template)


def _sentence(r: random.Random, templates: list[str], filler_share: float, filler_words: tuple[int, int]) -> str:
    if r.random() < filler_share:
        return " ".join(r.choice(W.FILLER_WORDS) for _ in range(r.randint(*filler_words))).capitalize() + "."
    return fill(r.choice(templates), r)


def _lognormal_int(r: random.Random, median: float, sigma: float, lo: int = 1) -> int:
    return max(lo, int(round(median * math.exp(r.gauss(0.0, sigma)))))


def _clinical_shape(r: random.Random) -> tuple[int, bool]:
    """Sentences of one clinical document, and whether it is a short note (else a discharge summary)."""
    u = r.random()
    if u < 0.45:
        return _lognormal_int(r, 8, 0.7), True
    return (_lognormal_int(r, 80, 0.6) if u < 0.9 else _lognormal_int(r, 300, 0.5)), False


def _literature_shape(r: random.Random) -> tuple[int, bool]:
    """Sentences of one literature document, and whether it is an abstract (else a full text)."""
    if r.random() < 0.8:
        return _lognormal_int(r, 14, 0.3), True
    return _lognormal_int(r, 400, 0.5), False


def _sections(r: random.Random, n: int, names: list[str], templates: list[str], filler_share: float) -> list[str]:
    per = max(1, n // len(names))
    return [f"{s}:\n" + " ".join(_sentence(r, templates, filler_share, (8, 25)) for _ in range(per)) for s in names]


def _clinical_doc(r: random.Random) -> str:
    n, short = _clinical_shape(r)
    if short:
        head = r.choice(["RADIOLOGY REPORT", "NURSING NOTE", "PROGRESS NOTE", "ECG REPORT"])
        return head + "\n" + " ".join(_sentence(r, CLINICAL_TEMPLATES, 1 / 12, (8, 20)) for _ in range(n))
    head = f"Admission Date: [**{r.randint(2100, 2200)}-{r.randint(1, 12)}-{r.randint(1, 28)}**]  Service: MEDICINE"
    return "\n\n".join([head, *_sections(r, n, W.NOTE_SECTIONS, CLINICAL_TEMPLATES, 1 / 12)])


def _literature_doc(r: random.Random) -> str:
    n, abstract = _literature_shape(r)
    names = (["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"] if abstract else
             ["Introduction", "Methods", "Results", "Discussion", "Limitations", "Conclusion"])
    title = f"{r.choice(W.GENES)} and {r.choice(_OUTCOMES)} in {r.choice(_TOPICS)}: {r.choice(_DESIGNS)}"
    return "\n".join([title, *_sections(r, n, names, LITERATURE_TEMPLATES, 1 / 4)])


def _perturb(text: str, r: random.Random, every: int = 60) -> str:
    words = text.split(" ")
    for i in range(r.randrange(every), len(words), every):
        words[i] = r.choice(W.FILLER_WORDS)
    return " ".join(words)


def iter_docs(mb: float, kind: str = "mixed", seed: int = 0, dup_rate: float = 0.0,
              near_dup_rate: float = 0.0) -> Iterator[dict]:
    """Documents ``{"id", "text", "source"}`` until about ``mb`` MB (1e6 bytes of UTF-8) are produced.

    ``kind``: ``clinical``, ``literature`` or ``mixed`` (alternating, ~half the bytes each).
    """
    if kind not in ("clinical", "literature", "mixed"):
        raise ValueError(f"kind must be clinical, literature or mixed, not {kind!r}")
    r = random.Random(f"bench-data-{seed}-{kind}")
    budget = int(mb * 1e6)
    made = 0
    i = 0
    recent: list[str] = []
    while made < budget:
        k = kind if kind != "mixed" else ("clinical" if i % 2 == 0 else "literature")
        u = r.random()
        if recent and u < dup_rate:
            text = r.choice(recent)
        elif recent and u < dup_rate + near_dup_rate:
            text = _perturb(r.choice(recent), r)
        else:
            text = _clinical_doc(r) if k == "clinical" else _literature_doc(r)
            if len(recent) < 2000:
                recent.append(text)
            else:
                recent[r.randrange(len(recent))] = text
        yield {"id": f"{k[:3]}-{i:08d}", "text": text, "source": k}
        made += len(text.encode("utf-8"))
        i += 1


def texts(mb: float, kind: str = "mixed", seed: int = 0) -> list[str]:
    return [d["text"] for d in iter_docs(mb, kind, seed)]


def write_jsonl(folder: str | os.PathLike, mb: float, files: int = 4, kind: str = "mixed", seed: int = 0,
                dup_rate: float = 0.0, near_dup_rate: float = 0.0) -> list[Path]:
    """Documents as ``files`` JSON Lines files (round robin) under ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part-{k:03d}.jsonl" for k in range(files)]
    outs = [p.open("w", encoding="utf-8") for p in paths]
    try:
        for j, d in enumerate(iter_docs(mb, kind, seed, dup_rate, near_dup_rate)):
            outs[j % files].write(json.dumps(d, ensure_ascii=False) + "\n")
    finally:
        for f in outs:
            f.close()
    return paths


def token_lengths(n: int, kind: str = "clinical", seed: int = 0) -> list[int]:
    """``n`` document lengths in tokens from the same long-tailed mixture (for the packing bench).

    Sentences average ~15 tokens; the mixture matches :func:`iter_docs` without generating text.
    """
    r = random.Random(f"bench-lengths-{seed}-{kind}")
    shape = _clinical_shape if kind == "clinical" else _literature_shape
    return [max(1, int(shape(r)[0] * r.uniform(12, 18))) for _ in range(n)]

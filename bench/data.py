"""Deterministic generators of clinical-like and literature-like text for the benchmarks.

Nothing here is real patient data: notes are assembled from templates, word lists and
random numbers.  The length distribution is long-tailed like real corpora:

* clinical: 45% short notes (radiology / nursing, median ~8 sentences), 45% discharge
  summaries (median ~80 sentences, ~1.2k tokens), 10% long multi-day summaries
  (median ~300 sentences, tail past 20k tokens);
* literature: 80% abstracts (median ~14 sentences), 20% full-text articles (median ~400).

``dup_rate`` repeats an earlier document verbatim under a new id (exact duplicates);
``near_dup_rate`` repeats one with ~1 word in 60 replaced (5-gram Jaccard ~0.85, a near
duplicate at the engine's 0.8 threshold).  The same arguments always give the same text.

    python -m bench.data --mb 10 --out /tmp/gen      # writes JSONL files, prints a summary
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
from pathlib import Path
from typing import Iterator

_FIRST = "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth Maria Chen Ahmed Priya Olga".split()
_LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Nguyen Patel Kim Okafor Rossi".split()
_SYMPTOMS = ("chest pain|shortness of breath|fever|nausea|vomiting|abdominal pain|dizziness|syncope|cough|"
             "fatigue|headache|palpitations|lower extremity edema|dysuria|hematuria|confusion|weakness|"
             "back pain|diarrhea|melena|hemoptysis|rash|weight loss|dyspnea on exertion").split("|")
_DX = ("community-acquired pneumonia|acute kidney injury|congestive heart failure exacerbation|"
       "NSTEMI|atrial fibrillation with rapid ventricular response|sepsis secondary to urinary tract infection|"
       "COPD exacerbation|diabetic ketoacidosis|upper gastrointestinal bleed|cellulitis of the left lower extremity|"
       "pulmonary embolism|hyponatremia|alcohol withdrawal|acute pancreatitis|ischemic stroke|"
       "small bowel obstruction|hypertensive urgency|C. difficile colitis").split("|")
_DRUGS = ("metoprolol tartrate|lisinopril|atorvastatin|aspirin|furosemide|heparin|enoxaparin|insulin glargine|"
          "metformin|amlodipine|pantoprazole|ceftriaxone|azithromycin|vancomycin|piperacillin-tazobactam|"
          "apixaban|warfarin|prednisone|albuterol|tiotropium|sertraline|gabapentin|oxycodone|acetaminophen|"
          "levothyroxine|tamsulosin|ondansetron|potassium chloride|magnesium oxide|docusate").split("|")
_LABS = "sodium|potassium|chloride|bicarbonate|BUN|creatinine|glucose|WBC|hemoglobin|hematocrit|platelets|INR|troponin|lactate|BNP|ALT|AST|lipase".split("|")
_ORGANS = "heart|lungs|abdomen|extremities|skin|neck|HEENT|neuro|chest wall|pelvis".split("|")
_IMG = ("chest radiograph|CT of the abdomen and pelvis with contrast|CT head without contrast|transthoracic echocardiogram|"
        "renal ultrasound|MRI brain|CT angiogram of the chest|right upper quadrant ultrasound").split("|")
_FIND = ("no acute cardiopulmonary process|small bilateral pleural effusions|a left lower lobe consolidation|"
         "mild cardiomegaly|no intracranial hemorrhage|an ejection fraction of {n}%|mild hydronephrosis|"
         "a {n} mm nonobstructing renal calculus|diffuse bowel wall thickening|no evidence of pulmonary embolism").split("|")
_SECTIONS = ["Chief Complaint", "History of Present Illness", "Past Medical History", "Medications on Admission",
             "Allergies", "Physical Exam", "Pertinent Results", "Brief Hospital Course", "Discharge Medications",
             "Discharge Diagnosis", "Discharge Instructions", "Followup Instructions"]
_GENES = "BRCA1|TP53|EGFR|KRAS|HER2|APOE|CFTR|PD-L1|IL-6|TNF-alpha|VEGF|ACE2|mTOR|PCSK9|SGLT2".split("|")
_DISEASES = ("type 2 diabetes|heart failure with preserved ejection fraction|chronic kidney disease|sepsis|"
             "non-small cell lung cancer|Alzheimer disease|rheumatoid arthritis|asthma|hepatocellular carcinoma|"
             "major depressive disorder|atrial fibrillation|COVID-19|multiple sclerosis|osteoporosis").split("|")
_METHODS = ("a retrospective cohort study|a randomized controlled trial|a prospective observational study|"
            "a systematic review and meta-analysis|a cross-sectional analysis|a single-center case series|"
            "a multicenter registry study|a nested case-control design").split("|")
_OUTCOMES = ("all-cause mortality|30-day readmission|length of stay|progression-free survival|HbA1c|"
             "major adverse cardiovascular events|quality of life|ICU admission|time to remission").split("|")
_WORDS = ("the of and to in was with for on patient is were at by as had be not this that which from an are "
          "after given noted also showed without treated started continued significant increased decreased "
          "stable improved history admitted discharged hospital day evaluation management therapy dose daily "
          "twice plan follow outpatient clinic symptoms findings normal abnormal mild moderate severe acute "
          "chronic left right bilateral prior recent further however although therefore overall associated "
          "compared higher lower risk among patients study results analysis data group groups effect").split()


def _name(r: random.Random) -> str:
    return f"{r.choice(_FIRST)} {r.choice(_LAST)}"


def _clin_sentence(r: random.Random) -> str:
    k = r.randrange(12)
    n = r.randint(2, 99)
    if k == 0:
        return f"Patient reports {r.choice(_SYMPTOMS)} for {n} days, associated with {r.choice(_SYMPTOMS)}."
    if k == 1:
        return f"{r.choice(_DRUGS).capitalize()} {r.choice([5, 10, 20, 25, 40, 50, 81, 100, 500])} mg PO {r.choice(['daily', 'BID', 'TID', 'QHS', 'q6h PRN'])}."
    if k == 2:
        return f"{r.choice(_LABS)} {r.uniform(0.5, 150):.1f}, {r.choice(_LABS)} {r.uniform(0.5, 15):.1f}, {r.choice(_LABS)} {r.randint(1, 400)}."
    if k == 3:
        return f"{r.choice(_IMG).capitalize()} showed " + r.choice(_FIND).format(n=n) + "."
    if k == 4:
        return f"She was treated for {r.choice(_DX)} with {r.choice(_DRUGS)} and {r.choice(_DRUGS)}, with improvement over {n} hours."
    if k == 5:
        return f"On exam the {r.choice(_ORGANS)} was notable for {r.choice(['tenderness', 'crackles', 'a systolic murmur', 'no abnormality', 'trace edema', 'decreased breath sounds'])}."
    if k == 6:
        return f"Vitals: T {r.uniform(36, 39.5):.1f} HR {r.randint(50, 140)} BP {r.randint(85, 190)}/{r.randint(40, 110)} RR {r.randint(12, 32)} SpO2 {r.randint(86, 100)}% on {r.choice(['RA', '2L NC', '4L NC', 'BiPAP'])}."
    if k == 7:
        return f"Dr. {r.choice(_LAST)} from {r.choice(['cardiology', 'nephrology', 'GI', 'infectious disease', 'surgery'])} was consulted and recommended {r.choice(_DRUGS)}."
    if k == 8:
        return f"Follow up with {_name(r)} in {r.randint(1, 8)} weeks; repeat {r.choice(_LABS)} in {r.randint(2, 14)} days."
    if k == 9:
        return f"History of {r.choice(_DX)} and {r.choice(_DISEASES)}, status post {r.choice(['CABG', 'appendectomy', 'cholecystectomy', 'PCI', 'hip replacement'])} {n} years ago."
    return " ".join(r.choice(_WORDS) for _ in range(r.randint(8, 20))).capitalize() + "."


def _lit_sentence(r: random.Random) -> str:
    k = r.randrange(8)
    n = r.randint(20, 50000)
    if k == 0:
        return f"We conducted {r.choice(_METHODS)} of {n:,} patients with {r.choice(_DISEASES)}."
    if k == 1:
        return (f"The primary outcome was {r.choice(_OUTCOMES)} (hazard ratio {r.uniform(0.4, 1.9):.2f}; "
                f"95% CI {r.uniform(0.3, 0.9):.2f} to {r.uniform(1.0, 2.5):.2f}; P={r.uniform(0.001, 0.5):.3f}).")
    if k == 2:
        return f"Expression of {r.choice(_GENES)} was associated with {r.choice(_OUTCOMES)} in {r.choice(_DISEASES)}."
    if k == 3:
        return f"Treatment with {r.choice(_DRUGS)} reduced {r.choice(_OUTCOMES)} by {r.uniform(5, 60):.1f}% compared with placebo."
    if k == 4:
        return f"These findings suggest that {r.choice(_GENES)} signalling contributes to {r.choice(_DISEASES)} pathogenesis."
    if k == 5:
        return f"Median follow-up was {r.uniform(1, 10):.1f} years (interquartile range {r.uniform(0.5, 3):.1f} to {r.uniform(5, 14):.1f})."
    return " ".join(r.choice(_WORDS) for _ in range(r.randint(10, 25))).capitalize() + "."


def _lognormal_int(r: random.Random, median: float, sigma: float, lo: int = 1) -> int:
    return max(lo, int(round(median * math.exp(r.gauss(0.0, sigma)))))


def _clinical_doc(r: random.Random) -> str:
    u = r.random()
    if u < 0.45:
        n = _lognormal_int(r, 8, 0.7)
        head = r.choice(["RADIOLOGY REPORT", "NURSING NOTE", "PROGRESS NOTE", "ECG REPORT"])
        return head + "\n" + " ".join(_clin_sentence(r) for _ in range(n))
    n = _lognormal_int(r, 80, 0.6) if u < 0.9 else _lognormal_int(r, 300, 0.5)
    parts = [f"Admission Date: [**{r.randint(2100, 2200)}-{r.randint(1, 12)}-{r.randint(1, 28)}**]  Service: MEDICINE"]
    per = max(1, n // len(_SECTIONS))
    for sec in _SECTIONS:
        parts.append(f"\n{sec}:\n" + " ".join(_clin_sentence(r) for _ in range(per)))
    return "\n".join(parts)


def _literature_doc(r: random.Random) -> str:
    if r.random() < 0.8:
        n = _lognormal_int(r, 14, 0.3)
        secs = ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    else:
        n = _lognormal_int(r, 400, 0.5)
        secs = ["Introduction", "Methods", "Results", "Discussion", "Limitations", "Conclusion"]
    per = max(1, n // len(secs))
    title = f"{r.choice(_GENES)} and {r.choice(_OUTCOMES)} in {r.choice(_DISEASES)}: {r.choice(_METHODS)}"
    return title + "\n" + "\n".join(f"{s}: " + " ".join(_lit_sentence(r) for _ in range(per)) for s in secs)


def _perturb(text: str, r: random.Random, every: int = 60) -> str:
    words = text.split(" ")
    for i in range(r.randrange(every), len(words), every):
        words[i] = r.choice(_WORDS)
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
    out = []
    for _ in range(n):
        u = r.random()
        if kind == "clinical":
            s = _lognormal_int(r, 8, 0.7) if u < 0.45 else (_lognormal_int(r, 80, 0.6) if u < 0.9 else _lognormal_int(r, 300, 0.5))
        else:
            s = _lognormal_int(r, 14, 0.3) if u < 0.8 else _lognormal_int(r, 400, 0.5)
        out.append(max(1, int(s * r.uniform(12, 18))))
    return out


def bench_tokenizer(cache_dir: str | os.PathLike | None = None, vocab_size: int = 32000, mb: float = 4.0) -> str:
    """Path to a ModernBERT-style byte-level BPE trained on generated text; cached.

    The generated text has a small word inventory, so the trainer stops near 3.5k merges
    whatever ``vocab_size`` asks, and BPE's word cache hits more often than on real text:
    absolute MB/s are optimistic, ratios (same tokenizer on both sides) are not.  Pass a real
    ``tokenizer.json`` (``--tokenizer``) to the benches for absolute numbers.
    """
    from engine.tokenizer import train_bpe

    cache = Path(cache_dir or os.environ.get("BENCH_CACHE", "/tmp/bench-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"v1-{vocab_size}-{mb}".encode()).hexdigest()[:12]
    path = cache / f"tokenizer-{key}.json"
    if not path.exists():
        tok = train_bpe(texts(mb, "mixed", seed=12345), vocab_size)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tok.save(str(tmp))
        os.replace(tmp, path)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=10)
    ap.add_argument("--kind", default="mixed", choices=["clinical", "literature", "mixed"])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dup-rate", type=float, default=0.0)
    ap.add_argument("--near-dup-rate", type=float, default=0.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    paths = write_jsonl(a.out, a.mb, a.files, a.kind, a.seed, a.dup_rate, a.near_dup_rate)
    print(f"wrote {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB in {len(paths)} files under {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

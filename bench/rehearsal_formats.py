"""The writers of :mod:`bench.rehearsal`: each source's files in its provider's layout, with generated text.

Formats follow the connector fixtures (``tests/fixtures/all20/make_fixtures.py``, whose format
helpers are reused); every writer returns how many files it wrote.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import json
import math
import random
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the manifest's ${ROOT} variables -> folders of the generated tree
ROOTS = {"PUBMED": "pubmed", "PMC_OA": "pmc_oa", "PHYSIONET": "physionet", "CHEXPERT_PLUS": "chexpert_plus",
         "N2C2": "n2c2", "PUBLIC_DATA": "public", "HF_DATASETS": "hf", "CTGOV": "ctgov"}


def fixture_formats():
    """The connector fixtures' format helpers (pubmed_article, jats13, study, csv_text, zip/tar writers)."""
    path = ROOT / "tests" / "fixtures" / "all20" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("all20_fixture_formats", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Texts:
    """Documents of about a given size, composed from the benchmark corpus' sentences.

    Every document starts with a numbered sentence, so documents are distinct unless a writer
    repeats one on purpose (the sources' own duplicates: CheXpert per image, Asclepius per question).
    """

    def __init__(self, seed: int = 0) -> None:
        from bench import data

        self.r = random.Random(f"rehearsal-{seed}")
        pool: dict[str, list[str]] = {}
        for kind in ("clinical", "literature"):
            sents: list[str] = []
            for t in data.texts(1.5, kind, seed=seed):
                sents += [s.strip() + "." for s in t.replace("\n", " ").split(". ") if len(s.strip()) > 20]
            pool[kind] = sents[:20_000]
        self.pool = pool
        self.n = 0

    def doc(self, size: int, kind: str = "clinical") -> str:
        self.n += 1
        sents = self.pool[kind]
        out = [f"Record {self.n} of the rehearsal corpus."]
        total = len(out[0])
        target = max(60, int(size * self.r.uniform(0.6, 1.4)))
        while total < target:
            s = sents[self.r.randrange(len(sents))]
            out.append(s)
            total += len(s) + 1
        return " ".join(out)


def _split(n: int, parts: int) -> list[int]:
    parts = max(1, min(parts, n))
    base, extra = divmod(n, parts)
    return [base + (i < extra) for i in range(parts)]


def _gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="", compresslevel=3) as g:
        g.write(data)
    return buf.getvalue()


def _write(path: Path, data: bytes | str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    b = data.encode("utf-8") if isinstance(data, str) else data
    path.write_bytes(b)
    return 1


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Writer:
    """Lays out one source's files; every method returns the number of files written."""

    def __init__(self, base: Path, texts: Texts, fx) -> None:
        self.base = base
        self.t = texts
        self.fx = fx

    def root(self, var: str) -> Path:
        return self.base / ROOTS[var]

    def pubmed(self, files: int, docs: int, size: int) -> int:
        d = self.root("PUBMED")
        n_upd = max(1, files // 6) if files > 1 else 0
        counts = _split(docs, files)
        pmid = 30_000_001
        for i, n in enumerate(counts):
            arts = []
            upd = i >= files - n_upd
            for _ in range(n):
                if upd and arts == [] and pmid > 30_000_010:  # an update file revises an earlier citation first
                    arts.append(self.fx.pubmed_article(pmid - 7, "Revised citation.", f"<AbstractText>{_xml_escape(self.t.doc(size, 'literature'))}</AbstractText>"))
                arts.append(self.fx.pubmed_article(pmid, f"Invented study {pmid}.", f"<AbstractText>{_xml_escape(self.t.doc(size, 'literature'))}</AbstractText>"))
                pmid += 1
            dele = f'<DeleteCitation>\n<PMID Version="1">{pmid - n - 3}</PMID>\n</DeleteCitation>\n' if upd else ""
            folder = "updatefiles" if upd else "baseline"
            body = self.fx.PUBMED_HEAD + "".join(arts) + dele + "</PubmedArticleSet>\n"
            _write(d / folder / f"pubmed25n{i + 1:04d}.xml.gz", _gz(body.encode()))
        return files

    def pmc_oa(self, files: int, docs: int, size: int) -> int:
        d = self.root("PMC_OA")
        packages = max(2, min(24, math.ceil(docs / 2000)))
        for p, n in enumerate(_split(docs, packages)):
            sub = "oa_comm" if p % 2 == 0 else "oa_noncomm"
            pkg = f"{sub}_xml.PMC{p:03d}xxxxxx.baseline.2024-12-18"
            members, rows = [], []
            for k in range(n):
                pmcid = f"PMC{p:03d}{k:06d}"
                body = self.fx.jats13(pmcid, str(36_000_000 + p * 10**6 + k), random.Random(k)).decode()
                extra = "".join(f"<p>{_xml_escape(self.t.doc(2000, 'literature'))}</p>" for _ in range(max(1, size // 2000)))
                body = body.replace('<sec id="s2">', f'<sec id="s1b"><title>Cohort</title>{extra}</sec><sec id="s2">', 1)
                name = f"PMC{p:03d}xxxxxx/{pmcid}.xml"
                members.append((name, body.encode()))
                rows.append([name, "Invent Med. 2024", pmcid, "2024-12-18 10:00:00", "", "CC BY", "no"])
            _write(d / sub / "xml" / f"{pkg}.tar.gz", self.fx.targz_bytes(members))
            _write(d / sub / "xml" / f"{pkg}.filelist.csv", self.fx.csv_text(
                ["Article File", "Article Citation", "AccessionID", "LastUpdated (YYYY-MM-DD HH:MM:SS)", "PMID", "License", "Retracted"], rows))
        return 2 * packages

    def mimic_iii_notes(self, files: int, docs: int, size: int) -> int:
        hdr = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME", "CATEGORY", "DESCRIPTION", "CGID", "ISERROR", "TEXT"]
        rows = [[i + 1, 10_000 + i, 100_000 + i, "2150-01-01", "", "", "Nursing", "Report", "", "1" if i % 500 == 7 else "",
                 "Admission Date:  [**2150-1-1**]\n" + self.t.doc(size)] for i in range(docs)]
        return _write(self.root("PHYSIONET") / "mimiciii/1.4/NOTEEVENTS.csv.gz", _gz(self.fx.csv_text(hdr, rows).encode()))

    def _mimic_iv(self, fname: str, kind: str, docs: int, size: int) -> int:
        hdr = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
        rows = [[f"{10_000_000 + i}-{kind}-{i % 30 + 1}", 10_000_000 + i, 20_000_000 + i, kind, i % 30 + 1,
                 "2180-01-01 00:00:00", "", "Name:  ___  Unit No:  ___\n" + self.t.doc(size)] for i in range(docs)]
        return _write(self.root("PHYSIONET") / "mimic-iv-note/2.2/note" / fname, _gz(self.fx.csv_text(hdr, rows).encode()))

    def mimic_iv_discharge(self, files: int, docs: int, size: int) -> int:
        return self._mimic_iv("discharge.csv.gz", "DS", docs, size)

    def mimic_iv_radiology(self, files: int, docs: int, size: int) -> int:
        return self._mimic_iv("radiology.csv.gz", "RR", docs, size)

    def mimic_cxr_reports(self, files: int, docs: int, size: int) -> int:
        members = []
        for i in range(docs):
            subj = 10_000_000 + i
            members.append((f"files/p{str(subj)[:2]}/p{subj}/s{50_000_000 + i}.txt",
                            f"                                 FINAL REPORT\n INDICATION:  ___ with cough\n\n FINDINGS:\n {self.t.doc(size)}\n".encode()))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=3) as z:
            for name, data in members:
                z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED)
        return _write(self.root("PHYSIONET") / "mimic-cxr/2.0.0/mimic-cxr-reports.zip", buf.getvalue())

    def chexpert_plus(self, files: int, docs: int, size: int) -> int:
        hdr = ["path_to_image", "frontal_lateral", "deid_patient_id", "report", "section_findings", "section_impression", "split"]
        rows, i = [], 0
        while len(rows) < docs:
            report = self.t.doc(size)
            for v in range(2 if i % 5 else 1):  # the report repeats for every image of a study
                rows.append([f"train/patient{i:05d}/study1/view{v + 1}.jpg", "Frontal" if v == 0 else "Lateral", f"patient{i:05d}",
                             report, "", "", "train"])
            i += 1
        return _write(self.root("CHEXPERT_PLUS") / "df_chexpert_plus_240401.csv", self.fx.csv_text(hdr, rows[:docs]))

    def n2c2_2018_ade(self, files: int, docs: int, size: int) -> int:
        for i in range(docs):
            folder = "training_20180910" if i % 5 < 3 else "test"
            text = f"Admission Date:  [**2115-2-22**]\n\nDischarge Medications:\n1. Metoprolol 25 mg PO BID\n{self.t.doc(size)}\n"
            _write(self.root("N2C2") / "2018_track2" / folder / f"{100_000 + i}.txt", text)
            j = text.index("Metoprolol")
            _write(self.root("N2C2") / "2018_track2" / folder / f"{100_000 + i}.ann", f"T1\tDrug {j} {j + 10}\tMetoprolol\n")
        return 2 * docs

    def n2c2_2014_deid(self, files: int, docs: int, size: int) -> int:
        for i in range(docs):
            folder = "training-PHI-Gold-Set1" if i % 3 else "testing-PHI-Gold-fixed"
            note = f"Record date: 2067-05-03\n\n{self.t.doc(size)}\n"
            xml = ('<?xml version="1.0" encoding="UTF-8" ?>\n<deIdi2b2>\n<TEXT><![CDATA[' + note + "]]></TEXT>\n<TAGS>\n"
                   '<DATE id="P0" start="13" end="23" text="2067-05-03" TYPE="DATE" comment="" />\n</TAGS>\n</deIdi2b2>\n')
            _write(self.root("N2C2") / "2014_deid" / folder / f"{100 + i // 5:03d}-{i % 5 + 1:02d}.xml", xml)
        return docs

    def _jsonl(self, path: Path, rows: list[dict]) -> int:
        return _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def mednli(self, files: int, docs: int, size: int) -> int:
        for split, n in zip(("train", "dev", "test"), _split(docs, 3)):
            rows = [{"sentence1": self.t.doc(size), "sentence2": "Patient has elevated Cr", "gold_label": "neutral",
                     "pairID": f"{split}-{k:08d}"} for k in range(n)]
            self._jsonl(self.root("PHYSIONET") / "mednli/1.0.0" / f"mli_{split}_v1.jsonl", rows)
        return 3

    def mtsamples(self, files: int, docs: int, size: int) -> int:
        rows, prev = [], None
        for i in range(docs):
            text = prev if (prev and i % 2) else self.t.doc(size)  # about half repeat another row
            rows.append([i, "Sample", "General Medicine", f"Sample {i}", text, ""])
            prev = text
        return _write(self.root("PUBLIC_DATA") / "mtsamples/mtsamples.csv",
                      self.fx.csv_text(["", "description", "medical_specialty", "sample_name", "transcription", "keywords"], rows))

    def aci_bench(self, files: int, docs: int, size: int) -> int:
        for f, n in enumerate(_split(docs, files)):
            rows = [["virtassist", f"D2N{k:03d}", "[doctor] hi .\n[patient] " + self.t.doc(size // 2), self.t.doc(size // 2)] for k in range(n)]
            _write(self.root("PUBLIC_DATA") / "aci-bench/data/challenge_data" / f"part{f}.csv",
                   self.fx.csv_text(["dataset", "encounter_id", "dialogue", "note"], rows))
        return files

    def mts_dialog(self, files: int, docs: int, size: int) -> int:
        for name, n in zip(("TrainingSet", "ValidationSet", "TestSet"), _split(docs, 3)):
            rows = [[k, "GENHX", self.t.doc(size // 2), "Doctor: " + self.t.doc(size // 2)] for k in range(n)]
            _write(self.root("PUBLIC_DATA") / "MTS-Dialog/Main-Dataset" / f"MTS-Dialog-{name}.csv",
                   self.fx.csv_text(["ID", "section_header", "section_text", "dialogue"], rows))
        return 3

    def pmc_patients(self, files: int, docs: int, size: int) -> int:
        rows = [[i, f"{7_000_000 + i}-1", str(33_000_000 + i), "", f"Case {i}", self.t.doc(size, "literature"), "", "M"] for i in range(docs)]
        return _write(self.root("HF_DATASETS") / "zhengyun21/PMC-Patients/PMC-Patients.csv",
                      self.fx.csv_text(["patient_id", "patient_uid", "PMID", "file_path", "title", "patient", "age", "gender"], rows))

    def asclepius_notes(self, files: int, docs: int, size: int) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        per = _split(docs, files)
        pid = 0
        for f, n in enumerate(per):
            notes, pids = [], []
            while len(notes) < n:
                note = self.t.doc(size)
                for _ in range(min(3, n - len(notes))):  # the note repeats for each question
                    notes.append(note)
                    pids.append(pid)
                pid += 1
            tbl = pa.table({"patient_id": pids, "note": notes, "question": ["Q"] * n, "answer": ["A"] * n, "task": ["Question Answering"] * n})
            out = self.root("HF_DATASETS") / "starmpcc/Asclepius-Synthetic-Clinical-Notes/default/train" / f"{f:04d}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(tbl, out, compression="zstd")
        return files

    def augmented_clinical_notes(self, files: int, docs: int, size: int) -> int:
        rows = [{"idx": i, "note": "", "full_note": self.t.doc(size // 2), "conversation": "Doctor: " + self.t.doc(size // 2),
                 "summary": "{}"} for i in range(docs)]
        return self._jsonl(self.root("HF_DATASETS") / "AGBonnet/augmented-clinical-notes/augmented_notes_30K.jsonl", rows)

    def clinical_guidelines(self, files: int, docs: int, size: int) -> int:
        rows = [{"id": f"{i:012x}", "source": "who", "title": f"Guideline {i}", "clean_text": self.t.doc(size, "literature"),
                 "raw_text": "", "url": "", "overview": ""} for i in range(docs)]
        return self._jsonl(self.root("HF_DATASETS") / "epfl-llm/guidelines/open_guidelines.jsonl", rows)

    def clinical_trials(self, files: int, docs: int, size: int) -> int:
        members = []
        for i in range(docs):
            nct = f"NCT{i:08d}"
            ps = {"identificationModule": {"nctId": nct, "briefTitle": f"Invented Trial {i}"},
                  "descriptionModule": {"briefSummary": self.t.doc(size // 2), "detailedDescription": self.t.doc(size // 2)}}
            members.append((f"{nct[-2:]}/{nct}.json", json.dumps({"protocolSection": ps, "hasResults": False}).encode()))
        return _write(self.root("CTGOV") / "ctg-studies.json.zip", self.fx.zip_bytes(members))

    def medquad(self, files: int, docs: int, size: int) -> int:
        for i in range(docs):
            coll = f"{i % 12 + 1}_Coll{i % 12 + 1}_QA"
            ans = "" if i % 12 >= 9 else _xml_escape(self.t.doc(size))  # three collections ship without answers
            doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document id="{i:07d}" source="NIH" url="https://example.org/{i}">'
                   f"<Focus>Topic {i}</Focus><QAPairs><QAPair pid=\"1\"><Question qid=\"{i:07d}-1\" qtype=\"information\">What is topic {i} ?</Question>"
                   f"<Answer>{ans}</Answer></QAPair></QAPairs></Document>\n")
            _write(self.root("PUBLIC_DATA") / "MedQuAD" / coll / f"{i:07d}.xml", doc)
        return docs

    def codiesp(self, files: int, docs: int, size: int) -> int:
        base = self.root("PUBLIC_DATA") / "codiesp/final_dataset_v4_to_publish"
        for i in range(docs):
            split = ("train", "train", "dev", "test")[i % 4]
            lang = "text_files" if i % 2 == 0 else "text_files_en"
            text = ("Varón de 37 años con dolor lumbar. " if lang == "text_files" else "A 37-year-old man with low back pain. ") + self.t.doc(size)
            _write(base / split / lang / f"S{i // 2:010d}-1.txt", text)
        return docs

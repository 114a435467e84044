"""Read throughput of the PubMed (MEDLINE XML) and MIMIC-IV-Note (CSV) readers.

Generates a PubMed-like ``pubmed25n0001.xml.gz`` and a MIMIC-IV-like ``discharge.csv.gz`` of
about ``--mb`` MB of *uncompressed* data each, then reads them through the connectors in this
process (one core) and prints MB/s of uncompressed input per core, documents/s and the
compressed MB/s.  The default size is tiny (smoke test); the issue's figure uses ``--mb 100``.

    python -m bench.readers            # ~2 MB each, a few seconds
    python -m bench.readers --mb 100   # the 100 MB measurement

Measured 2026-11-25 on the shared 2-core dev machine (load ~7; CPU-time based):
``--mb 100``: pubmed 17.8 MB/s/core (43,693 citations in 5.6 CPU s), mimic_iv_note
124 MB/s/core (20,471 notes in 0.8 CPU s); wall-clock figures were 5.2 and 28.5 MB/s because
other jobs shared the two cores.
"""
from __future__ import annotations

import argparse
import gzip
import os
import random
import tempfile
import time
from pathlib import Path

from connectors.medline import PubmedConnector
from connectors.mimic import MimicIVNoteConnector
from engine.core.manifest import SourceConfig
from engine.core.records import Doc

_WORDS = ("patient admitted with shortness of breath chest pain fever cough sepsis pneumonia renal failure insulin "
          "glucose hemoglobin troponin echocardiogram ejection fraction antibiotics ceftriaxone azithromycin discharge "
          "follow up outpatient clinic radiograph opacity effusion edema cardiomegaly history hypertension diabetes "
          "stable improved worsened continued started stopped daily twice mg intravenous oral the and of in to with "
          "was were is are for on at by from after before during without").split()


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(8, 24))).capitalize() + "."


def _para(rng: random.Random, n: int) -> str:
    return " ".join(_sentence(rng) for _ in range(n))


def make_pubmed(path: Path, mb: float, seed: int = 0) -> int:
    rng = random.Random(seed)
    target = int(mb * 1e6)
    raw = 0
    with gzip.open(path, "wb", compresslevel=6) as g:
        head = b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "pubmed_250101.dtd">\n<PubmedArticleSet>\n'
        g.write(head)
        raw += len(head)
        pmid = 30000000
        while raw < target:
            pmid += 1
            abst = "".join(f'<AbstractText Label="{lab}" NlmCategory="{lab}">{_para(rng, 2)} <i>in vivo</i> 10<sup>9</sup></AbstractText>'
                           for lab in ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"))
            rec = (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
                   f"<DateRevised><Year>2024</Year><Month>01</Month><Day>05</Day></DateRevised><Article PubModel=\"Print\">"
                   f"<Journal><JournalIssue CitedMedium=\"Internet\"><Volume>1</Volume><PubDate><Year>2020</Year></PubDate></JournalIssue>"
                   f"<Title>Journal of Benchmarks</Title></Journal><ArticleTitle>{_sentence(rng)}</ArticleTitle><Abstract>{abst}</Abstract>"
                   f"<AuthorList><Author><LastName>Doe</LastName><ForeName>J</ForeName></Author></AuthorList><Language>eng</Language></Article>"
                   f"<MeshHeadingList><MeshHeading><DescriptorName UI=\"D000001\" MajorTopicYN=\"N\">Sepsis</DescriptorName></MeshHeading></MeshHeadingList>"
                   f"</MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
                   f"<ArticleId IdType=\"pubmed\">{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>\n").encode()
            g.write(rec)
            raw += len(rec)
        g.write(b"</PubmedArticleSet>\n")
        raw += 20
    return raw


def make_discharge(path: Path, mb: float, seed: int = 1) -> int:
    rng = random.Random(seed)
    target = int(mb * 1e6)
    raw = 0
    with gzip.open(path, "wb", compresslevel=6) as g:
        head = b"note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n"
        g.write(head)
        raw += len(head)
        i = 0
        while raw < target:
            i += 1
            sid = 10000000 + i
            text = (f" \nName:  ___                     Unit No:   ___\n \nAdmission Date:  ___              Discharge Date:   ___\n \n"
                    f"Service: MEDICINE\n \nChief Complaint:\n{_sentence(rng)}\n \nHistory of Present Illness:\n{_para(rng, 12)}\n \n"
                    f"Brief Hospital Course:\n{_para(rng, 20)}\n \nDischarge Instructions:\n\"{_para(rng, 6)}\", with commas, and quotes\n")
            row = f'{sid}-DS-{i % 40},{sid},{20000000 + i},DS,{i % 40},2180-05-07 00:00:00,2180-05-09 15:26:00,"{text.replace(chr(34), chr(34) * 2)}"\n'.encode()
            g.write(row)
            raw += len(row)
    return raw


def _time_read(conn, reps: int = 1) -> tuple[float, float, int]:
    """(best wall seconds, best CPU seconds of this process, documents)."""
    best = best_cpu = float("inf")
    ndocs = 0
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        ndocs = 0
        for u in conn.discover():
            for r in conn.read(u):
                ndocs += isinstance(r, Doc)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, ndocs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=2.0, help="uncompressed MB per generated file (default 2: smoke test; 100 for the issue's figure)")
    ap.add_argument("--reps", type=int, default=1, help="repetitions; the best time is reported")
    ap.add_argument("--dir", default=None, help="where to generate the files (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        pm = tmp / "pubmed25n0001.xml.gz"
        ds = tmp / "discharge.csv.gz"
        t0 = time.perf_counter()
        raw_pm = make_pubmed(pm, args.mb)
        raw_ds = make_discharge(ds, args.mb)
        print(f"generated {raw_pm / 1e6:.1f} MB PubMed XML ({pm.stat().st_size / 1e6:.1f} MB gz) and "
              f"{raw_ds / 1e6:.1f} MB MIMIC-IV CSV ({ds.stat().st_size / 1e6:.1f} MB gz) in {time.perf_counter() - t0:.1f}s")
        cases = [
            ("pubmed (MEDLINE XML .gz)", PubmedConnector(SourceConfig(name="pubmed", connector="pubmed", uri=str(pm))), raw_pm, pm),
            ("mimic_iv_note (CSV .gz)", MimicIVNoteConnector(SourceConfig(name="mimic_iv_discharge", connector="mimic_iv_note", uri=str(ds))), raw_ds, ds),
        ]
        # MB/s per core = uncompressed MB / CPU seconds of this (single-threaded) reader; the wall
        # figure is printed too and matches it on an idle core (it is lower on a shared machine)
        print(f"{'reader':28s} {'MB/s/core':>10s} {'wall MB/s':>10s} {'docs/s':>10s} {'gz MB/s':>8s} {'docs':>8s} {'cpu s':>7s}   (load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cpus)")
        for label, conn, raw, path in cases:
            secs, cpu, n = _time_read(conn, args.reps)
            print(f"{label:28s} {raw / 1e6 / cpu:10.1f} {raw / 1e6 / secs:10.1f} {n / cpu:10.0f} {path.stat().st_size / 1e6 / cpu:8.1f} {n:8d} {cpu:7.2f}")


if __name__ == "__main__":
    main()

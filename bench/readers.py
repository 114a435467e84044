"""Read throughput of the PubMed (MEDLINE XML) and MIMIC-IV-Note (CSV) readers.

Generates a PubMed-like ``pubmed25n0001.xml.gz`` and a MIMIC-IV-like ``discharge.csv.gz`` of
about ``--mb`` MB of *uncompressed* data each, then reads them through the connectors in this
process (one core) and prints MB/s of uncompressed input per core, documents/s and the
compressed MB/s.  The default size is tiny (smoke test); the figure below uses ``--mb 100``.

    python -m bench.readers            # ~2 MB each, a few seconds
    python -m bench.readers --mb 100   # the 100 MB measurement

Measured 2026-11-25 on the shared 2-core dev machine (load ~7; CPU-time based):
``--mb 100``: pubmed 17.8 MB/s/core (43,693 citations in 5.6 CPU s), mimic_iv_note
124 MB/s/core (20,471 notes in 0.8 CPU s); wall-clock figures were 5.2 and 28.5 MB/s because
other jobs shared the two cores.
"""
from __future__ import annotations

import gzip
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from bench import common
from bench.synth import words as W
from connectors.medline import PubmedConnector
from connectors.mimic import MimicIVNoteConnector
from engine.core.manifest import SourceConfig
from engine.core.records import Doc

_WORDS = W.FILLER_WORDS + W.SYMPTOMS + W.DRUGS


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(8, 24))).capitalize() + "."


def _write_gzip(path: Path, head: bytes, record, target: int, tail: bytes = b"") -> int:
    """``head``, then ``record(1)``, ``record(2)``, ... until ``target`` bytes, then ``tail``, gzipped;
    returns the uncompressed size."""
    raw = len(head)
    with gzip.open(path, "wb", compresslevel=6) as g:
        g.write(head)
        i = 0
        while raw < target:
            i += 1
            rec = record(i)
            g.write(rec)
            raw += len(rec)
        g.write(tail)
    return raw + len(tail)


def _para(rng: random.Random, n: int) -> str:
    return " ".join(_sentence(rng) for _ in range(n))


def make_pubmed(path: Path, mb: float, seed: int = 0) -> int:
    rng = random.Random(seed)

    def article(i: int) -> bytes:
        pmid = 30000000 + i
        abst = "".join(f'<AbstractText Label="{lab}" NlmCategory="{lab}">{_para(rng, 2)} <i>in vivo</i> 10<sup>9</sup></AbstractText>'
                       for lab in ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"))
        return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
                f"<DateRevised><Year>2024</Year><Month>01</Month><Day>05</Day></DateRevised><Article PubModel=\"Print\">"
                f"<Journal><JournalIssue CitedMedium=\"Internet\"><Volume>1</Volume><PubDate><Year>2020</Year></PubDate></JournalIssue>"
                f"<Title>Journal of Benchmarks</Title></Journal><ArticleTitle>{_sentence(rng)}</ArticleTitle><Abstract>{abst}</Abstract>"
                f"<AuthorList><Author><LastName>Doe</LastName><ForeName>J</ForeName></Author></AuthorList><Language>eng</Language></Article>"
                f"<MeshHeadingList><MeshHeading><DescriptorName UI=\"D000001\" MajorTopicYN=\"N\">Sepsis</DescriptorName></MeshHeading></MeshHeadingList>"
                f"</MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
                f"<ArticleId IdType=\"pubmed\">{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>\n").encode()

    head = (b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
            b'1st January 2025//EN" "pubmed_250101.dtd">\n<PubmedArticleSet>\n')
    return _write_gzip(path, head, article, int(mb * 1e6), b"</PubmedArticleSet>\n")


def make_discharge(path: Path, mb: float, seed: int = 1) -> int:
    rng = random.Random(seed)

    def note(i: int) -> bytes:
        sid = 10000000 + i
        text = (f" \nName:  ___                     Unit No:   ___\n \nAdmission Date:  ___              Discharge Date:   ___\n \n"
                f"Service: MEDICINE\n \nChief Complaint:\n{_sentence(rng)}\n \nHistory of Present Illness:\n{_para(rng, 12)}\n \n"
                f"Brief Hospital Course:\n{_para(rng, 20)}\n \nDischarge Instructions:\n\"{_para(rng, 6)}\", with commas, and quotes\n")
        return f'{sid}-DS-{i % 40},{sid},{20000000 + i},DS,{i % 40},2180-05-07 00:00:00,2180-05-09 15:26:00,"{text.replace(chr(34), chr(34) * 2)}"\n'.encode()

    head = b"note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n"
    return _write_gzip(path, head, note, int(mb * 1e6))


def _time_read(conn, reps: int = 1) -> tuple[float, float, int]:
    """(best wall seconds, best CPU seconds of this process, documents)."""
    best = best_cpu = float("inf")
    ndocs = 0
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        ndocs = 0
        for u in conn.discover():
            for r in conn.records(u):
                ndocs += isinstance(r, Doc)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, ndocs


def _args(ap) -> None:
    ap.add_argument("--mb", type=float, default=2.0, help="uncompressed MB per generated file (default 2: smoke test; 100 for the figure above)")
    ap.add_argument("--reps", type=int, default=1, help="repetitions; the best time is reported")
    ap.add_argument("--dir", default=None, help="where to generate the files (default: a temporary folder)")


def _run(a) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        tmp = Path(tmp)
        pm = tmp / "pubmed25n0001.xml.gz"
        ds = tmp / "discharge.csv.gz"
        cases = [
            ("pubmed (MEDLINE XML .gz)", PubmedConnector(SourceConfig(name="pubmed", connector="pubmed", uri=str(pm))), make_pubmed(pm, a.mb), pm),
            ("mimic_iv_note (CSV .gz)", MimicIVNoteConnector(SourceConfig(name="mimic_iv_discharge", connector="mimic_iv_note", uri=str(ds))),
             make_discharge(ds, a.mb), ds),
        ]
        # MB/s per core = uncompressed MB / CPU seconds of this (single-threaded) reader; the wall
        # figure is printed too and matches it on an idle core (it is lower on a shared machine)
        for label, conn, raw, path in cases:
            secs, cpu, n = _time_read(conn, a.reps)
            gz = path.stat().st_size
            rows.append({"reader": label, "raw_mb": raw / 1e6, "gz_mb": gz / 1e6, "docs": n, "cpu_s": cpu, "wall_s": secs,
                         "mb_s_core": raw / 1e6 / cpu, "mb_s_wall": raw / 1e6 / secs, "docs_s_core": n / cpu, "gz_mb_s_core": gz / 1e6 / cpu})
    return {"rows": rows, "loadavg": os.getloadavg()[0]}


def table(res: dict) -> str:
    head = ["reader", "MB/s/core", "wall MB/s", "docs/s", "gz MB/s", "docs", "cpu s"]
    body = [[r["reader"], r["mb_s_core"], r["mb_s_wall"], round(r["docs_s_core"]), r["gz_mb_s_core"], r["docs"], r["cpu_s"]]
            for r in res["rows"]]
    gen = ", ".join(f"{r['reader']}: {r['raw_mb']:.1f} MB ({r['gz_mb']:.1f} MB gz)" for r in res["rows"])
    return f"generated {gen}\n{common.fmt_table(body, head)}\n(load {res['loadavg']:.1f}, {os.cpu_count()} cpus)"


def main(argv: list[str] | None = None) -> int:
    common.bench_main(argv, "readers", __doc__, _args, _run, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The all20 input shape at a chosen scale: the same kinds and counts of files per source, in the
providers' formats, with generated text, plus a manifest that reads it with the real connectors.

``SHAPE`` holds the public size of each of the 20 sources of ``manifests/all20.yaml`` (files,
documents, average document bytes: approximate counts from the providers' release pages).
At ``--scale f`` every source gets ``round(docs x f)`` documents (at least a few) in
``round(files x f)`` files (at least one): big-file sources (NOTEEVENTS, PubMed baseline files)
keep few large files; small-file sources (MIMIC-CXR reports, n2c2, MedQuAD, CodiEsp,
ClinicalTrials.gov studies) keep their one-document-per-file layout.  ``--full-small`` lays out
the small-file sources at their real file counts (227,835 CXR reports ...) with the text scaled.

Formats: gzipped MEDLINE XML (baseline + update files with a revision and a DeleteCitation),
JATS tarballs with their ``filelist.csv``, NOTEEVENTS / MIMIC-IV-Note gzipped CSV, the CXR
report zip, brat ``.txt`` / ``.ann`` and i2b2 XML notes, JSONL, CSV, Parquet and the ctgov zip,
the same layouts as the connector fixtures (``tests/fixtures/all20/make_fixtures.py``).

``--shape small`` instead writes ``--files`` JSON Lines files of ``--docs-per-file`` documents
(one work unit each): the per-unit overhead case.

    python -m bench.rehearsal --out /tmp/r20 --scale 0.0005            # all20 shape, local
    python -m bench.rehearsal --out /tmp/small --shape small --files 2000 --docs-per-file 3

The manifest ``<out>/rehearsal.yaml`` is ``manifests/all20.yaml`` with its ``${ROOT}``s pointing
at the generated tree (``--input-uri`` when the tree is uploaded elsewhere, e.g. ``s3://``),
the tokenizer and output given, de-identification off unless ``--deid``.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.rehearsal_formats import ROOT, ROOTS, Texts, Writer, fixture_formats


@dataclass(frozen=True)
class Shape:
    name: str  # manifest source name
    root: str  # the manifest's ${ROOT} variable
    files: int  # files (or archive members for member sources)
    docs: int  # documents (rows, articles, reports)
    doc_bytes: int  # average text bytes per document
    small_files: bool  # one document per file: counts of files matter, --full-small keeps them


#: approximate public sizes of the 20 sources (releases current in 2024-2025)
SHAPE = [
    Shape("pubmed", "PUBMED", 1274 + 250, 36_500_000, 1_300, False),
    Shape("pmc_oa", "PMC_OA", 5_400_000, 5_400_000, 35_000, True),
    Shape("mimic_iii_notes", "PHYSIONET", 1, 2_083_180, 1_900, False),
    Shape("mimic_iv_discharge", "PHYSIONET", 1, 331_793, 10_500, False),
    Shape("mimic_iv_radiology", "PHYSIONET", 1, 2_321_355, 1_000, False),
    Shape("mimic_cxr_reports", "PHYSIONET", 227_835, 227_835, 1_300, True),
    Shape("chexpert_plus", "CHEXPERT_PLUS", 1, 223_462, 1_500, False),
    Shape("n2c2_2018_ade", "N2C2", 505, 505, 11_000, True),
    Shape("n2c2_2014_deid", "N2C2", 1_304, 1_304, 3_700, True),
    Shape("mednli", "PHYSIONET", 3, 14_049, 120, False),
    Shape("mtsamples", "PUBLIC_DATA", 1, 4_999, 3_000, False),
    Shape("aci_bench", "PUBLIC_DATA", 5, 207, 6_000, False),
    Shape("mts_dialog", "PUBLIC_DATA", 3, 1_701, 600, False),
    Shape("pmc_patients", "HF_DATASETS", 1, 167_034, 2_500, False),
    Shape("asclepius_notes", "HF_DATASETS", 2, 158_114, 2_000, False),
    Shape("augmented_clinical_notes", "HF_DATASETS", 1, 30_000, 3_000, False),
    Shape("clinical_guidelines", "HF_DATASETS", 1, 37_970, 8_000, False),
    Shape("clinical_trials", "CTGOV", 540_000, 540_000, 2_500, True),
    Shape("medquad", "PUBLIC_DATA", 11_000, 11_000, 2_200, True),
    Shape("codiesp", "PUBLIC_DATA", 2_000, 2_000, 1_200, True),
]


def scaled(shape: Shape, scale: float, full_small: bool) -> tuple[int, int, int]:
    """(files, documents, bytes per document) of one source at ``scale``."""
    docs = max(6, round(shape.docs * scale))
    size = shape.doc_bytes
    if full_small and shape.small_files and shape.name != "pmc_oa":
        docs = shape.files
        size = max(200, round(shape.doc_bytes * min(1.0, scale * 100)))
    files = docs if shape.small_files else max(1, min(shape.files, round(shape.files * scale)))
    if shape.name == "pubmed":  # baseline and update files both
        files = max(2, files)
    return files, docs, size


def generate(base: str | Path, scale: float, full_small: bool = False, seed: int = 0, only: list[str] | None = None) -> dict:
    """Write the all20 shape under ``base``; returns per-source files / documents / bytes."""
    base = Path(base)
    w = Writer(base, Texts(seed), fixture_formats())
    out = {}
    for s in SHAPE:
        if only and s.name not in only:
            continue
        files, docs, size = scaled(s, scale, full_small)
        written = getattr(w, s.name)(files, docs, size)
        out[s.name] = {"files": written, "docs": docs, "doc_bytes": size}
    return out


def generate_small(base: str | Path, files: int, docs_per_file: int, doc_bytes: int = 1_600, seed: int = 0) -> dict:
    """``files`` JSON Lines files of ``docs_per_file`` documents each, under ``base/small``."""
    t = Texts(seed)
    d = Path(base) / "small"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        rows = [{"id": f"n{i:06d}-{k}", "text": t.doc(doc_bytes)} for k in range(docs_per_file)]
        (d / f"part-{i:06d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"small": {"files": files, "docs": files * docs_per_file, "doc_bytes": doc_bytes}}


def write_manifest(path: str | Path, input_uri: str, output: str, tokenizer: str, shape: str = "all20",
                   deid: bool = False, near: bool = True, resources: dict | None = None) -> Path:
    """The manifest of a generated tree at ``input_uri`` (a local folder or an object store prefix)."""
    input_uri = input_uri.rstrip("/")
    if shape == "small":
        doc = {"name": "rehearsal-small", "sources": [{"name": "small", "connector": "jsonl", "uri": f"{input_uri}/small/*.jsonl",
                                                       "options": {"text_field": "text", "id_field": "id"}, "deid": "skip"}],
               "dedup": {"exact": True} | ({"near": {"threshold": 0.8, "num_perm": 128, "ngram": 5}} if near else {}),
               "deid": {"default": "skip"}}
    else:
        text = (ROOT / "manifests" / "all20.yaml").read_text()
        for var, sub in ROOTS.items():
            text = text.replace("${" + var + "}", f"{input_uri}/{sub}")
        doc = yaml.safe_load(text)
        doc["name"] = "rehearsal-all20"
        if not near:
            doc["dedup"].pop("near", None)
        if not deid:
            doc["deid"] = {"default": "skip"}
            for s in doc["sources"]:
                s["deid"] = "skip"
    doc["output"] = output
    doc["tokenizer"] = tokenizer
    doc["max_seq_len"] = doc.get("max_seq_len", 8192)
    doc["resources"] = {**doc.get("resources", {}), **(resources or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def upload(local: str | Path, remote: str, fs) -> int:
    """Copy a generated tree to an object store prefix (``bucket/prefix``); returns the file count."""
    files = [p for p in Path(local).rglob("*") if p.is_file() and p.suffix != ".yaml"]
    bucket = remote.split("/", 1)[0]
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    lpaths = [str(p) for p in files]
    rpaths = [remote.rstrip("/") + "/" + str(p.relative_to(local)) for p in files]
    for i in range(0, len(lpaths), 500):
        fs.put(lpaths[i:i + 500], rpaths[i:i + 500])
    return len(files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rehearsal", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="local folder for the generated tree and its manifest")
    ap.add_argument("--shape", choices=["all20", "small"], default="all20")
    ap.add_argument("--scale", type=float, default=0.0005, help="documents per source = public count x scale")
    ap.add_argument("--full-small", action="store_true", help="small-file sources at their real file counts")
    ap.add_argument("--files", type=int, default=2000, help="--shape small: JSON Lines files (one unit each)")
    ap.add_argument("--docs-per-file", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", default=str(ROOT / "tests" / "fixtures" / "tokenizer.json"))
    ap.add_argument("--output", help="build output URI written into the manifest (default <out>/build)")
    ap.add_argument("--input-uri", help="where the build will read the tree (default: --out itself)")
    ap.add_argument("--deid", action="store_true", help="keep the manifest's de-identification policies")
    ap.add_argument("--no-near", action="store_true", help="exact dedup only")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.shape == "small":
        stats = generate_small(out, a.files, a.docs_per_file, seed=a.seed)
    else:
        stats = generate(out, a.scale, a.full_small, a.seed)
    man = write_manifest(out / "rehearsal.yaml", a.input_uri or str(out.resolve()), a.output or str(out.resolve() / "build"),
                         a.tokenizer, a.shape, a.deid, not a.no_near)
    for name, s in stats.items():
        print(f"{name:<26} {s['files']:>8,} files {s['docs']:>9,} docs ~{s['doc_bytes']:,} B/doc")
    print(f"manifest {man}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

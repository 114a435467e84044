"""Tokenize + pack: the engine's pack phase vs the tokenizer ceiling and vs HF ``datasets``.

On the same generated text (clinical + literature, ``--mb``), the same tokenizer (``--tokenizer``;
default: the 50k byte-level BPE of :mod:`bench.tokenizer50k`, ModernBERT's id layout, trained on
the bench corpus) and the same number of threads T, side by side in one run:

* **ceiling**: raw ``tokenizers`` ``Tokenizer.encode_batch_fast`` over the texts in batches
  of 512, one process with ``RAYON_NUM_THREADS=T`` (nothing else: no windows, no packing,
  no output): the most a tokenize+pack step built on ``tokenizers`` could reach.
* **engine**: ``Worker.tokenize_unit`` + ``Worker.pack_group`` exactly as a build runs them:
  read the staged document batches (Arrow IPC, zstd), encode with the manifest's
  ``tokenizer_backend`` (``--backend``, default ``auto``: fastokens when it encodes this
  tokenizer exactly, see :mod:`engine.tokenizer.backends`), ``[CLS] .. [SEP]`` windows (staged
  as uint16), best-fit packing into ``max_seq_len`` rows, shard write (Arrow IPC, zstd, sha256).
  T threads = T worker processes of one thread each (how the engine scales: one actor per
  CPU), each on a contiguous 1/T of the bytes, started together; time = the slowest; and
  one worker with T threads (``resources.cpus_per_worker: T``): the faster counts
  (``engine.mode`` in the JSON says which).
* **datasets**: what users do today: ``Dataset.map(batched=True)`` with a
  ``transformers.PreTrainedTokenizerFast`` on the same ``tokenizer.json`` (only
  ``input_ids`` kept: the cheapest form), ``num_proc=T`` when T > 1, then ``save_to_disk``.
  The in-memory ``Dataset`` is built before the clock starts (generous to the baseline).
* **run_mlm** (``--run-mlm``): the packing recipe users copy from transformers'
  ``run_mlm.py``: ``map(tokenize, return_special_tokens_mask=True)`` then
  ``map(group_texts)`` into max_seq_len blocks (documents concatenated across block
  boundaries, remainder dropped), then ``save_to_disk``: a tokenize + pack to compare with.

Identity check: the ceiling child hashes every document's ids from ``tokenizers``; each engine
worker hashes the ids of its staged windows (``[CLS]``/``[SEP]`` removed, windows of a document
joined); ``ids_identical`` is true only when every part's digest matches.

Targets: engine >= 4x the ceiling per core, >= 5x datasets (MB of input text per second).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import common, data

BATCH = 512
TARGETS = {"vs_ceiling": 4.0, "vs_datasets": 5.0}
_SEP = b"\xff\xff\xff\xff"


def _digest(docs) -> str:
    """sha256 over each document's uint32 ids, in order, with a separator (the same on both sides)."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for ids in docs:
        h.update(np.asarray(ids, dtype=np.uint32).tobytes())
        h.update(_SEP)
    return h.hexdigest()


def _bounds(texts: list[str], parts: int) -> list[int]:
    """Cut points of ``parts`` contiguous runs holding about equal bytes (as the engine's byte-range units do)."""
    import numpy as np

    lens = np.array([len(t) for t in texts], dtype=np.float64)
    mid = np.cumsum(lens) - lens / 2  # a document goes to the part its middle byte falls in
    cuts = np.searchsorted(mid, [lens.sum() * j / parts for j in range(1, parts)]) if len(lens) else []
    return [0, *[int(c) for c in cuts], len(texts)]


def _load_texts(path: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with pa.memory_map(path, "r") as src:
        return ipc.open_file(src).read_all().column("text").to_pylist()


def _save_texts(path: Path, texts: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    t = pa.table({"text": pa.array(texts, pa.large_string())})
    with ipc.new_file(str(path), t.schema) as w:
        w.write_table(t)


def _part(texts: list[str], k: int, parts: int) -> list[str]:
    b = _bounds(texts, parts)
    return texts[b[k] : b[k + 1]]


def _nbytes(texts: list[str]) -> int:
    return sum(len(t.encode("utf-8")) for t in texts)


# ------------------------------------------------------------------------------------------------
# children (run in their own process so RAYON_NUM_THREADS takes effect)


def child_ceiling(a) -> dict:
    from tokenizers import Tokenizer

    texts = _load_texts(a.texts)
    tok = Tokenizer.from_file(a.tokenizer)
    tok.encode_batch_fast(texts[:64], add_special_tokens=False)  # warm the thread pool
    tokens = 0
    ids: list[list[int]] = []
    t0 = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        encs = tok.encode_batch_fast(texts[i : i + BATCH], add_special_tokens=False)
        tokens += sum(len(e.ids) for e in encs)
        ids += [e.ids for e in encs]  # kept for the identity check (cheap next to encoding)
    dt = time.perf_counter() - t0
    b = _bounds(texts, a.parts)
    digests = [_digest(ids[b[k] : b[k + 1]]) for k in range(a.parts)]
    return {"seconds": dt, "bytes": _nbytes(texts), "tokens": tokens, "digests": digests, "digest_all": _digest(ids),
            "version": f"tokenizers {__import__('tokenizers').__version__}"}


def child_engine(a) -> dict:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from engine.core import fsio
    from engine.core.manifest import load_manifest
    from engine.core.records import DOC_SCHEMA
    from engine.run.worker import Worker
    from engine.steps.pack import pack_group
    from engine.steps.tokenize import tokenize_unit

    texts = _part(_load_texts(a.texts), a.part, a.parts)
    work = Path(a.workdir) / f"part{a.part}"
    shutil.rmtree(work, ignore_errors=True)
    mpath = common.write_manifest(work / "m.yaml", [{"name": "bench", "connector": "jsonl", "uri": a.texts}],
                                  a.tokenizer, str(work / "out"), a.max_seq_len)
    m, _ = load_manifest(str(mpath))
    m.tokenizer_backend = a.backend
    w = Worker(m, str(work / "out"), a.tokenizer)
    from engine.tokenizer.backends import choose

    _, choice = choose(w.tokenizer, a.backend)  # chosen once here, before the clock, as the build driver does
    m.tokenizer_backend = choice.backend
    from engine.tokenizer.backends import encoder_for

    encoder_for(w.tokenizer, choice.backend)  # loaded before the clock, as a worker does once at its start
    uri = w.layout.docs("bench", "u0")
    fsio.makedirs(uri.rsplit("/", 1)[0])
    with ipc.new_file(uri, DOC_SCHEMA, options=ipc.IpcWriteOptions(compression="zstd")) as wr:
        for i in range(0, len(texts), BATCH):
            chunk = texts[i : i + BATCH]
            wr.write_table(pa.table({"doc_id": [f"d{a.part}-{i + j}" for j in range(len(chunk))], "text": chunk,
                                     "meta": [None] * len(chunk), "key": [None] * len(chunk), "rank": [0] * len(chunk)},
                                    schema=DOC_SCHEMA))
    common.wait_until(a.start_at)
    t0 = time.perf_counter()
    tres = tokenize_unit(w, "bench", "u0", [])
    res = pack_group(w, "bench", 0, ["u0"], "bench")
    dt = time.perf_counter() - t0
    seconds = {f"tokenize.{k}": v for k, v in tres.seconds.items()} | {f"pack.{k}": v for k, v in res.seconds.items()}
    rows = sum(s.rows for s in res.temp_shards)
    digest = _staged_digest(w.layout.tokens("u0"))
    shutil.rmtree(work, ignore_errors=True)
    return {"seconds": dt, "bytes": _nbytes(texts), "tokens": tres.counts.get("tokens", 0), "rows": rows,
            "stage_seconds": seconds, "shards": len(res.temp_shards), "digest": digest, "backend": choice.as_dict()}


def _staged_digest(uri: str) -> str:
    """The identity digest of a unit's staged windows: specials removed, a document's windows joined."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc

    t = ipc.open_file(pa.memory_map(uri, "r")).read_all()
    docs, cur, last = [], [], None
    for did, w in zip(t.column("doc_id").to_pylist(), t.column("ids").to_numpy(zero_copy_only=False)):
        if did != last and last is not None:
            docs.append(np.concatenate(cur))
            cur = []
        cur.append(w[1:-1])
        last = did
    if cur:
        docs.append(np.concatenate(cur))
    return _digest(docs)


def child_datasets(a) -> dict:
    from datasets import Dataset, disable_progress_bars
    from transformers import PreTrainedTokenizerFast

    disable_progress_bars()
    texts = _load_texts(a.texts)
    tok = PreTrainedTokenizerFast(tokenizer_file=a.tokenizer)
    ds = Dataset.from_dict({"text": texts})
    out = Path(a.workdir) / "hf"
    shutil.rmtree(out, ignore_errors=True)

    def fn(batch):
        return {"input_ids": tok(batch["text"], add_special_tokens=True, return_attention_mask=False,
                                 return_token_type_ids=False)["input_ids"]}

    L = a.max_seq_len
    nproc = a.num_proc if a.num_proc > 1 else None

    def mlm_tokenize(batch):  # transformers' examples/pytorch/language-modeling/run_mlm.py, line_by_line=False
        return tok(batch["text"], return_special_tokens_mask=True)

    def group_texts(examples):  # concatenate, then cut into max_seq_len blocks (the remainder is dropped)
        cat = {k: [x for seq in examples[k] for x in seq] for k in examples}
        n = len(cat["input_ids"]) // L * L
        return {k: [t[i : i + L] for i in range(0, n, L)] for k, t in cat.items()}

    t0 = time.perf_counter()
    if a.child == "datasets_mlm":
        mapped = ds.map(mlm_tokenize, batched=True, num_proc=nproc, remove_columns=["text"])
        mapped = mapped.map(group_texts, batched=True, num_proc=nproc)
    else:
        mapped = ds.map(fn, batched=True, num_proc=nproc, remove_columns=["text"])
    mapped.save_to_disk(str(out))
    dt = time.perf_counter() - t0
    import datasets as hfds
    import transformers

    tokens = sum(len(x) for x in mapped["input_ids"])
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": dt, "bytes": _nbytes(texts), "tokens": tokens, "versions": {"datasets": hfds.__version__, "transformers": transformers.__version__}}


# ------------------------------------------------------------------------------------------------


def run(mb: float = 20, threads: list[int] = (1, 2), max_seq_len: int = 8192, tokenizer: str | None = None,
        workdir: str | None = None, with_datasets: bool = True, repeat: int = 1, run_mlm: bool = False,
        backend: str = "auto") -> dict:
    from bench import tokenizer50k

    tok = tokenizer or tokenizer50k.path()
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-tp-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        texts = data.texts(mb, "mixed", seed=1)
        tpath = work / "texts.arrow"
        _save_texts(tpath, texts)
        base = ["--texts", str(tpath), "--tokenizer", tok, "--workdir", str(work), "--max-seq-len", str(max_seq_len),
                "--backend", backend]
        results = []
        for T in threads:
            best: dict[str, dict] = {}
            for _ in range(max(1, repeat)):  # interleaved repeats, best of each: less sensitive to a noisy machine
                ceil = common.run_child("bench.tokenize_pack", ["--child", "ceiling", *base, "--parts", str(T)], threads=T)
                start = time.time() + 5.0  # children set up, then start together
                procs = common.start_children("bench.tokenize_pack", [["--child", "engine", *base, "--part", str(k), "--parts", str(T),
                                                                        "--start-at", str(start)] for k in range(T)], threads=1)
                parts = common.wait_children(procs)
                eng = {"seconds": max(p["seconds"] for p in parts), "bytes": sum(p["bytes"] for p in parts),
                       "tokens": sum(p["tokens"] for p in parts), "rows": sum(p["rows"] for p in parts),
                       "stage_seconds": [p["stage_seconds"] for p in parts], "backend": parts[0]["backend"]}
                eng["mode"] = f"{T} workers x 1 thread"
                eng["ids_identical"] = [p["digest"] for p in parts] == ceil["digests"]
                if T > 1:  # the other way to give a worker T cores: resources.cpus_per_worker: T (RAYON_NUM_THREADS=T)
                    one = common.run_child("bench.tokenize_pack", ["--child", "engine", *base, "--part", "0", "--parts", "1"], threads=T)
                    one["ids_identical"] = one["digest"] == ceil["digest_all"]
                    if one["seconds"] < eng["seconds"]:
                        eng = one | {"stage_seconds": [one["stage_seconds"]], "mode": f"1 worker x {T} threads"}
                got = {"ceiling": ceil, "engine": eng}
                if with_datasets:
                    got["datasets"] = common.run_child("bench.tokenize_pack", ["--child", "datasets", *base, "--num-proc", str(T)], threads=T)
                if run_mlm:
                    got["datasets_mlm"] = common.run_child("bench.tokenize_pack", ["--child", "datasets_mlm", *base, "--num-proc", str(T)], threads=T)
                for k, v in got.items():
                    if k not in best or v["seconds"] < best[k]["seconds"]:
                        best[k] = v
            ceil, eng = best["ceiling"], best["engine"]
            eng_s = eng["seconds"]
            row = {"threads": T, "mb": eng["bytes"] / 1e6, "ceiling_mb_s": ceil["bytes"] / 1e6 / ceil["seconds"],
                   "engine_mb_s": eng["bytes"] / 1e6 / eng_s, "engine": eng, "ceiling": ceil}
            row["engine_tok_s"] = eng["tokens"] / eng_s
            row["packing_efficiency"] = eng["tokens"] / (eng["rows"] * max_seq_len) if eng["rows"] else 0.0
            row["vs_ceiling"] = row["engine_mb_s"] / row["ceiling_mb_s"]
            row["ids_identical"] = all(v.get("ids_identical", False) for k, v in best.items() if k == "engine")
            row["backend"] = eng["backend"]["backend"]
            if with_datasets:
                hf = best["datasets"]
                row["datasets"] = hf
                row["datasets_mb_s"] = hf["bytes"] / 1e6 / hf["seconds"]
                row["vs_datasets"] = row["engine_mb_s"] / row["datasets_mb_s"]
            if run_mlm:
                row["datasets_mlm"] = best["datasets_mlm"]
                row["datasets_mlm_mb_s"] = best["datasets_mlm"]["bytes"] / 1e6 / best["datasets_mlm"]["seconds"]
                row["vs_datasets_mlm"] = row["engine_mb_s"] / row["datasets_mlm_mb_s"]
            results.append(row)
        return {"bench": "tokenize_pack", "mb": mb, "max_seq_len": max_seq_len, "tokenizer": tok, "rows": results,
                "repeat": repeat,
                "ceiling_version": best["ceiling"].get("version"), "targets": TARGETS,
                "ids_identical": all(r["ids_identical"] for r in results)}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def table(res: dict) -> str:
    rows = []
    for r in res["rows"]:
        rows.append([f"T={r['threads']}", r["ceiling_mb_s"], r["engine_mb_s"], r.get("datasets_mb_s", float("nan")),
                     f"{r['vs_ceiling']:.2f}x", f"{r['vs_datasets']:.2f}x" if "vs_datasets" in r else "-",
                     f"{r['packing_efficiency']:.2%}", r.get("backend", "?"), "yes" if r.get("ids_identical") else "NO"])
        if "vs_datasets_mlm" in r:
            rows[-1] += [r["datasets_mlm_mb_s"], f"{r['vs_datasets_mlm']:.2f}x"]
    head = ["threads", "ceiling MB/s", "engine MB/s", "datasets MB/s", "eng/ceil", "eng/datasets", "pack eff", "backend", "ids =="]
    if any("vs_datasets_mlm" in r for r in res["rows"]):
        head += ["run_mlm MB/s", "eng/run_mlm"]
    t = common.fmt_table(rows, head)
    tg = res.get("targets", TARGETS)
    return t + (f"\ntokenizer {res['tokenizer']}; targets: engine >= {tg['vs_ceiling']:g}x the {res.get('ceiling_version') or 'tokenizers'} "
                f"encode_batch_fast ceiling, >= {tg['vs_datasets']:g}x datasets.map + save_to_disk; ids identical to tokenizers: "
                f"{'yes' if res.get('ids_identical') else 'NO'}")


def _args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--small", action="store_true", help="tiny input (1 MB, T=1) to check the bench runs")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--max-seq-len", type=int, default=8192)
    ap.add_argument("--tokenizer", help="tokenizer.json (default: a 50k byte-level BPE trained on the bench corpus, see bench.tokenizer50k)")
    ap.add_argument("--backend", default="auto", choices=["auto", "hf", "fastokens"], help="the engine's tokenizer_backend")
    ap.add_argument("--workdir")
    ap.add_argument("--no-datasets", action="store_true")
    ap.add_argument("--run-mlm", action="store_true",
                    help="also time transformers' run_mlm.py recipe: map(tokenize) + map(group_texts) into max_seq_len blocks + save_to_disk")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved repeats; the best time of each side counts")
    # child mode
    ap.add_argument("--child", choices=["ceiling", "engine", "datasets", "datasets_mlm"], help=argparse.SUPPRESS)
    ap.add_argument("--texts", help=argparse.SUPPRESS)
    ap.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--parts", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--num-proc", type=int, default=1, help=argparse.SUPPRESS)


_CHILDREN = {"ceiling": child_ceiling, "engine": child_engine, "datasets": child_datasets, "datasets_mlm": child_datasets}


def main(argv: list[str] | None = None) -> int:
    def go(a):
        mb, threads = (1.0, [1]) if a.small else (a.mb, [int(x) for x in a.threads.split(",")])
        return run(mb, threads, a.max_seq_len, a.tokenizer, a.workdir, not a.no_datasets, 1 if a.small else a.repeat, a.run_mlm,
                   a.backend)

    common.bench_main(argv, "tokenize_pack", __doc__, _args, go, table, child=lambda a: _CHILDREN[a.child](a) if a.child else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

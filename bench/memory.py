"""Peak memory per worker as the input grows 1x -> 10x.

Generated clinical + literature JSON Lines (``--mb`` x 1, 3 and 10; 5% exact and 5% near
duplicates; exact + near dedup, de-id skipped, default resources: 256 MB units, 512 MB pack
groups, 32Mi-token shards).  Two ways to run the build, ``--mode``:

* ``inprocess`` (default): one fresh process runs every task of the build (read, dedup
  reduces, near dedup, tokenize, pack) with one ``Worker``, as a one-worker build does; its
  peak resident set is ``VmHWM`` from ``/proc/self/status`` at the end (the kernel's own
  high-water mark: nothing between samples is missed).  No Ray, so a loaded machine does not
  time out the start-up.
* ``ray``: ``python -m engine.build`` (2 Ray workers); every 50 ms the ``VmHWM`` of every
  ``ray::RayWorker`` actor process and of the driver is sampled.

A flat worker peak as the input grows means memory is bounded by configuration (unit size,
shard size, pack buffer), not corpus size.  Target: <= 1.3x from 1x to 10x.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import common, data, tokenizer50k


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler:
    def __init__(self) -> None:
        self.workers: dict[int, int] = {}
        self.driver = 0

    def __call__(self, proc) -> None:
        import psutil

        try:
            root = psutil.Process(proc.pid)
            kids = root.children(recursive=True)
        except psutil.Error:
            return
        self.driver = max(self.driver, _hwm_kb(proc.pid))
        for k in kids:
            try:
                title = " ".join(k.cmdline()[:1]) or k.name()
            except psutil.Error:
                continue
            if title.startswith("ray::RayWorker"):
                self.workers[k.pid] = max(self.workers.get(k.pid, 0), _hwm_kb(k.pid))


def child_inprocess(a) -> dict:
    from bench import stage_profile

    res = stage_profile.profile(0, a.tokenizer, a.backend, a.workdir, input_dir=a.input, deid=False)
    return {"peak_kib": _hwm_kb(os.getpid()), "mb": res["mb"], "tokens": sum(res["tokens"].values()),
            "docs": sum(res["written"].values()) + sum(res["dropped"].values()), "backend": res["backend"]["backend"],
            "written": sum(res["written"].values()), "buckets": res["buckets"]}


def _run_inprocess(mb: float, factors, tok: str, work: Path, backend: str) -> list[dict]:
    from bench import stage_profile

    rows = []
    for f in factors:
        inp = work / f"input-{f}"
        stage_profile.write_inputs(inp, mb * f)
        t0 = time.perf_counter()
        r = common.run_child("bench.memory", ["--child", "--input", str(inp), "--tokenizer", tok, "--backend", backend,
                                              "--workdir", str(work / f"w-{f}")], threads=1)
        rows.append({"factor": f, "mb": r["mb"], "docs": r["docs"], "tokens": r["tokens"], "backend": r["backend"],
                     "worker_peak_mib": [round(r["peak_kib"] / 1024, 1)], "max_worker_peak_mib": round(r["peak_kib"] / 1024, 1),
                     "driver_peak_mib": 0.0, "wall": time.perf_counter() - t0})
        shutil.rmtree(inp, ignore_errors=True)
        shutil.rmtree(work / f"w-{f}", ignore_errors=True)
    return rows


def run(mb: float = 10, factors: tuple[int, ...] = (1, 3, 10), workers: int = 2, tokenizer: str | None = None,
        workdir: str | None = None, mode: str = "inprocess", backend: str = "auto") -> dict:
    tok = tokenizer or tokenizer50k.path()
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-mem-"))
    rows = []
    try:
        if mode == "inprocess":
            rows = _run_inprocess(mb, factors, tok, work, backend)
        for f in (factors if mode == "ray" else ()):
            inp = work / f"input-{f}"
            shutil.rmtree(inp, ignore_errors=True)
            data.write_jsonl(inp, mb * f, files=4, kind="mixed", seed=5, dup_rate=0.05)
            out = work / f"out-{f}"
            m = common.write_manifest(work / f"mem-{f}.yaml", [{"name": "bench", "connector": "jsonl", "uri": str(inp / "*.jsonl"),
                                                               "options": {"text_field": "text", "id_field": "id"}}],
                                      tok, str(out), 8192, near=common.near_dedup_available())
            s = Sampler()
            r = common.run_build(m, out, workers, poll=s)
            peaks = sorted(s.workers.values(), reverse=True)
            t = r["doc"]["totals"]
            rows.append({"factor": f, "mb": t["bytes_read"] / 1e6, "docs": t["read"], "tokens": t["tokens"],
                         "worker_peak_mib": [round(p / 1024, 1) for p in peaks], "max_worker_peak_mib": round((peaks[0] if peaks else 0) / 1024, 1),
                         "driver_peak_mib": round(s.driver / 1024, 1), "wall": r["wall"]})
            shutil.rmtree(inp, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
        base = rows[0]["max_worker_peak_mib"] or 1
        for r in rows:
            r["growth_vs_1x"] = r["max_worker_peak_mib"] / base
        return {"bench": "memory", "mode": mode, "workers": workers if mode == "ray" else 1, "rows": rows, "tokenizer": tok,
                "target": 1.3}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def table(res: dict) -> str:
    rows = [[f"{r['factor']}x", r["mb"], r["tokens"], r["max_worker_peak_mib"], f"{r['growth_vs_1x']:.2f}x", r["driver_peak_mib"]]
            for r in res["rows"]]
    return (common.fmt_table(rows, ["input", "MB", "tokens", "worker peak MiB", "vs 1x", "driver peak MiB"])
            + f"\nmode {res.get('mode', 'ray')}; target: worker peak <= {res.get('target', 1.3)}x from 1x to 10x")


def _args(ap) -> None:
    ap.add_argument("--mb", type=float, default=10, help="size of the 1x input")
    ap.add_argument("--small", action="store_true", help="0.5 MB x 1 and 3")
    ap.add_argument("--factors", default="1,3,10")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tokenizer", help="tokenizer.json (default: a 50k byte-level BPE trained on the bench corpus, see bench.tokenizer50k)")
    ap.add_argument("--workdir")
    ap.add_argument("--mode", choices=["inprocess", "ray"], default="inprocess")
    ap.add_argument("--backend", default="auto", choices=["auto", "hf", "fastokens"], help="the engine's tokenizer_backend")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    def go(a):
        mb, factors = (0.5, (1, 3)) if a.small else (a.mb, tuple(int(x) for x in a.factors.split(",")))
        return run(mb, factors, a.workers, a.tokenizer, a.workdir, a.mode, a.backend)

    common.bench_main(argv, "memory", __doc__, _args, go, table, child=lambda a: child_inprocess(a) if a.child else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

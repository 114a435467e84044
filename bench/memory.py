"""Peak memory per worker as the input grows 1x -> 10x.

Runs ``python -m engine.build`` (2 Ray workers, default resources: 256 MB units, 512 MB pack
groups, 32Mi-token shards) on generated clinical + literature JSON Lines of ``--mb`` x 1, 3
and 10, and samples every 50 ms the peak resident set (``VmHWM`` from ``/proc/PID/status``,
the kernel's own high-water mark, so short spikes between samples are not missed) of every
``ray::RayWorker`` actor process and of the build driver.  A flat worker peak as the input grows
means memory is bounded by configuration (unit size, shard size, pack buffer), not corpus size.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from bench import common, data


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


def run(mb: float = 10, factors: tuple[int, ...] = (1, 3, 10), workers: int = 2, tokenizer: str | None = None,
        workdir: str | None = None) -> dict:
    tok = tokenizer or data.bench_tokenizer()
    own = workdir is None
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-mem-"))
    rows = []
    try:
        for f in factors:
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
        return {"bench": "memory", "workers": workers, "rows": rows}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def table(res: dict) -> str:
    rows = [[f"{r['factor']}x", r["mb"], r["tokens"], r["max_worker_peak_mib"], f"{r['growth_vs_1x']:.2f}x", r["driver_peak_mib"]]
            for r in res["rows"]]
    return common.fmt_table(rows, ["input", "MB", "tokens", "worker peak MiB", "vs 1x", "driver peak MiB"])


def _args(ap) -> None:
    ap.add_argument("--mb", type=float, default=10, help="size of the 1x input")
    ap.add_argument("--small", action="store_true", help="0.5 MB x 1 and 3")
    ap.add_argument("--factors", default="1,3,10")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tokenizer")
    ap.add_argument("--workdir")


def main(argv: list[str] | None = None) -> int:
    def go(a):
        mb, factors = (0.5, (1, 3)) if a.small else (a.mb, tuple(int(x) for x in a.factors.split(",")))
        return run(mb, factors, a.workers, a.tokenizer, a.workdir)

    common.bench_main(argv, "memory", __doc__, _args, go, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

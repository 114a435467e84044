"""Shared bench helpers: the one ``main()``, child processes with pinned thread counts, manifests, tables,
machine facts."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def machine() -> dict:
    la = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "mem_gib": round(mem / 2**30, 1), "loadavg_at_start": [round(x, 2) for x in la],
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def thread_env(threads: int, extra: dict | None = None) -> dict:
    env = dict(os.environ)
    t = str(threads)
    env.update({"RAYON_NUM_THREADS": t, "RAYON_RS_NUM_CPUS": t, "OMP_NUM_THREADS": t, "TOKENIZERS_PARALLELISM": "true",
                "RAY_AUTH_MODE": env.get("RAY_AUTH_MODE", "disabled"), "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    env.update(extra or {})
    return env


def last_json(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise RuntimeError("child printed no JSON result:\n" + stdout[-2000:])


def run_child(module: str, args: list[str], threads: int = 1, timeout: float = 3600, env: dict | None = None) -> dict:
    """``python -m module args`` with ``threads`` pinned; returns the JSON object it prints last."""
    p = subprocess.run([PY, "-m", module, *args], cwd=ROOT, env=thread_env(threads, env), capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return last_json(p.stdout)


def start_children(module: str, arg_lists: list[list[str]], threads: int = 1) -> list[subprocess.Popen]:
    return [subprocess.Popen([PY, "-m", module, *a], cwd=ROOT, env=thread_env(threads), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for a in arg_lists]


def wait_children(procs: list[subprocess.Popen], timeout: float = 3600) -> list[dict]:
    out = []
    for p in procs:
        so, se = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"child failed ({p.returncode}):\n{se[-3000:]}")
        out.append(last_json(so))
    return out


def wait_until(t: float) -> None:
    d = t - time.time()
    if d > 0:
        time.sleep(d)


def write_manifest(path: Path, sources: list[dict], tokenizer: str, output: str, max_seq_len: int = 8192,
                   near: bool = False, **resources) -> Path:
    res = {"batch_docs": 512, "dedup_partitions": 4} | resources
    doc = {
        "name": "bench",
        "output": output,
        "tokenizer": tokenizer,
        "max_seq_len": max_seq_len,
        "dedup": {"exact": True, **({"near": {"threshold": 0.8, "num_perm": 128, "ngram": 5}} if near else {})},
        "deid": {"default": "skip"},
        "resources": res,
        "sources": sources,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def near_dedup_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("engine.dedup.near") is not None


def fmt_table(rows: list[list], head: list[str]) -> str:
    cells = [[str(c) for c in head]] + [[f"{c:,.2f}" if isinstance(c, float) else (f"{c:,}" if isinstance(c, int) else str(c)) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * x for x in w), *map(line, cells[1:])])


def save_json(path: str | os.PathLike | None, obj: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))


def run_build(manifest: Path, out: Path, workers: int | None = None, keep_staging: bool = False,
              poll=None, executor: str = "ray") -> dict:
    """``python -m engine.build`` in a fresh process; returns wall seconds, build.json and timings.json.

    ``poll(proc)`` is called every 50 ms while the build runs (for memory sampling)."""
    cmd = [PY, "-m", "engine.build", "--manifest", str(manifest), "--output", str(out), "--force", "--quiet",
           "--executor", executor]
    if workers:
        cmd += ["--workers", str(workers)]
    if keep_staging:
        cmd += ["--keep-staging"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, env=thread_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if poll is not None:
        while p.poll() is None:
            poll(p)
            time.sleep(0.05)
    so, se = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"engine build failed ({p.returncode}):\n{se[-3000:]}")
    return {"wall": wall, "doc": json.loads((out / "build.json").read_text()),
            "timings": json.loads((out / "report" / "timings.json").read_text())}


def bench_main(argv: list[str] | None, name: str, doc: str, add_args: Callable[[argparse.ArgumentParser], None],
               run: Callable[[argparse.Namespace], dict], report: Callable[[dict], str] | None = None,
               child: Callable[[argparse.Namespace], dict | None] | None = None) -> dict:
    """The command line of ``python -m bench.<name>``; returns the results.

    ``add_args`` adds the bench's own flags; every bench also takes ``--json`` (print the results as
    JSON instead of ``report(results)``) and ``--json-out PATH`` (write them there too).  ``child``
    handles the hidden modes a bench runs itself in as a subprocess: when it returns a dict, that is
    printed as one JSON line and nothing else runs.  ``run`` measures; the machine facts are added.
    """
    ap = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.strip().split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(ap)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--json-out", help="also write the results (JSON) here")
    a = ap.parse_args(argv)
    if child is not None:
        out = child(a)
        if out is not None:
            print(json.dumps(out))
            return out
    res = run(a)
    res["machine"] = machine()
    print(json.dumps(res, default=str) if a.json or report is None else report(res), flush=True)
    save_json(a.json_out, res)
    return res

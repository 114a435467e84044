"""Resource sizing on the Ray executor: no deadlock on a 2-CPU Ray with more workers than CPUs, and an
object store that stays bounded (nothing spilled) while the input is many times its size.

Each case runs in a subprocess with its own ``ray.init`` (a fixed CPU count, a small object store,
object spilling into a folder of the test's own).
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from s3_fixtures import ROOT, build_env

pytestmark = [pytest.mark.timeout(600), pytest.mark.ray, pytest.mark.slow]

SCRIPT = r"""
import json, sys, time
import ray
from engine.run.build import Build
from engine.run.console import ConsoleProgress
from engine.core.manifest import load_manifest

cfg = json.loads(sys.argv[1])
kw = dict(num_cpus=cfg["num_cpus"], include_dashboard=False, logging_level="WARNING", log_to_driver=False)
if cfg.get("object_store_memory"):
    kw["object_store_memory"] = cfg["object_store_memory"]
if cfg.get("spill_dir"):
    spill = {"type": "filesystem", "params": {"directory_path": cfg["spill_dir"]}}
    kw["_system_config"] = {"object_spilling_config": json.dumps(spill)}
ray.init(**kw)
res = {"cpus": ray.cluster_resources().get("CPU"), "object_store": ray.cluster_resources().get("object_store_memory"), "builds": []}
for b in cfg["builds"]:
    m, _ = load_manifest(b["manifest"], output=b["out"])
    t = time.time()
    doc = Build(m, b["out"], workers=b.get("workers"), progress=ConsoleProgress(False), executor="ray").run()
    res["builds"].append({"seconds": round(time.time() - t, 1), "shards": len(doc["shards"]),
                          "read": sum(s["read"] for s in doc["sources"].values()),
                          "bytes_read": sum(s.get("bytes_read", 0) for s in doc["sources"].values())})
print("RESULT " + json.dumps(res))
"""


def run_script(cfg: dict, timeout: float) -> dict:
    p = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(cfg)], env=build_env(), capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[7:]) | {"stderr": p.stderr}


def demo_manifest(path: Path, **resources) -> Path:
    doc = yaml.safe_load((Path(ROOT) / "manifests" / "demo.yaml").read_text())
    doc["tokenizer"] = str(Path(ROOT) / "demo" / "tokenizer.json")
    for s in doc["sources"]:
        s["uri"] = str(Path(ROOT) / "demo" / "data" / Path(s["uri"]).name)
    doc["resources"].update(resources)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.slow
def test_two_cpus_more_workers_than_cpus(tmp_path):
    """2 CPUs: 5 workers asking 1 CPU each (would wait forever for 3 more CPUs) and 4 x 0.5 CPU."""
    builds = [
        {"manifest": str(demo_manifest(tmp_path / "a.yaml", workers=5, cpus_per_worker=1.0)), "out": str(tmp_path / "a")},
        {"manifest": str(demo_manifest(tmp_path / "b.yaml", workers=4, cpus_per_worker=0.5)), "out": str(tmp_path / "b")},
    ]
    res = run_script({"num_cpus": 2, "builds": builds}, timeout=300)
    assert res["cpus"] == 2
    assert all(b["shards"] > 0 for b in res["builds"])
    assert "CPUs each" in res["stderr"], "the oversubscription should be reported"
    a = sorted(p.read_bytes() for p in (tmp_path / "a" / "shards").rglob("*.arrow"))
    b = sorted(p.read_bytes() for p in (tmp_path / "b" / "shards").rglob("*.arrow"))
    assert a == b, "worker count and CPU shares do not change the shards"
    print(f"\n[resources] 2 CPUs: 5x1.0 -> {res['builds'][0]['seconds']}s, 4x0.5 -> {res['builds'][1]['seconds']}s")


def big_jsonl(path: Path, target_bytes: int, distinct: int = 8, doc_chars: int = 1 << 20) -> int:
    """A JSONL file of ~target_bytes: ``distinct`` different 1 MB documents, each repeated (dedup keeps one)."""
    rng = random.Random(7)
    words = ["patient", "denies", "chest", "pain", "mg", "daily", "history", "of", "the", "and", "with", "no",
             "acute", "distress", "renal", "function", "stable", "discharged", "home", "follow", "up", "clinic"]
    bases = []
    for i in range(distinct):
        parts, n = [], 0
        while n < doc_chars:
            w = rng.choice(words)
            parts.append(w)
            n += len(w) + 1
        bases.append(f"note {i}. " + " ".join(parts))
    written = 0
    k = 0
    with open(path, "w") as f:
        while written < target_bytes:
            line = json.dumps({"id": f"d{k}", "text": bases[k % distinct]}) + "\n"
            f.write(line)
            written += len(line)
            k += 1
    return written


@pytest.mark.slow
def test_input_five_times_object_store(tmp_path):
    store = 80 * 1024 * 1024  # just above Ray's minimum object store (75 MiB)
    size = big_jsonl(tmp_path / "big.jsonl", 5 * store + (1 << 20))
    doc = {
        "name": "big", "output": str(tmp_path / "out"), "tokenizer": str(Path(ROOT) / "demo" / "tokenizer.json"),
        "max_seq_len": 1024, "deid": {"default": "skip"}, "dedup": {"exact": True},
        "shards": {"target_tokens": 1 << 20, "batch_rows": 64},
        "resources": {"workers": 2, "cpus_per_worker": 0.5, "batch_docs": 8, "unit_bytes": 48 << 20,
                      "dedup_partitions": 2, "pack_buffer": 256},
        "sources": [{"name": "big", "connector": "jsonl", "uri": str(tmp_path / "big.jsonl"), "deid": "skip",
                     "options": {"text_field": "text", "id_field": "id"}}],
    }
    man = tmp_path / "big.yaml"
    man.write_text(yaml.safe_dump(doc, sort_keys=False))
    spill = tmp_path / "spill"
    res = run_script({"num_cpus": 2, "object_store_memory": store, "spill_dir": str(spill),
                      "builds": [{"manifest": str(man), "out": str(tmp_path / "out")}]}, timeout=540)
    b = res["builds"][0]
    assert res["object_store"] <= store * 1.01
    assert b["bytes_read"] >= 5 * store and b["bytes_read"] == size
    spilled = [p for p in spill.rglob("*") if p.is_file()] if spill.exists() else []
    assert not spilled, f"{len(spilled)} object(s) spilled to disk"
    audit = subprocess.run([sys.executable, "-m", "engine.audit", str(tmp_path / "out")], env=build_env(),
                           capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stdout[-2000:]
    print(f"\n[resources] input {size / 2**20:.0f} MiB = {size / store:.1f}x the {store / 2**20:.0f} MiB object store: "
          f"{b['seconds']}s, {b['read']} docs; nothing spilled")

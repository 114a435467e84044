"""Shared fixtures: manifest writers, the demo built once on the local executor, an embedded Ray for `ray` tests."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # see README: embedded ray.init + later `ray start` trap
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
DEMO_TOKENIZER = ROOT / "demo" / "tokenizer.json"


@pytest.fixture(scope="session")
def ray_session():
    """An embedded Ray for the tests marked ``ray`` (builds elsewhere run on the local executor)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray


def write_manifest(path: Path, sources: list[dict], **top) -> Path:
    """A manifest YAML with sensible small-build defaults; ``top`` overrides top-level keys."""
    doc = {
        "name": top.pop("name", "test"),
        "output": str(top.pop("output", path.parent / "out")),
        "tokenizer": str(top.pop("tokenizer", DEMO_TOKENIZER)),
        "max_seq_len": top.pop("max_seq_len", 256),
        "deid": top.pop("deid", {"default": "skip"}),
        "resources": top.pop("resources", {"batch_docs": 64, "dedup_partitions": 3, "pack_buffer": 64, "cpus_per_worker": 0.5}),
        "shards": top.pop("shards", {"target_tokens": 4096, "batch_rows": 8}),
        "sources": sources,
        **top,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def manifest_writer(tmp_path):
    def make(sources, name="m.yaml", **top):
        return write_manifest(tmp_path / name, sources, **top)

    return make


def run_build(manifest, out, executor: str = "local", **kw) -> dict:
    """Build ``manifest`` (path) into ``out``; ``kw``: workers, keep_staging, resume, force."""
    from engine.core.manifest import load_manifest
    from engine.run.build import Build
    from engine.run.console import ConsoleProgress

    m, _ = load_manifest(manifest, output=str(out))
    b = Build(m, str(out), progress=ConsoleProgress(False), executor=executor,
              **{k: v for k, v in kw.items() if k in ("keep_staging", "workers")})
    return b.run(resume=kw.get("resume", False), force=kw.get("force", False))


def shard_bytes(out) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(Path(out, "shards").rglob("*.arrow"))}


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The bundled demo manifest built once (local executor, in-process) into a temp folder; returns the output path."""
    out = tmp_path_factory.mktemp("demo") / "out"
    run_build(ROOT / "manifests" / "demo.yaml", out)
    return out


@pytest.fixture(scope="session")
def near_build(tmp_path_factory) -> tuple[Path, Path]:
    """The near-dedup corpus of test_near_build built once (local executor): (manifest, output folder)."""
    from test_near_build import near_manifest

    tmp = tmp_path_factory.mktemp("near")
    man = near_manifest(tmp)
    run_build(man, tmp / "out")
    return man, tmp / "out"


def copy_demo_data(dst: Path) -> Path:
    shutil.copytree(ROOT / "demo" / "data", dst)
    return dst


def pytest_collection_modifyitems(config, items):
    """Tests that start Ray belong to the slow tier: ``-m "not slow"`` never starts Ray."""
    for item in items:
        if item.get_closest_marker("ray") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)

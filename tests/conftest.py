"""Shared fixtures: one embedded Ray for the session, manifest writers, a demo build."""
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
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray


def write_manifest(path: Path, sources: list[dict], **top) -> Path:
    """A manifest YAML with sensible small-build defaults; ``top`` overrides top-level keys."""
    doc = {
        "name": top.pop("name", "test"),
        "output": str(top.pop("output", path.parent / "out")),
        "tokenizer": str(top.pop("tokenizer", DEMO_TOKENIZER)),
        "max_seq_len": top.pop("max_seq_len", 256),
        "deid": top.pop("deid", {"default": "skip"}),
        "resources": top.pop("resources", {"batch_docs": 64, "dedup_partitions": 3, "pack_buffer": 64, "workers": 2, "cpus_per_worker": 0.5}),
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


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory, ray_session):
    """The bundled demo manifest built once into a temp folder; returns the output path."""
    from engine.run.build import Build, Progress
    from engine.core.manifest import load_manifest

    out = tmp_path_factory.mktemp("demo") / "out"
    m, _ = load_manifest(ROOT / "manifests" / "demo.yaml", output=str(out))
    Build(m, str(out), progress=Progress(False)).run()
    return out


def copy_demo_data(dst: Path) -> Path:
    shutil.copytree(ROOT / "demo" / "data", dst)
    return dst

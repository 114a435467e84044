"""The stage registry: the manifest's ``stages:`` list chooses the per-document stages and their order."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_build
from engine.core.records import Drop
from engine.run import cli
from engine.stages import registry
from engine.stages.base import Stage, StageResult

ROOT = Path(__file__).resolve().parent.parent


class DropMarked(Stage):
    """Test stage: drops documents that contain ``DROPME``; counts its setups and teardowns."""

    name = "drop_marked"
    num_cpus = 0.5
    events: list[str] = []

    def setup(self) -> None:
        DropMarked.events.append("setup")

    def process(self, table, ctx):
        texts = table.column("text").to_pylist()
        keep = [i for i, t in enumerate(texts) if "DROPME" not in t]
        drops = [Drop(d, "filtered", "marked", None) for i, d in enumerate(table.column("doc_id").to_pylist()) if i not in keep]
        return StageResult(table.take(keep), drops, {})

    def teardown(self) -> None:
        DropMarked.events.append("teardown")


@pytest.fixture
def jsonl_source(tmp_path):
    rows = [{"id": f"d{i}", "text": f"note {i} about the patient" + (" DROPME" if i % 4 == 0 else "")} for i in range(20)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [{"name": "s", "connector": "jsonl", "uri": str(tmp_path / "in.jsonl"), "deid": "verify",
             "options": {"id_field": "id", "text_field": "text"}}]


def test_default_order_and_names():
    assert registry.DEFAULT_STAGES == ("normalize", "deid", "filters")
    assert {"normalize", "deid", "filters"} <= set(registry.names())
    with pytest.raises(registry.UnknownStage, match="frobnicate"):
        registry.get("frobnicate")


def test_registered_stage_runs_in_manifest_order_and_is_torn_down(tmp_path, manifest_writer, jsonl_source):
    registry.register("drop_marked", DropMarked)
    DropMarked.events.clear()
    mp = manifest_writer(jsonl_source, stages=["normalize", "drop_marked", "filters"])
    doc = run_build(mp, tmp_path / "out")
    s = doc["sources"]["s"]
    assert s["filtered"] == 5 and s["written"] == 15
    assert not s["phi_hits"] and s["deid_rejected"] == 0  # deid not listed: not run although the source says verify
    assert DropMarked.events == ["setup", "teardown"]


def test_unknown_stage_is_one_error_line_before_any_work(tmp_path, manifest_writer, jsonl_source, capsys):
    mp = manifest_writer(jsonl_source, stages=["normalize", "frobnicate"])
    assert cli.main(["--manifest", str(mp), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: stages[1]: unknown stage 'frobnicate'")
    assert not (tmp_path / "out" / "_staging").exists()

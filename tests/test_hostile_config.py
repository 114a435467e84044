"""Configuration a user gets wrong: one `error:` line, exit 2, before any work, no traceback, and
nothing of a previous build deleted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_manifest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, timeout=300):
    env = dict(os.environ, RAY_AUTH_MODE="disabled", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def assert_config_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout[-800:], r.stderr[-1500:])
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr[-1500:]
    for w in words:
        assert w in errors[0], errors[0]


@pytest.fixture
def notes(tmp_path):
    p = tmp_path / "in" / "notes.jsonl"
    p.parent.mkdir()
    p.write_text("".join(json.dumps({"id": str(i), "text": f"note number {i} about a routine follow up visit"}) + "\n" for i in range(3)))
    return p


def manifest(tmp_path, notes, **top):
    src = top.pop("source", {})
    return write_manifest(tmp_path / "m.yaml", [{"name": "notes", "connector": "jsonl", "uri": str(notes), **src}], **top)


def test_priority_out_of_range(tmp_path, notes):
    r = cli("engine.build", "--manifest", str(manifest(tmp_path, notes, source={"priority": 1e23})), "--check")
    assert_config_error(r, "priority")


def test_corrupt_tokenizer_file(tmp_path, notes):
    bad = tmp_path / "tok.json"
    bad.write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": ')
    r = cli("engine.build", "--manifest", str(manifest(tmp_path, notes, tokenizer=str(bad))), "--check")
    assert_config_error(r, "tokenizer")


def test_tokenizer_without_cls(tmp_path, notes):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["a small corpus of words"] * 10, trainers.BpeTrainer(vocab_size=60, special_tokens=["[UNK]"]))
    path = tmp_path / "nocls.json"
    tok.save(str(path))
    r = cli("engine.build", "--manifest", str(manifest(tmp_path, notes, tokenizer=str(path))), "--check")
    assert_config_error(r, "[CLS]")


def test_tokenizer_bare_folder_name(tmp_path, notes):
    r = cli("engine.build", "--manifest", str(manifest(tmp_path, notes, tokenizer="no_such_tokenizer_folder")), "--check")
    assert_config_error(r, "tokenizer")


def test_existing_file_as_output(tmp_path, notes):
    f = tmp_path / "a_file"
    f.write_text("x")
    r = cli("engine.build", "--manifest", str(manifest(tmp_path, notes)), "--output", str(f))
    assert_config_error(r, "output")
    assert f.read_text() == "x"


def test_audit_on_missing_or_truncated_build(tmp_path):
    r = cli("engine.audit", str(tmp_path / "nothing"))
    assert_config_error(r)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "build.json").write_text('{"complete": true, "sources": {')
    r = cli("engine.audit", str(tmp_path / "b"))
    assert_config_error(r, "build.json")


@pytest.mark.slow
def test_force_with_a_bad_uri_keeps_the_previous_build(tmp_path, notes):
    out = tmp_path / "out"
    mp = manifest(tmp_path, notes, output=str(out))
    r = cli("engine.build", "--manifest", str(mp))
    assert r.returncode == 0, r.stderr[-2000:]
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    bad = write_manifest(tmp_path / "bad.yaml", [{"name": "notes", "connector": "jsonl", "uri": str(notes) + ".typo"}], output=str(out))
    r = cli("engine.build", "--manifest", str(bad), "--force")
    assert_config_error(r, "notes")
    after = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert after == before

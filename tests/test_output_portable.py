"""A build output is self-contained: OUT/tokenizer.json (sha256 recorded in build.json) decodes a
copy of OUT moved anywhere, with no tokenizer argument and the original tokenizer gone."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

from engine.output import ledger, shards
from engine.tokenizer import load_tokenizer
from tests.conftest import DEMO_TOKENIZER, ROOT

TEXTS = ["Patient admitted with chest pain and shortness of breath.", "No acute distress; follow up in two weeks."]


def _build(root, tok_path):
    tok = load_tokenizer(str(tok_path))
    rows, ids = [], []
    for i, t in enumerate(TEXTS):
        enc = [tok.cls_id, *tok.tokenizer.encode(t, add_special_tokens=False).ids, tok.sep_id]
        rows.append(shards.Row(np.asarray(enc, np.uint32), [len(enc)], [f"notes:{i}"]))
    schema = shards.shard_schema(tok.vocab_size, shards.shard_metadata(tok.sha256, 64, tok.special_ids, "b"))
    os.makedirs(root / "shards" / "notes")
    info = shards.write_shard(str(root / "shards/notes/notes-00000.arrow"), rows, "notes", schema, batch_rows=8)
    ledger.write_tokenizer(str(root), tok)
    doc = {"build_id": "b", "complete": True, "max_seq_len": 64,
           "tokenizer": {"name": str(tok_path), "file": ledger.TOKENIZER_FILE, "sha256": tok.sha256,
                         "vocab_size": tok.vocab_size, "special_ids": tok.special_ids},
           "sources": {"notes": {}}, "shards": [{"path": "shards/notes/notes-00000.arrow", "source": "notes",
                                                 "rows": info.rows, "tokens": info.tokens, "sha256": info.sha256}]}
    (root / "build.json").write_text(json.dumps(doc))
    return tok


def _inspect(out, *args):
    return subprocess.run([sys.executable, "-m", "engine.inspect", str(out), "--decode", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_copied_output_decodes_without_its_tokenizer_path(tmp_path):
    own = tmp_path / "tok" / "tokenizer.json"
    own.parent.mkdir()
    shutil.copy(DEMO_TOKENIZER, own)
    tok = _build(tmp_path / "out", own)
    assert load_tokenizer(str(tmp_path / "out" / "tokenizer.json")).sha256 == tok.sha256
    moved = tmp_path / "elsewhere" / "out"
    shutil.copytree(tmp_path / "out", moved)
    shutil.rmtree(tmp_path / "out")
    shutil.rmtree(own.parent)  # the path build.json names is gone
    r = _inspect(moved)
    assert r.returncode == 0, r.stderr[-2000:]
    text = " ".join(json.loads(line)["texts"][0] for line in r.stdout.splitlines())
    for t in TEXTS:
        assert "".join(t.split()) in "".join(text.split())


def test_a_changed_tokenizer_copy_is_refused(tmp_path):
    _build(tmp_path / "out", DEMO_TOKENIZER)
    doc = json.loads((tmp_path / "out" / "tokenizer.json").read_text())
    doc["added_tokens"][0]["content"] = "[UNKNOWN]"
    (tmp_path / "out" / "tokenizer.json").write_text(json.dumps(doc))
    r = _inspect(tmp_path / "out")
    assert r.returncode == 2 and r.stderr.startswith("error: tokenizer") and "not the build's" in r.stderr

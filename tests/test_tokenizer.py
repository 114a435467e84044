import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.tokenizer import load_tokenizer, train_bpe

ROOT = Path(__file__).resolve().parent.parent


def test_train_bpe_has_modernbert_specials():
    tok = train_bpe(["Patient seen by cardiology for chest pain. " * 20, "Abstract: sepsis outcomes. " * 20], 300, 1)
    vocab = tok.get_vocab()
    assert all(t in vocab for t in ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"])
    assert tok.decode(tok.encode("chest pain").ids) == "chest pain"


def test_load_local_file_and_special_ids():
    t = load_tokenizer(str(ROOT / "demo" / "tokenizer.json"))
    assert t.special_ids["cls"] != t.special_ids["sep"] and t.vocab_size < 65536
    assert t.sha256 == load_tokenizer(str(ROOT / "demo" / "tokenizer.json")).sha256


def _fake_hub_cache(cache: Path, repo: str, tokenizer_json: bytes) -> None:
    commit = hashlib.sha1(b"fake").hexdigest()
    base = cache / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "tokenizer.json").write_bytes(tokenizer_json)


def test_hub_name_goes_through_from_pretrained(tmp_path):
    """A hub name is loaded with Tokenizer.from_pretrained; here from a pre-filled hub cache, offline."""
    _fake_hub_cache(tmp_path, "answerdotai/ModernBERT-base", (ROOT / "demo" / "tokenizer.json").read_bytes())
    code = "from engine.tokenizer import load_tokenizer; t = load_tokenizer('answerdotai/ModernBERT-base'); print(t.vocab_size)"
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path), HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == load_tokenizer(str(ROOT / "demo" / "tokenizer.json")).vocab_size


def test_unreachable_hub_name_is_a_clear_error(tmp_path):
    code = "from engine.tokenizer import load_tokenizer; load_tokenizer('no-such-org/no-such-model')"
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path), HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "could not load tokenizer 'no-such-org/no-such-model'" in r.stderr


def test_missing_tokenizer_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer file"):
        load_tokenizer(str(tmp_path / "nope.json"))


def test_train_cli(tmp_path):
    out = tmp_path / "tok.json"
    r = subprocess.run([sys.executable, "-m", "engine.tokenizer", "train", "--manifest", "demo", "--vocab-size", "500",
                        "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert load_tokenizer(str(out)).vocab_size <= 500

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pyarrow as pa

from engine.tokenizer import load_tokenizer, train_bpe
from engine.tokenizer.load import TokenizerError

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
    with pytest.raises(TokenizerError, match="tokenizer file"):
        load_tokenizer(str(tmp_path / "nope.json"))


def test_unusable_tokenizers_are_tokenizer_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1.0", "model": ')
    with pytest.raises(TokenizerError, match="not a readable tokenizer.json"):
        load_tokenizer(str(bad))
    with pytest.raises(TokenizerError, match="neither a tokenizer.json"):
        load_tokenizer("a_bare_folder_name_that_does_not_exist")


def test_sparse_ids_set_the_largest_id(tmp_path):
    """A small vocabulary whose ids are not dense: the shard id width follows the largest id."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "b": 65543}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "sparse.json"
    tok.save(str(path))
    t = load_tokenizer(str(path))
    assert t.vocab_size < 10 and t.max_id == 65543
    from engine.output.shards import token_type

    assert token_type(t.max_id) == pa.uint32() and token_type(65535) == pa.uint16()


def test_train_cli(tmp_path):
    out = tmp_path / "tok.json"
    r = subprocess.run([sys.executable, "-m", "engine.tokenizer", "train", "--manifest", "demo", "--vocab-size", "500",
                        "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert load_tokenizer(str(out)).vocab_size <= 500


def _notes_manifest(tmp_path, placeholder: str):
    from conftest import write_manifest

    from engine.core.manifest import load_manifest

    src = {"name": "notes", "connector": "mimic_iii_notes", "uri": str(ROOT / "demo" / "data" / "mimic_notes.csv.gz"),
           "placeholder": placeholder}
    m, _ = load_manifest(write_manifest(tmp_path / f"{placeholder}.yaml", [src]))
    return m


@pytest.mark.parametrize("policy", ["replace", "keep"])
def test_training_text_follows_the_placeholder_policy(tmp_path, policy):
    """The tokenizer learns from the text the shards hold: [PHI] under ``placeholder: replace``."""
    from engine.tokenizer import sample_texts

    texts = list(sample_texts(_notes_manifest(tmp_path, policy), 10_000, 10**9))
    assert len(texts) > 100 and all(t.strip() for t in texts)  # the build's filters dropped the empty note
    joined = "\n".join(texts)
    if policy == "replace":
        assert "[PHI]" in joined and "[**" not in joined
    else:
        assert "[**" in joined and "[PHI]" not in joined
    vocab = train_bpe(texts, 600).get_vocab()
    assert ("[**" in vocab) == (policy == "keep")
    assert ("PHI" in vocab) == (policy == "replace")


def test_training_text_stops_at_the_limits(tmp_path):
    from engine.tokenizer import sample_texts

    m = _notes_manifest(tmp_path, "keep")
    assert len(list(sample_texts(m, 7, 10**9))) == 7
    few = list(sample_texts(m, 10_000, 2000))
    assert 0 < sum(len(t) for t in few) - len(few[-1]) < 2000 <= sum(len(t) for t in few)

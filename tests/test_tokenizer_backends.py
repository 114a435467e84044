"""Tokenizer backends: fastokens only where it gives the ids ``tokenizers`` gives, else hf with the reason."""
from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers

from engine.tokenizer import load_tokenizer
from engine.tokenizer import backends as B

ROOT = Path(__file__).resolve().parent.parent
DEMO_TOK = ROOT / "demo" / "tokenizer.json"
pytest.importorskip("fastokens")


def _variant(tmp_path: Path, edit, name: str = "tok.json") -> str:
    """The demo tokenizer with one component changed, saved as a tokenizer.json."""
    tok = Tokenizer.from_file(str(DEMO_TOK))
    edit(tok)
    p = tmp_path / name
    tok.save(str(p))
    return str(p)


def _modernbert_like(tmp_path: Path) -> str:
    """A small byte-level BPE with ModernBERT's special-token layout after the BPE ids ([MASK] lstrip)."""
    from tokenizers import decoders, models, trainers

    from bench import data

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(data.texts(0.3, "mixed", seed=3), trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=t == "[MASK]")
                            for t in ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]])
    tok.add_special_tokens([AddedToken(f"[unused{i}]", special=True, normalized=False) for i in range(3)])
    p = tmp_path / "mb.json"
    tok.save(str(p))
    return str(p)


def test_auto_picks_fastokens_for_a_byte_level_bpe(tmp_path):
    for spec in (str(DEMO_TOK), _modernbert_like(tmp_path)):
        enc, choice = B.choose(load_tokenizer(spec), "auto")
        assert choice.backend == "fastokens" and isinstance(enc, B.FastokensEncoder), choice


def test_probe_set_covers_hostile_text_and_added_tokens():
    probes = B.probe_texts(["[CLS]", "[MASK]"])
    joined = "".join(probes)
    for needle in ("\x00", "\u200d", "😀", "e\u0301", "\t\t", "\r\n", "a" * 3000, "患者", "العربية", " [MASK] ", "text[CLS]text"):
        assert needle in joined, needle


@pytest.mark.parametrize("edit,component", [
    (lambda t: setattr(t, "normalizer", normalizers.Sequence([normalizers.NFC(), normalizers.NFKC()])), "normalizer.normalizers[1]: NFKC"),
    (lambda t: setattr(t, "normalizer", normalizers.BertNormalizer()), "normalizer: BertNormalizer"),
    (lambda t: setattr(t, "pre_tokenizer", pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.ByteLevel()])),
     "pre_tokenizer.pretokenizers[0]: Whitespace"),
    (lambda t: setattr(t, "pre_tokenizer", pre_tokenizers.Metaspace()), "pre_tokenizer: Metaspace"),
])
def test_unsupported_component_falls_back_to_hf_with_a_log_line(tmp_path, caplog, edit, component):
    loaded = load_tokenizer(_variant(tmp_path, edit))
    with caplog.at_level(logging.WARNING, logger="engine.tokenizer"):
        enc, choice = B.choose(loaded, "auto")
    assert choice.backend == "hf" and isinstance(enc, B.HFEncoder)
    assert component in choice.reason
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.tokenizer"]
    assert len(lines) == 1 and lines[0].startswith("tokenizer backend: hf") and component in lines[0], lines
    with pytest.raises(B.BackendError, match="fastokens cannot be used"):
        B.choose(loaded, "fastokens")


def test_unsupported_model_and_post_processor_are_named(tmp_path):
    spec = json.loads(Tokenizer.from_file(str(DEMO_TOK)).to_str())
    spec["model"]["type"] = "WordPiece"
    spec["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}
    spec["model"]["dropout"] = 0.1
    problems = B.unsupported_components(spec)
    assert "model: WordPiece" in problems and "post_processor: BertProcessing" in problems
    assert B.unsupported_components(json.loads(Tokenizer.from_file(str(DEMO_TOK)).to_str())) == []


def test_self_check_mismatch_falls_back(monkeypatch, caplog):
    """A fastokens that differs on one probe (here: one id changed) is never used."""
    real = B.FastokensEncoder.encode

    def off_by_one(self, texts):
        ids, offs = real(self, texts)
        ids = ids.copy()
        if len(ids) > 5:
            ids[5] += 1
        return ids, offs

    monkeypatch.setattr(B.FastokensEncoder, "encode", off_by_one)
    with caplog.at_level(logging.WARNING, logger="engine.tokenizer"):
        _, choice = B.choose(load_tokenizer(str(DEMO_TOK)), "auto")
    assert choice.backend == "hf" and "self-check failed: probe" in choice.reason
    assert any("self-check failed" in r.getMessage() for r in caplog.records)


def test_not_installed_falls_back(monkeypatch):
    monkeypatch.setattr(B, "_fastokens_version", lambda: None)
    _, choice = B.choose(load_tokenizer(str(DEMO_TOK)), "auto")
    assert choice.backend == "hf" and choice.reason == "fastokens is not installed"


def test_encoders_agree_on_generated_corpus(tmp_path):
    from bench import data

    loaded = load_tokenizer(_modernbert_like(tmp_path))
    texts = data.texts(0.5, "mixed", seed=9) + B.probe_texts(["[CLS]", "[SEP]", "[MASK]"])
    a_ids, a_off = B.HFEncoder(loaded.tokenizer).encode(texts)
    b_ids, b_off = B.FastokensEncoder(loaded.tokenizer.to_str()).encode(texts)
    assert np.array_equal(a_off, b_off) and np.array_equal(a_ids, b_ids) and a_ids.dtype == b_ids.dtype == np.uint32
    assert [list(x) for x in np.split(a_ids, a_off[1:-1])][:3] == [e.ids for e in loaded.tokenizer.encode_batch(texts[:3], add_special_tokens=False)]


def _demo_shards(worker, backend: str) -> dict[str, str]:
    """Tokenize + pack every staged demo unit with ``backend``; sha256 of each temporary shard and token file."""
    from engine.run.plan import plan_units
    from engine.steps.pack import pack_group
    from engine.steps.tokenize import tokenize_unit

    worker.manifest.tokenizer_backend = backend
    digests = {}
    plan = plan_units(worker.manifest)
    for source, units in plan.items():
        for u in units:
            tokenize_unit(worker, source, u.unit_id, [])
            tok_uri = worker.layout.tokens(u.unit_id)
            digests[tok_uri] = hashlib.sha256(Path(tok_uri).read_bytes()).hexdigest()
        res = pack_group(worker, source, 0, [u.unit_id for u in units], "test-build")
        for k in range(len(res.temp_shards)):
            p = worker.layout.temp_shard(source, 0, k)
            digests[p] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return digests


def test_demo_shards_byte_identical_across_backends(tmp_path):
    """The demo manifest read once (normalize, de-id, filters), then tokenized and packed by each backend."""
    from engine.core.manifest import load_manifest
    from engine.run.plan import plan_units
    from engine.run.worker import Worker
    from engine.steps.read import read_unit

    m, _ = load_manifest(ROOT / "manifests" / "demo.yaml", output=str(tmp_path / "out"))
    w = Worker(m, str(tmp_path / "out"), None)
    for units in plan_units(m).values():
        for u in units:
            read_unit(w, u)
    hf = _demo_shards(w, "hf")
    fast = _demo_shards(w, "fastokens")
    assert len(hf) >= 6 and hf == fast
    assert B._CHOSEN[(w.tokenizer.sha256, "fastokens")][1].backend == "fastokens"


def test_backend_is_not_part_of_the_fingerprint(tmp_path):
    from engine.core.manifest import load_manifest

    m, _ = load_manifest(ROOT / "manifests" / "demo.yaml", output=str(tmp_path / "out"))
    fp = m.fingerprint()
    m.tokenizer_backend = "hf"
    assert m.fingerprint() == fp  # the build id (in every shard) does not depend on the backend
    with pytest.raises(Exception):
        m.tokenizer_backend = "spacy"


def test_build_cli_refuses_fastokens_for_an_unsupported_tokenizer(tmp_path):
    tok = _variant(tmp_path, lambda t: setattr(t, "normalizer", normalizers.NFKC()))
    man = tmp_path / "m.yaml"
    man.write_text(f"name: t\noutput: {tmp_path / 'out'}\ntokenizer: {tok}\nsources:\n"
                   f"  - {{name: s, connector: jsonl, uri: {ROOT / 'demo' / 'data' / 'pubmed_abstracts.jsonl'},"
                   " options: {text_field: abstract, id_field: pmid}}\n")
    p = subprocess.run([sys.executable, "-m", "engine.build", "--manifest", str(man), "--tokenizer-backend", "fastokens", "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error: tokenizer_backend fastokens cannot be used") and "NFKC" in err[0], p.stderr
    assert not (tmp_path / "out" / "shards").exists()


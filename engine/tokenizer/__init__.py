"""Tokenizer loading and domain-adaptive training.

``tokenizer:`` in the manifest is a local ``tokenizer.json`` (or a folder holding one, or
any fsspec URI) or a Hugging Face hub name (``answerdotai/ModernBERT-base``), loaded with
``tokenizers.Tokenizer.from_pretrained``.  The engine adds ``[CLS]``/``[SEP]`` itself, so
encoding always runs with ``add_special_tokens=False``.

CLI::

    python -m engine.tokenizer train --manifest manifests/demo.yaml --vocab-size 8000 --out tok.json

trains a ModernBERT-style BPE (NFC, byte-level pre-tokenizer, special tokens
``[UNK] [CLS] [SEP] [PAD] [MASK]``) on a sample of the manifest's sources, read through the
same connectors and normalization as a build.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass

from tokenizers import Tokenizer

SPECIAL_TOKENS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
_ALIASES = {
    "cls": ["[CLS]", "<s>", "<cls>", "[BOS]"],
    "sep": ["[SEP]", "</s>", "<sep>", "[EOS]"],
    "pad": ["[PAD]", "<pad>"],
    "mask": ["[MASK]", "<mask>"],
    "unk": ["[UNK]", "<unk>"],
}


@dataclass
class LoadedTokenizer:
    tokenizer: Tokenizer
    name: str
    sha256: str
    vocab_size: int
    special_ids: dict[str, int]

    @property
    def cls_id(self) -> int:
        return self.special_ids["cls"]

    @property
    def sep_id(self) -> int:
        return self.special_ids["sep"]


def _from_spec(spec: str) -> Tokenizer:
    from engine.core import fsio

    if "://" in spec or spec.endswith(".json") or spec.startswith(("/", ".", "~")):
        uri = spec
        if not spec.endswith(".json"):
            uri = fsio.join(spec, "tokenizer.json")
        if not fsio.exists(uri):
            raise FileNotFoundError(f"tokenizer file {uri} not found")
        return Tokenizer.from_str(fsio.read_bytes(uri).decode("utf-8"))
    try:
        return Tokenizer.from_pretrained(spec)
    except Exception as e:  # offline, unknown repo
        raise RuntimeError(
            f"could not load tokenizer {spec!r} from the Hugging Face hub ({type(e).__name__}); "
            "give a path to a tokenizer.json, or train one: python -m engine.tokenizer train --help"
        ) from None


def load_tokenizer(spec: str) -> LoadedTokenizer:
    tok = _from_spec(spec)
    vocab = tok.get_vocab(with_added_tokens=True)
    special: dict[str, int] = {}
    for role, names in _ALIASES.items():
        for n in names:
            if n in vocab:
                special[role] = vocab[n]
                break
    missing = [r for r in ("cls", "sep") if r not in special]
    if missing:
        raise ValueError(f"tokenizer {spec!r} has no {'/'.join(missing)} token (looked for {_ALIASES[missing[0]]})")
    tok.no_truncation()
    tok.no_padding()
    digest = hashlib.sha256(tok.to_str().encode()).hexdigest()
    return LoadedTokenizer(tok, spec, digest, tok.get_vocab_size(with_added_tokens=True), special)


def train_bpe(texts, vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """A ModernBERT-style byte-level BPE trained on an iterator of strings."""
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def sample_texts(manifest, max_docs_per_source: int, max_chars: int):
    """Normalized texts from each source of a manifest (first documents of each source, in unit order)."""
    from connectors import registry
    from engine.core.records import Doc
    from engine.stages.normalize import normalize_text

    budget = max_chars
    for src in manifest.sources:
        conn = registry.get(src.connector)(src, manifest)
        n = 0
        for unit in conn.discover():
            for rec in conn.read(unit):
                if isinstance(rec, Doc) and rec.text:
                    t = normalize_text(rec.text, manifest.normalize.unicode_form)
                    budget -= len(t)
                    n += 1
                    yield t
                    if n >= max_docs_per_source or budget <= 0:
                        break
            if n >= max_docs_per_source or budget <= 0:
                break
        if budget <= 0:
            return


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.tokenizer", description="Tokenizer tools.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a domain BPE tokenizer from a sample of a manifest's sources")
    t.add_argument("--manifest", required=True, help="manifest YAML (a bare name is looked up under manifests/)")
    t.add_argument("--vocab-size", type=int, default=32768)
    t.add_argument("--out", required=True, help="where to write tokenizer.json (any fsspec URI)")
    t.add_argument("--docs-per-source", type=int, default=100_000)
    t.add_argument("--max-chars", type=int, default=200_000_000, help="total characters sampled")
    t.add_argument("--min-frequency", type=int, default=2)
    args = ap.parse_args(argv)

    from engine.core import fsio
    from engine.core.manifest import ManifestError, load_manifest

    try:
        manifest, _ = load_manifest(args.manifest)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tok = train_bpe(sample_texts(manifest, args.docs_per_source, args.max_chars), args.vocab_size, args.min_frequency)
    fsio.write_bytes_atomic(args.out, tok.to_str(pretty=False).encode())
    print(f"wrote {args.out}: vocab {tok.get_vocab_size()} (sha256 {hashlib.sha256(tok.to_str().encode()).hexdigest()[:12]})")
    return 0

"""Loading the tokenizer a manifest names.

``tokenizer:`` in the manifest is a local ``tokenizer.json`` (or a folder holding one, or
any fsspec URI) or a Hugging Face hub name (``answerdotai/ModernBERT-base``), loaded with
``tokenizers.Tokenizer.from_pretrained``.  The engine adds ``[CLS]``/``[SEP]`` itself, so
encoding always runs with ``add_special_tokens=False``.
"""
from __future__ import annotations

import hashlib
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


class TokenizerError(ValueError):
    """A tokenizer that cannot be used: missing, unreadable, or without the special tokens the shards need."""


@dataclass
class LoadedTokenizer:
    tokenizer: Tokenizer
    name: str
    sha256: str
    vocab_size: int
    special_ids: dict[str, int]
    max_id: int = 0  # the largest token id (sets the shards' id width; ids need not be dense)

    @property
    def cls_id(self) -> int:
        return self.special_ids["cls"]

    @property
    def sep_id(self) -> int:
        return self.special_ids["sep"]


def _from_spec(spec: str) -> Tokenizer:
    from engine.core import fsio

    import os

    if "://" in spec or spec.endswith(".json") or spec.startswith(("/", ".", "~")) or os.path.exists(spec):
        uri = spec
        if not spec.endswith(".json"):
            uri = fsio.join(spec, "tokenizer.json")
        if not fsio.exists(uri):
            raise TokenizerError(f"tokenizer file {uri} not found")
        try:
            return Tokenizer.from_str(fsio.read_bytes(uri).decode("utf-8"))
        except Exception as e:  # truncated or not a tokenizer.json
            raise TokenizerError(f"tokenizer file {uri} is not a readable tokenizer.json ({type(e).__name__})") from None
    if spec.count("/") != 1:
        raise TokenizerError(
            f"tokenizer {spec!r} is neither a tokenizer.json, an existing folder, nor a hub id (org/name)"
        )
    try:
        return Tokenizer.from_pretrained(spec)
    except Exception as e:  # offline, unknown repo
        raise TokenizerError(
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
        raise TokenizerError(f"tokenizer {spec!r} has no {'/'.join(missing)} token (looked for {_ALIASES[missing[0]]})")
    tok.no_truncation()
    tok.no_padding()
    digest = hashlib.sha256(tok.to_str().encode()).hexdigest()
    return LoadedTokenizer(tok, spec, digest, tok.get_vocab_size(with_added_tokens=True), special,
                           max(vocab.values(), default=0))

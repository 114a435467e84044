"""Tokenizers: loading the one a manifest names (:mod:`.load`) and training a domain BPE on a
manifest's sources (:mod:`.train`, ``python -m engine.tokenizer train``)."""
from engine.tokenizer.load import SPECIAL_TOKENS, LoadedTokenizer, load_tokenizer
from engine.tokenizer.train import main, sample_texts, train_bpe

__all__ = ["SPECIAL_TOKENS", "LoadedTokenizer", "load_tokenizer", "main", "sample_texts", "train_bpe"]

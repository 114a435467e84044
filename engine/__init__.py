"""Clinical corpus engine: manifest -> de-id checked, deduplicated, tokenized, packed Arrow shards + ledger."""

__version__ = "0.1.0"

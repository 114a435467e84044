"""Domain-adaptive tokenizer training: ``python -m engine.tokenizer train``.

    python -m engine.tokenizer train --manifest manifests/demo.yaml --vocab-size 8000 --out tok.json

trains a ModernBERT-style BPE (NFC, byte-level pre-tokenizer, special tokens
``[UNK] [CLS] [SEP] [PAD] [MASK]``) on a sample of the manifest's sources, read by the sources'
connectors and passed through the build's per-document stages (normalize, the de-id check where a
source's policy is not ``skip``, filters), so it learns from the text the shards hold: with
``placeholder: replace`` the placeholder token (``[PHI]``), not the source's own ``[** **]`` / ``___``;
redacted spans as their tags; nothing from a document the de-id check or the filters drop.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from typing import Iterator

from tokenizers import Tokenizer

from engine.tokenizer.load import SPECIAL_TOKENS


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


def _doc_batches(conn, batch_docs: int):
    """Lists of documents a connector reads, unit by unit (drops and tombstones are not text)."""
    from engine.core.records import Doc

    for unit in conn.discover():
        buf = []
        for rec in conn.records(unit):
            if isinstance(rec, Doc):
                buf.append(rec)
                if len(buf) >= batch_docs:
                    yield buf
                    buf = []
        if buf:
            yield buf


def _stages(manifest) -> list:
    """The per-document stages a build of ``manifest`` runs, in order (the manifest's ``stages:``)."""
    from engine.stages.registry import build_stages

    return build_stages(manifest)


def sample_texts(manifest, max_docs_per_source: int, max_chars: int) -> Iterator[str]:
    """Texts of the first documents of each source (unit order) as the build's per-document stages
    leave them, at most ``max_docs_per_source`` per source and ``max_chars`` in all."""
    from connectors import registry
    from engine.steps.read import docs_table
    from engine.stages.base import SourceContext

    stages = _stages(manifest)
    for st in stages:
        st.setup()
    budget = max_chars
    try:
        for src in manifest.sources:
            conn = registry.get(src.connector)(src, manifest)
            ctx = SourceContext(src.name, src, manifest, getattr(conn, "placeholder", None), manifest.deid_policy(src))
            n = 0
            for docs in _doc_batches(conn, manifest.resources.batch_docs):
                table = docs_table(docs)
                for st in stages:
                    table = st.process(table, ctx).table
                for t in table.column("text").to_pylist()[: max_docs_per_source - n]:
                    budget -= len(t)
                    n += 1
                    yield t
                    if budget <= 0:
                        return
                if n >= max_docs_per_source:
                    break
    finally:
        for st in stages:
            st.teardown()


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

"""A realistic 50k byte-level BPE for the benchmarks, in ModernBERT's id layout.

Tokenizer speed depends on the vocabulary: a small tokenizer (like the demo's 4k one) has
short merge chains and is several times faster than a 50k one, so the benchmarks use a
50k tokenizer unless ``--tokenizer PATH`` names a real one.  Layout, as ModernBERT's
``tokenizer.json``: 50,368 ids; BPE ids 0..50279; ``[UNK]`` 50280, ``[CLS]`` 50281, ``[SEP]``
50282, ``[PAD]`` 50283, ``[MASK]`` 50284 (``lstrip``), ``[unused0..82]`` 50285..50367; NFC
normalizer, byte-level pre-tokenizer and decoder, no post-processor.

It is trained on the bench corpus (the generated clinical + literature text of
``bench.data``).  That corpus has a small word inventory (it alone yields a few thousand merges),
so a deterministic Zipf-distributed pseudo-word text (morphemes of clinical and general
vocabulary glued into ~200k distinct word forms) is added to fill the merge table to
50,280 entries, as a web-scale training corpus would.  Cached under ``$BENCH_CACHE``
(default ``/tmp/bench-cache``); about a minute to train on one core.

    python -m bench.tokenizer50k            # prints the path (trains it on first use)
"""
from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

VOCAB = 50368
BPE_VOCAB = 50280
SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
UNUSED = VOCAB - BPE_VOCAB - len(SPECIALS)

_ONSETS = ("b c d f g h j k l m n p r s t v w z bl br ch cl cr dr fl fr gl gr ph pl pr qu sc sh sk sl sm sn sp st str "
           "th tr tw wh").split()
_NUCLEI = "a e i o u y ai au ea ee ei ie io oa oo ou ue".split()
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "st", "ck", "ng", "x", "ph", "rm", "th"]
_MORPHEMES = ("cardio gastro nephro hepato neuro pulmo hemo thrombo angio myo osteo arthro derma onco immuno endo peri "
              "hyper hypo tachy brady dys poly oligo micro macro sub trans inter intra anti pre post re un de non "
              "itis osis ectomy otomy ostomy plasty scopy gram graphy pathy emia uria algia megaly trophy genic lytic "
              "ase ine ide ate ol one mab nib vir cillin mycin azole pril sartan olol statin tide parin "
              "tion ment ness able ible ity ous ive al ic ly er est ing ed").split()


def _pseudo_words(n: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        k = rng.random()
        if k < 0.35:  # morpheme compounds, as in biomedical vocabulary
            w = "".join(rng.choice(_MORPHEMES) for _ in range(rng.randint(2, 4)))
        else:
            w = "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.12:
            w = w.capitalize()
        words.add(w)
    return sorted(words)


def pseudo_text(mb: float, seed: int = 7, distinct: int = 200_000) -> list[str]:
    """Zipf-distributed pseudo-word paragraphs, ~``mb`` MB (deterministic)."""
    import numpy as np

    rng = random.Random(seed)
    words = _pseudo_words(distinct, rng)
    rng.shuffle(words)
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    p = 1.0 / ranks ** 1.05
    p /= p.sum()
    npr = np.random.default_rng(seed)
    out, size = [], 0
    punct = [" ", " ", " ", " ", " ", " ", ", ", ". ", "; ", " (", ") ", ": "]
    while size < mb * 1e6:
        idx = npr.choice(len(words), size=200, p=p)
        seps = npr.integers(0, len(punct), size=200)
        para = "".join(words[i] + punct[s] for i, s in zip(idx, seps)).strip()
        out.append(para)
        size += len(para)
    return out


def build(bench_mb: float = 8.0, pseudo_mb: float = 12.0):
    """Train the tokenizer (``tokenizers.Tokenizer``) as described above."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from bench import data

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = data.texts(bench_mb, "mixed", seed=12345) + pseudo_text(pseudo_mb)
    tok.train_from_iterator(corpus, trainer=trainer)
    n = tok.get_vocab_size()
    if n != BPE_VOCAB:
        raise RuntimeError(f"trained {n} BPE tokens, expected {BPE_VOCAB}: give more pseudo text")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=(t == "[MASK]")) for t in SPECIALS])
    tok.add_special_tokens([AddedToken(f"[unused{i}]", special=True, normalized=False) for i in range(UNUSED)])
    vocab = tok.get_vocab(with_added_tokens=True)
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB and vocab["[CLS]"] == 50281 and vocab["[MASK]"] == 50284
    return tok


def path(cache_dir: str | os.PathLike | None = None, announce: bool = True) -> str:
    """Path to the cached tokenizer.json, training it first if needed."""
    cache = Path(cache_dir or os.environ.get("BENCH_CACHE", "/tmp/bench-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(b"modernbert-layout-50k-v1").hexdigest()[:12]
    p = cache / f"tokenizer50k-{key}.json"
    if not p.exists():
        if announce:
            print(f"no --tokenizer given: training a 50k byte-level BPE (ModernBERT id layout) on the bench corpus -> {p}",
                  file=sys.stderr, flush=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        build().save(str(tmp))
        os.replace(tmp, p)
    elif announce:
        print(f"no --tokenizer given: using the 50k byte-level BPE trained on the bench corpus ({p})", file=sys.stderr, flush=True)
    return str(p)


if __name__ == "__main__":
    print(path())

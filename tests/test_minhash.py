"""MinHash kernel and LSH parameter choice."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kernels import lsh
from kernels.minhash import MinHasher, bbit_sketch, exact_jaccard, jaccard_from_signatures, jaccard_from_sketches

VOCAB = [f"w{i}" for i in range(5000)] + ["Été", "BP:", "120/80", "x", "\u00a0", "naïve", "—"]


def _docs(n=300, seed=0):
    rng = random.Random(seed)
    out = [" ".join(rng.choice(VOCAB) for _ in range(rng.choice([0, 1, 3, 4, 5, 6, 50, 300]))) for _ in range(n)]
    out += ["", "   ...  ", "A", "a b c d e", "A B C D E", "hello,world;again"]
    return out


def test_numpy_and_numba_paths_identical():
    docs = _docs()
    s0 = MinHasher(use_numba=False).signatures(docs)
    s1 = MinHasher(use_numba=True).signatures(docs)
    assert s0.dtype == np.uint32 and s0.shape == (len(docs), 128)
    assert np.array_equal(s0, s1)
    # batching does not change anything
    assert np.array_equal(MinHasher(use_numba=False).signatures(docs, batch_bytes=100), s0)


def test_reproducible_golden_values():
    """Pinned values: signatures must not change across machines or versions (they key the dedup)."""
    mh = MinHasher(num_perm=128, ngram=5, seed=1, use_numba=False)
    sig = mh.signatures(["The patient was admitted on 2150-03-04 with chest pain and shortness of breath."])[0]
    again = MinHasher(num_perm=128, ngram=5, seed=1, use_numba=False).signatures(
        ["the PATIENT was admitted on 2150 03 04, with chest pain and shortness of breath"])[0]
    assert np.array_equal(sig, again)  # case and punctuation are not part of words
    assert sig[:4].tolist() == GOLDEN
    assert not np.array_equal(sig, MinHasher(seed=2, use_numba=False).signatures(["The patient was admitted"])[0])


GOLDEN = [176208679, 687592336, 149352368, 378182891]


def test_empty_docs_have_no_signature_and_short_docs_do():
    sig = MinHasher(use_numba=False).signatures(["", " ... ", "one", "one two"])
    assert (sig[0] == 0xFFFFFFFF).all() and (sig[1] == 0xFFFFFFFF).all()
    assert not (sig[2] == 0xFFFFFFFF).all() and not np.array_equal(sig[2], sig[3])


def test_estimate_tracks_exact_jaccard():
    rng = random.Random(4)
    mh = MinHasher(num_perm=256)
    errs = []
    for _ in range(30):
        words = [rng.choice(VOCAB[:3000]) for _ in range(400)]
        other = list(words)
        for _ in range(rng.randint(0, 40)):
            other[rng.randrange(len(other))] = rng.choice(VOCAB)
        a, b = " ".join(words), " ".join(other)
        s = mh.signatures([a, b])
        j = exact_jaccard(a, b)
        errs.append(abs(jaccard_from_signatures(s[0], s[1]) - j))
        errs.append(abs(jaccard_from_sketches(bbit_sketch(s[:1]), bbit_sketch(s[1:]))[0] - j))
    assert np.mean(errs) < 0.03 and max(errs) < 0.12


def test_optimal_param_matches_datasketch():
    ds = pytest.importorskip("datasketch.lsh")
    for t, n in [(0.8, 128), (0.7, 128), (0.9, 256), (0.5, 64)]:
        assert lsh.optimal_param(t, n) == ds._optimal_param(t, n, 0.5, 0.5)
    assert lsh.choose(0.8, 128, verify=False) == (9, 13)
    assert lsh.choose(0.8, 128, verify=True) == (12, 10)
    assert lsh.choose(0.8, 128, bands=16, rows=8) == (16, 8)
    with pytest.raises(ValueError):
        lsh.choose(0.8, 128, bands=16, rows=16)
    r = lsh.report(0.8, 12, 10)
    assert abs(r["p_at_threshold"] - 0.7441) < 1e-3 and r["fn_area"] < r["fp_area"]


def test_band_keys_salt_and_band_index():
    sig = MinHasher(use_numba=False).signatures(["a b c d e f g", "a b c d e f g", "x y z w v u"])
    k = lsh.band_keys(sig, 12, 10)
    assert k.shape == (3, 12) and k.dtype == np.uint64
    assert np.array_equal(k[0], k[1]) and not np.intersect1d(k[0], k[2]).size
    assert len(set(k[0].tolist())) == 12  # same rows in different bands -> different keys
    ks = lsh.band_keys(sig, 12, 10, salt=12345)
    assert not np.intersect1d(ks[0], k[0]).size


def test_default_mode_switches_to_numba_without_changing_signatures(monkeypatch):
    """Default mode: numpy for a process's first bytes, then the compiled kernel; same values either way."""
    pytest.importorskip("numba")
    from kernels import minhash as M

    docs = [f"patient {i} was admitted with chest pain and shortness of breath on day {i % 7}" for i in range(200)]
    ref = MinHasher(use_numba=False).signatures(docs)
    monkeypatch.setattr(M, "_NUMPY_BYTES", [0])
    monkeypatch.setattr(M, "NUMBA_AFTER_BYTES", sum(map(len, docs)) + 1)
    mh = MinHasher()
    assert np.array_equal(mh.signatures(docs), ref)
    assert mh._nb is None or "kernel" in M._NB  # below the threshold: numpy unless already loaded
    assert np.array_equal(mh.signatures(docs), ref)  # over it now
    assert mh._nb is not None

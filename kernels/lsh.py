"""LSH banding for MinHash signatures: choosing bands x rows, and hashing bands into keys.

Two documents whose signatures agree on all ``r`` rows of at least one of ``b`` bands become a
candidate pair.  With Jaccard similarity ``s`` that happens with probability (the S-curve)

    P(s) = 1 - (1 - s**r) ** b

:func:`optimal_param` picks ``(b, r)`` with ``b * r <= num_perm`` minimising the weighted
false-positive area ``integral_0^t P(s) ds`` plus false-negative area ``integral_t^1 (1 - P(s)) ds``
(the criterion of datasketch's ``MinHashLSH``, weights 0.5 / 0.5; the tests check we pick the same).

Weights.  datasketch weighs both areas 0.5 / 0.5.  Our near-dup stage verifies every candidate
by its estimated Jaccard (``verify: true``, the default), so a false positive costs CPU only while
a false negative is a duplicate left in the corpus: :func:`choose` then weighs them 0.2 / 0.8.
Without verification (``verify: false``) it uses datasketch's 0.5 / 0.5.

Threshold 0.8, num_perm 128, ``verify: true`` (weights 0.2 / 0.8): **b = 12 bands x r = 10 rows**

    s      0.50    0.60    0.70    0.75    0.80    0.85    0.90    0.95
    P(s)   0.0117  0.0702  0.2910  0.5012  0.7441  0.9280  0.9942  1.0000

    false-negative rate at the threshold 0.26 (0.07 at s = 0.85, 0.006 at 0.9); pairs at
    s = 0.6 become (verified, then rejected) candidates 7 % of the time.  FP area 0.0706,
    FN area 0.0093.

Threshold 0.8, num_perm 128, ``verify: false`` (0.5 / 0.5, as datasketch): **b = 9 x r = 13**

    s      0.50    0.60    0.70    0.75    0.80    0.85    0.90    0.95
    P(s)   0.0011  0.0117  0.0839  0.1946  0.3988  0.6864  0.9286  0.9985

    false-negative rate at the threshold 0.60 (0.31 at 0.85, 0.07 at 0.9); FP area 0.0253,
    FN area 0.0333.

A manifest can force other ``bands`` / ``rows`` (e.g. 16 x 8: P(0.8) = 0.947).
"""
from __future__ import annotations

import numpy as np

from kernels.minhash import U64, fmix64

_GRID = 2001


def s_curve(s, bands: int, rows: int):
    """Probability that two documents with Jaccard ``s`` share at least one band."""
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s ** rows) ** bands


def _integrate(f, a: float, b: float) -> float:
    if b <= a:
        return 0.0
    x = np.linspace(a, b, _GRID)
    y = f(x)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def fp_area(threshold: float, bands: int, rows: int) -> float:
    return _integrate(lambda s: s_curve(s, bands, rows), 0.0, threshold)


def fn_area(threshold: float, bands: int, rows: int) -> float:
    return _integrate(lambda s: 1.0 - s_curve(s, bands, rows), threshold, 1.0)


def optimal_param(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` minimising ``fp_weight * FP area + fn_weight * FN area`` with ``bands * rows <= num_perm``."""
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            err = fp_weight * fp_area(threshold, b, r) + fn_weight * fn_area(threshold, b, r)
            if err < best_err:
                best, best_err = (b, r), err
    return best


#: (fp_weight, fn_weight) by verification on / off
WEIGHTS = {True: (0.2, 0.8), False: (0.5, 0.5)}


def choose(threshold: float, num_perm: int, bands: int | None = None, rows: int | None = None,
           verify: bool = True) -> tuple[int, int]:
    """The manifest's ``bands`` / ``rows`` when given (the other one filled in), else :func:`optimal_param`
    with :data:`WEIGHTS` for ``verify``."""
    if bands and rows:
        if bands * rows > num_perm:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm = {num_perm}")
        return int(bands), int(rows)
    if bands:
        return int(bands), max(1, num_perm // int(bands))
    if rows:
        return max(1, num_perm // int(rows)), int(rows)
    return _cached_optimal(round(float(threshold), 6), int(num_perm), *WEIGHTS[bool(verify)])


_CACHE: dict[tuple, tuple[int, int]] = {}


def _cached_optimal(t: float, n: int, fpw: float, fnw: float) -> tuple[int, int]:
    if (t, n, fpw, fnw) not in _CACHE:
        _CACHE[(t, n, fpw, fnw)] = optimal_param(t, n, fpw, fnw)
    return _CACHE[(t, n, fpw, fnw)]


def report(threshold: float, bands: int, rows: int) -> dict:
    """The S-curve at a few similarities plus FP/FN areas and the miss rate at the threshold."""
    pts = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    return {
        "bands": bands,
        "rows": rows,
        "s_curve": {f"{s:.2f}": round(float(s_curve(s, bands, rows)), 4) for s in pts},
        "p_at_threshold": round(float(s_curve(threshold, bands, rows)), 4),
        "fn_rate_at_threshold": round(1.0 - float(s_curve(threshold, bands, rows)), 4),
        "fp_area": round(fp_area(threshold, bands, rows), 5),
        "fn_area": round(fn_area(threshold, bands, rows), 5),
    }


def band_keys(sig: np.ndarray, bands: int, rows: int, salt: int = 0) -> np.ndarray:
    """uint64[D, bands]: one 64-bit key per band of each signature (uint32[D, num_perm]).

    The band index and ``salt`` (e.g. a per-source salt for ``scope: source``) are mixed into the
    key, so equal rows in different bands, or in differently salted documents, never collide
    (except by a 2**-64 accident, which verification removes)."""
    D = sig.shape[0]
    if bands * rows > sig.shape[1]:
        raise ValueError("bands x rows exceeds the signature length")
    v = sig[:, : bands * rows].reshape(D, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        acc = (np.arange(bands, dtype=np.uint64) + U64(1)) * U64(0x9E3779B97F4A7C15) ^ U64(salt & ((1 << 64) - 1))
        acc = np.broadcast_to(acc, (D, bands)).copy()
        for j in range(rows):
            acc ^= v[:, :, j]
            acc *= U64(0x100000001B3)
            acc = fmix64(acc)
    return acc

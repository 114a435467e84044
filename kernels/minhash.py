"""MinHash signatures over word n-gram shingles, vectorized in numpy over batches of documents.

Pipeline for a batch of documents (no Python loop per word or per shingle):

1. **Words.**  The texts are UTF-8 encoded and joined into one byte buffer.  A byte belongs to a
   word when it is an ASCII letter or digit or any non-ASCII byte (so accented and non-Latin
   words stay whole); everything else (spaces, punctuation, symbols) separates words.  ASCII
   letters are lower-cased.  ``"BP: 120/80 mmHg."`` -> ``bp 120 80 mmhg``.
2. **Word hashes (64-bit).**  Each word is hashed with a polynomial hash over its bytes modulo
   2**64 (base ``_BASE``), computed for all words at once with ``np.add.reduceat``, then mixed
   with the murmur3 64-bit finalizer.  Pure integer arithmetic: identical on every machine.
3. **Shingle hashes (64-bit).**  A shingle is ``ngram`` consecutive words of one document;
   its hash is ``fmix64(sum_k word[i+k] * K_k + seed)`` with distinct odd constants ``K_k``
   (order-sensitive).  A document with fewer than ``ngram`` words has one shingle of all its
   words; a document without words has no shingles (``empty``: it gets no signature).
4. **MinHash.**  ``num_perm`` multiply-shift hash functions ``h_p(x) = (a_p * x + b_p) mod 2**64``
   (``a_p`` odd), derived from ``seed`` with splitmix64 (no numpy RNG, whose streams may change
   between versions).  The signature value is the top 32 bits of ``min_x h_p(x)`` (the shift is
   monotone, so the min is taken on the 64-bit values and shifted once).  Computed as an outer
   product over small chunks of ~``chunk_shingles`` shingles (cache-sized), reduced per document
   with ``np.minimum.reduceat``.

The estimated Jaccard similarity of two documents is the share of equal signature values.
:func:`bbit_sketch` keeps the low 8 bits of each value (b-bit minwise hashing, Li & Koenig 2010)
for a compact verification sketch; :func:`jaccard_from_sketches` corrects for the 1/256 chance
agreement.

With numba installed (optional; ``ENGINE_MINHASH_NUMBA=0`` turns it off) steps 1-4 run in one
compiled pass per document (same arithmetic, same signatures bit for bit: the tests check it); the
numpy path is the fallback when numba is missing.  Loading numba and the cached kernel costs about
a second per process, as long as the numpy path takes for ~8 MB of text, so by default a process
hashes its first :data:`NUMBA_AFTER_BYTES` with numpy and loads the kernel only when it has more
(small builds never pay for it).  Measured here: numba ~9-23k docs/s per core on
2.2 KB documents (5-28x datasketch's fastest path in the same run), numpy ~2.3x datasketch.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

M64 = (1 << 64) - 1
U64 = np.uint64

#: polynomial base for word hashes (odd, so it is invertible mod 2**64)
_BASE = 0x100000001B3 * 0x9E3779B1 & M64 | 1
_GOLD = 0x9E3779B97F4A7C15
#: per-position multipliers for combining word hashes into an n-gram hash (odd)


def _splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def _splitmix_seq(seed: int, n: int, salt: int = 0) -> list[int]:
    st = (seed * 0x2545F4914F6CDD1D + salt) & M64
    out = []
    for _ in range(n):
        st, z = _splitmix64(st)
        out.append(z)
    return out


def fmix64(x: np.ndarray) -> np.ndarray:
    """murmur3 64-bit finalizer, elementwise on a uint64 array (in place on a copy)."""
    x = x ^ (x >> U64(33))
    x *= U64(0xFF51AFD7ED558CCD)
    x ^= x >> U64(33)
    x *= U64(0xC4CEB93FE53B5D34)
    x ^= x >> U64(33)
    return x


def _byte_lut() -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint64)
    for c in range(ord("0"), ord("9") + 1):
        lut[c] = c
    for c in range(ord("a"), ord("z") + 1):
        lut[c] = c
    for c in range(ord("A"), ord("Z") + 1):
        lut[c] = c + 32
    lut[0x80:] = np.arange(0x80, 0x100, dtype=np.uint64)
    return lut


_LUT = _byte_lut()
_IS_WORD = _LUT != 0
_POW = np.ones(1, dtype=np.uint64)


def _pow(n: int) -> np.ndarray:
    """``_BASE ** j mod 2**64`` for ``j < n`` (cached, grown on demand)."""
    global _POW
    if len(_POW) < n:
        m = max(n, 2 * len(_POW), 256)
        p = np.full(m, _BASE, dtype=np.uint64)
        p[0] = 1
        with np.errstate(over="ignore"):
            _POW = np.cumprod(p, dtype=np.uint64)
    return _POW[:n]


def _ngram_consts(n: int) -> np.ndarray:
    vals = _splitmix_seq(0x5EED, max(n, 1), salt=0xA11CE)
    return np.array([v | 1 for v in vals], dtype=np.uint64)


class MinHasher:
    """Reusable MinHash signature builder (``num_perm`` hash functions, word ``ngram`` shingles)."""

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 1, chunk_shingles: int = 1024,
                 use_numba: bool | None = None):
        if num_perm < 1 or ngram < 1:
            raise ValueError("num_perm and ngram must be >= 1")
        self.num_perm = int(num_perm)
        self.ngram = int(ngram)
        self.seed = int(seed)
        self.chunk_shingles = int(chunk_shingles)
        ab = _splitmix_seq(self.seed, 2 * self.num_perm, salt=0xB1A5)
        self.a = np.array([v | 1 for v in ab[: self.num_perm]], dtype=np.uint64)
        self.b = np.array(ab[self.num_perm:], dtype=np.uint64)
        self.k = _ngram_consts(self.ngram)
        self.shingle_seed = U64(_splitmix_seq(self.seed, 1, salt=0x5A17)[0])
        if use_numba is None and os.environ.get("ENGINE_MINHASH_NUMBA", "1") == "0":
            use_numba = False
        self._use_numba = use_numba  # None: numpy for a process's first NUMBA_AFTER_BYTES, then numba
        self._nb = _numba_kernel() if use_numba else None

    def _kernel(self, size: int):
        """The compiled kernel for a batch of ``size`` characters, or None for the numpy path."""
        if self._nb is not None or self._use_numba is False:
            return self._nb
        if "kernel" not in _NB and _NUMPY_BYTES[0] + size < NUMBA_AFTER_BYTES:
            _NUMPY_BYTES[0] += size
            return None
        self._nb = _numba_kernel()
        return self._nb

    # -- shingles ----------------------------------------------------------------------------------
    def shingle_hashes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(hashes uint64[S], counts int64[D])``: the shingle hashes of all documents, in order,
        and how many belong to each document."""
        D = len(texts)
        enc = [t.encode("utf-8", "surrogatepass") for t in texts]
        lens = np.fromiter((len(e) for e in enc), dtype=np.int64, count=D)
        buf = np.frombuffer(b" ".join(enc), dtype=np.uint8)
        if buf.size == 0:
            return np.zeros(0, np.uint64), np.zeros(D, np.int64)
        doc_start = np.zeros(D, dtype=np.int64)
        if D > 1:
            doc_start[1:] = np.cumsum(lens[:-1] + 1)
        w = _IS_WORD[buf]
        edges = np.diff(w.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        ws = np.flatnonzero(edges == 1)  # word starts (byte positions)
        we = np.flatnonzero(edges == -1)  # word ends (exclusive)
        W = ws.size
        if W == 0:
            return np.zeros(0, np.uint64), np.zeros(D, np.int64)
        wlen = we - ws
        # position of every word byte inside its word, then polynomial sum per word
        wb = np.flatnonzero(w)
        word_of_byte = np.repeat(np.arange(W), wlen)
        pos = wb - ws[word_of_byte]
        vals = _LUT[buf[wb]]
        with np.errstate(over="ignore"):
            vals *= _pow(int(wlen.max()))[pos]
            seg = np.zeros(W, dtype=np.int64)
            seg[1:] = np.cumsum(wlen[:-1])
            raw = np.add.reduceat(vals, seg)
            raw += wlen.astype(np.uint64) * U64(_GOLD)
            fw = fmix64(raw)
        # words per document
        doc_of_word = np.searchsorted(doc_start, ws, side="right") - 1
        nw = np.bincount(doc_of_word, minlength=D).astype(np.int64)
        wstart = np.zeros(D, dtype=np.int64)
        if D > 1:
            wstart[1:] = np.cumsum(nw[:-1])
        n = self.ngram
        cnt = np.where(nw > 0, np.maximum(nw - n + 1, 1), 0)
        S = int(cnt.sum())
        sstart = np.zeros(D, dtype=np.int64)
        if D > 1:
            sstart[1:] = np.cumsum(cnt[:-1])
        # word index of every shingle's first word
        first = np.arange(S, dtype=np.int64) + np.repeat(wstart - sstart, cnt)
        wend = np.repeat(wstart + nw, cnt)  # exclusive end word of the shingle's document
        with np.errstate(over="ignore"):
            acc = np.full(S, self.shingle_seed, dtype=np.uint64)
            for k in range(n):
                idx = first + k
                if k == 0:
                    acc += fw[idx] * self.k[0]
                else:
                    ok = idx < wend
                    acc += np.where(ok, fw[np.minimum(idx, W - 1)], U64(0)) * self.k[k]
            h = fmix64(acc)
        return h, cnt

    # -- signatures --------------------------------------------------------------------------------
    def signatures_from_hashes(self, h: np.ndarray, cnt: np.ndarray) -> np.ndarray:
        """uint32[D, num_perm]; documents without shingles get all 0xFFFFFFFF."""
        D = len(cnt)
        sig = np.full((D, self.num_perm), 0xFFFFFFFF, dtype=np.uint32)
        if h.size == 0:
            return sig
        nz = np.flatnonzero(cnt > 0)
        c = cnt[nz]
        start = np.zeros(len(nz), dtype=np.int64)
        start[1:] = np.cumsum(c[:-1])
        # chunks of whole documents holding about chunk_shingles shingles each
        i = 0
        A, B = self.a, self.b
        with np.errstate(over="ignore"):
            while i < len(nz):
                lo = start[i]
                j = i + 1
                while j < len(nz) and start[j] + c[j] - lo <= self.chunk_shingles:
                    j += 1
                hi = start[j - 1] + c[j - 1]
                m = np.multiply.outer(h[lo:hi], A)
                m += B
                mins = np.minimum.reduceat(m, start[i:j] - lo, axis=0)
                sig[nz[i:j]] = (mins >> U64(32)).astype(np.uint32)
                i = j
        return sig

    def _signatures_nb(self, texts: Sequence[str]) -> np.ndarray:
        enc = [t.encode("utf-8", "surrogatepass") for t in texts]
        offs = np.zeros(len(enc) + 1, dtype=np.int64)
        offs[1:] = np.cumsum(np.fromiter((len(e) for e in enc), dtype=np.int64, count=len(enc)))
        buf = np.frombuffer(b"".join(enc), dtype=np.uint8)
        sig = np.full((len(texts), self.num_perm), 0xFFFFFFFF, dtype=np.uint32)
        self._nb(buf, offs, _LUT, U64(_BASE), U64(_GOLD), self.k, self.shingle_seed, self.a, self.b, sig)
        return sig

    def signatures(self, texts: Sequence[str], batch_bytes: int = 1 << 20) -> np.ndarray:
        """uint32[len(texts), num_perm] MinHash signatures (rows of 0xFFFFFFFF for docs without words)."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        i = 0
        while i < len(texts):
            j, size = i, 0
            while j < len(texts) and (j == i or size + len(texts[j]) <= batch_bytes):
                size += len(texts[j])
                j += 1
            if self._kernel(size) is not None:
                out[i:j] = self._signatures_nb(texts[i:j])
            else:
                h, cnt = self.shingle_hashes(texts[i:j])
                out[i:j] = self.signatures_from_hashes(h, cnt)
            i = j
        return out


def bbit_sketch(sig: np.ndarray) -> np.ndarray:
    """Low 8 bits of every signature value: uint8[D, num_perm] (b-bit minwise hashing, b=8)."""
    return (sig & np.uint32(0xFF)).astype(np.uint8)


def jaccard_from_signatures(s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Estimated Jaccard: share of equal values along the last axis."""
    return np.mean(s1 == s2, axis=-1)


def jaccard_from_sketches(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Estimated Jaccard from 8-bit sketches: ``(m - 1/256) / (1 - 1/256)`` with ``m`` the share of equal
    bytes (two different minima agree in their low 8 bits by chance with probability 1/256)."""
    m = np.mean(k1 == k2, axis=-1)
    return np.clip((m - 1 / 256) / (1 - 1 / 256), 0.0, 1.0)


def exact_jaccard(a: str, b: str, ngram: int = 5) -> float:
    """Reference Jaccard of two texts' shingle sets (same tokenization as :class:`MinHasher`); for tests."""
    mh = MinHasher(num_perm=1, ngram=ngram)
    h, cnt = mh.shingle_hashes([a, b])
    x, y = set(h[: cnt[0]].tolist()), set(h[cnt[0]:].tolist())
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


_NB: dict = {}
#: characters a process hashes on the numpy path before it loads the numba kernel (default mode)
NUMBA_AFTER_BYTES = 8 << 20
_NUMPY_BYTES = [0]


def _numba_kernel():
    """The compiled kernel (tokenize + hash + min in one pass per document) when numba imports,
    else None (numpy path).  Same arithmetic as the numpy path, so the same signatures bit for bit.
    numba is imported here, lazily (it costs ~90 MB RSS; the dedup shuffle steps never need it)."""
    if "kernel" not in _NB:
        try:
            import numba
        except Exception:  # numba is optional
            _NB["kernel"] = None
            return None
        global _nb_fmix
        try:
            _nb_fmix = numba.njit(cache=True, nogil=True, inline="always")(_py_fmix)
            _NB["kernel"] = numba.njit(cache=True, nogil=True)(_py_kernel)
        except Exception:  # no writable cache location: compile per process
            _nb_fmix = numba.njit(nogil=True, inline="always")(_py_fmix)
            _NB["kernel"] = numba.njit(nogil=True)(_py_kernel)
    return _NB["kernel"]


def _py_fmix(x):  # compiled by numba (module level, so its on-disk cache works)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB93FE53B5D34)
    x ^= x >> np.uint64(33)
    return x


_nb_fmix = _py_fmix


def _py_kernel(buf, offs, lut, base, gold, kk, seed, a, b, sig):  # pragma: no cover - compiled
    P = a.shape[0]
    n = kk.shape[0]
    tmp = np.empty(P, dtype=np.uint64)
    words = np.empty(1024, dtype=np.uint64)
    for d in range(offs.shape[0] - 1):
        lo, hi = offs[d], offs[d + 1]
        # words of this document
        m = 0
        i = lo
        while i < hi:
            c = lut[buf[i]]
            if c == 0:
                i += 1
                continue
            acc = np.uint64(0)
            pw = np.uint64(1)
            L = 0
            while i < hi:
                c = lut[buf[i]]
                if c == 0:
                    break
                acc += c * pw
                pw *= base
                L += 1
                i += 1
            acc += np.uint64(L) * gold
            if m == words.shape[0]:
                nw = np.empty(2 * m, dtype=np.uint64)
                nw[:m] = words
                words = nw
            words[m] = _nb_fmix(acc)
            m += 1
        if m == 0:
            continue
        for p in range(P):
            tmp[p] = np.uint64(0xFFFFFFFFFFFFFFFF)
        ns = m - n + 1 if m >= n else 1
        kmax = n if m >= n else m
        for s in range(ns):
            acc = seed
            for k in range(kmax):
                acc += words[s + k] * kk[k]
            x = _nb_fmix(acc)
            for p in range(P):
                tmp[p] = min(tmp[p], a[p] * x + b[p])
        for p in range(P):
            sig[d, p] = np.uint32(tmp[p] >> np.uint64(32))

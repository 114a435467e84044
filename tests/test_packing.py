import numpy as np
import pytest

from kernels.packing import BestFitPacker, packing_efficiency, windows


def test_windows_keep_specials_and_every_token():
    ids = np.arange(10, 35, dtype=np.uint32)  # 25 tokens
    ws = windows(ids, 10, 1, 2)
    assert len(ws) == 4  # ceil(25 / 8)
    assert all(w[0] == 1 and w[-1] == 2 and len(w) <= 10 for w in ws)
    assert np.array_equal(np.concatenate([w[1:-1] for w in ws]), ids)
    assert [len(w) for w in windows(np.zeros(0, np.uint32), 10, 1, 2)] == [2]
    with pytest.raises(ValueError):
        windows(ids, 2, 1, 2)


def _pack(lengths, L, **kw):
    p = BestFitPacker(L, **kw)
    rows = []
    for i, n in enumerate(lengths):
        rows += p.add(np.full(n, i, dtype=np.uint32), f"d{i}")
    return rows + p.flush()


@pytest.mark.parametrize("L,buffer", [(512, 64), (1024, 7), (8192, 1000)])
def test_packer_invariants(L, buffer):
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(5.5, 1.1, 3000).astype(int), 3, L)
    rows = _pack(lengths, L, buffer_size=buffer)
    seen = []
    for r in rows:
        ids = np.concatenate(r.seqs)
        assert len(ids) <= L and sum(len(s) for s in r.seqs) == len(ids)
        for s, d in zip(r.seqs, r.ids):
            assert int(d[1:]) == s[0] and len(s) == lengths[int(d[1:])]
            seen.append(int(d[1:]))
    assert sorted(seen) == list(range(len(lengths)))  # every sequence exactly once
    eff = packing_efficiency(int(lengths.sum()), len(rows), L)
    assert eff > (0.97 if buffer >= 64 else 0.85)


def test_packer_is_deterministic_and_rejects_oversize():
    lengths = [5, 9, 3, 7, 7, 2, 10, 1] * 20
    a = [[list(x) for x in r.ids] for r in _pack(lengths, 16, buffer_size=8)]
    b = [[list(x) for x in r.ids] for r in _pack(lengths, 16, buffer_size=8)]
    assert a == b
    with pytest.raises(ValueError):
        BestFitPacker(8).add(np.zeros(9, np.uint32), "x")


def test_high_efficiency_at_8192_on_long_tail():
    rng = np.random.default_rng(1)
    lengths = np.clip(rng.lognormal(6.5, 1.2, 20000).astype(int) + 2, 3, 8192)
    rows = _pack(lengths, 8192, buffer_size=4096)
    assert packing_efficiency(int(lengths.sum()), len(rows), 8192) >= 0.995

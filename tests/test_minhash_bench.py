"""Smoke test of bench/minhash.py (tiny sizes): it runs and reports sane numbers."""
from __future__ import annotations

import pytest

bench = pytest.importorskip("bench.minhash")


@pytest.mark.slow
def test_bench_smoke():
    sp = bench.bench_speed(60, 200, rounds=1)
    assert sp["ours_best"] > 0 and sp["datasketch_best"] > 0 and sp["ratio_best"] > 0  # the bench reports the ratio
    mem = bench.bench_memory(300, 40, parts=2)
    assert mem["x10"]["stats"]["docs"] == 10 * mem["x1"]["stats"]["docs"] == 3000
    assert mem["x10"]["stats"]["partitions"] > mem["x1"]["stats"]["partitions"]
    assert mem["x1"]["peak_mib"] > 0 and mem["x10"]["stats"]["dropped"] > 0
    q = bench.bench_quality(60, 120)
    assert q["precision"] >= 0.6 and q["recall"] >= 0.6  # tiny sample: estimates near 0.8 are noisy

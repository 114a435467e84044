"""The audit's distinct-id tally: spilled by hash partition, the same counts as in memory."""
import os

import numpy as np

from engine.output.idset import IdTally, parts_for


def _feed(t, rng):
    written = rng.integers(0, 50_000, size=120_000, dtype=np.uint64)  # many repeats (split documents)
    dropped = np.concatenate([rng.integers(40_000, 90_000, size=20_000, dtype=np.uint64)])
    for chunk in np.array_split(written, 37):
        t.add("a", "written", chunk)
    for chunk in np.array_split(dropped, 5):
        t.add("a", "dropped", chunk)
    t.add("b", "written", np.array([1, 2, 2, 3], dtype=np.uint64))
    exp_w = np.unique(written)
    return len(exp_w), len(np.intersect1d(exp_w, dropped))


def test_spilled_tally_matches_memory(tmp_path):
    rng = np.random.default_rng(3)
    with IdTally(1) as mem:
        expect = _feed(mem, rng)
        assert mem.distinct_and_overlap("a", "written", "dropped") == expect
    rng = np.random.default_rng(3)
    with IdTally(7, buffer_ids=10_000, tmpdir=str(tmp_path)) as disk:
        _feed(disk, rng)
        spilled = [f for d in tmp_path.iterdir() for f in d.iterdir()]
        assert len(spilled) > 7
        assert disk.distinct_and_overlap("a", "written", "dropped") == expect
        assert disk.distinct_and_overlap("b", "written", "dropped") == (3, 0)
        assert disk.distinct_and_overlap("c", "written", "dropped") == (0, 0)
    assert not any(os.scandir(tmp_path))  # temporary files removed


def test_parts_for():
    assert parts_for(0) == 1 and parts_for(1000) == 1
    assert parts_for(100_000_000) == 24

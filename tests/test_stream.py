"""engine.train.stream: determinism, exact mixing, elastic rank/worker splits, resume, follow mode, checksums."""
from __future__ import annotations

import collections
import itertools
import threading
import time

import numpy as np
import pytest
import torch

from engine.train.stream import (
    BuildIncompleteError, ShardChecksumError, ShardStream, StreamLoader, batch_by_tokens, collate_packed,
    merge_states,
)
from tests.helpers_stream import row_key, set_shards, write_build

torch.set_num_threads(1)

SOURCES = {"a": (3, 10), "b": (2, 12), "c": (1, 7)}
WEIGHTS = {"a": 2.0, "b": 0.5, "c": 1.0}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("stream") / "out")
    b = write_build(out, SOURCES, weights=WEIGHTS)
    return out, b


def all_rows(out):
    from engine.output.reader import iter_batches

    keys = collections.Counter()
    for s, rb in iter_batches(out):
        d = rb.to_pydict()
        for ids, dl in zip(d["input_ids"], d["doc_lens"]):
            keys[row_key({"source": s.source, "doc_lens": dl, "input_ids": np.array(ids, np.uint16)})] += 1
    return keys


def take(ds, n=None):
    return list(itertools.islice(iter(ds), n))


def kw(**k):
    base = dict(seed=7, block_rows=3, shuffle_blocks=2, epochs=1)
    base.update(k)
    return base


def test_deterministic_and_seeded(build):
    out, _ = build
    a = [row_key(r) for r in ShardStream(out, **kw())]
    b = [row_key(r) for r in ShardStream(out, **kw())]
    c = [row_key(r) for r in ShardStream(out, **kw(seed=8))]
    assert a == b
    assert a != c and sorted(a) != sorted(c) or a != c
    e2 = [row_key(r) for r in ShardStream(out, **kw(epochs=2))]
    assert e2[: len(a)] == a and e2[len(a):] != a  # epoch 1 is reshuffled


def test_mixing_weights_exact(build):
    out, _ = build
    rows = all_rows(out)
    got = collections.Counter(row_key(r) for r in ShardStream(out, **kw()))
    n_b = sum(1 for k in rows if k[0] == "b")
    for k, v in rows.items():
        assert v == 1
        if k[0] == "a":
            assert got[k] == 2
        elif k[0] == "c":
            assert got[k] == 1
    assert sum(got[k] for k in rows if k[0] == "b") == round(0.5 * n_b)
    assert all(got[k] <= 1 for k in rows if k[0] == "b")
    assert set(got) <= set(rows)
    # override: phase 2 = only "c"
    only_c = collections.Counter(row_key(r) for r in ShardStream(out, weights="a=0,b=0", **kw()))
    assert set(k[0] for k in only_c) == {"c"} and sum(only_c.values()) == 7


def test_ranks_disjoint_equal_and_padded(build):
    out, _ = build
    full = collections.Counter(row_key(r) for r in ShardStream(out, **kw()))
    n = sum(full.values())  # 79 rows in the epoch
    for world in (2, 3, 4):
        union, seen_pos, per_rank = collections.Counter(), set(), []
        for rank in range(world):
            rows = list(ShardStream(out, rank=rank, world_size=world, **kw()))
            per_rank.append(len(rows))
            for r in rows:
                p = r["position"]
                assert (p.segment, p.index) not in seen_pos
                seen_pos.add((p.segment, p.index))
                if p.index < p.rows:
                    union[row_key(r)] += 1
                else:  # a pad row repeats a row of the epoch
                    assert row_key(r) in full
        assert union == full
        assert len(set(per_rank)) == 1 and per_rank[0] == -(-n // world)  # equal work, padded


def test_dataloader_workers_disjoint_union(build):
    out, _ = build
    full = collections.Counter(row_key(r) for r in ShardStream(out, **kw()))
    loader = StreamLoader(ShardStream(out, **kw()), num_workers=2)
    got = collections.Counter(row_key(r) for r in loader)
    assert got == full
    assert loader.state_dict()["progress"]["done_epochs"] == 1  # the epoch is fully consumed


def test_resume_exact_next_row_single_process(build):
    out, _ = build
    ref = [row_key(r) for r in ShardStream(out, **kw(epochs=2))]
    ds = ShardStream(out, **kw(epochs=2))
    first = [row_key(r) for r in take(ds, 23)]
    state = ds.state_dict()
    ds2 = ShardStream(out, **kw(epochs=2))
    ds2.load_state_dict(state)
    rest = [row_key(r) for r in ds2]
    assert first + rest == ref


def test_resume_with_different_worker_count(build):
    out, _ = build
    full = collections.Counter(row_key(r) for r in ShardStream(out, **kw()))

    ds = ShardStream(out, **kw(token_budget=150))
    it = iter(StreamLoader(ds, num_workers=2))
    before = [next(it) for _ in range(5)]
    state = ds.state_dict()
    del it
    ds2 = ShardStream(out, **kw(token_budget=150))
    ds2.load_state_dict(state)
    after = list(StreamLoader(ds2, num_workers=1))
    idx = []
    for batch in before + after:
        ids = batch["input_ids"].numpy()
        cu = batch["cu_seqlens"].numpy()
        idx.extend(pos.index for pos in batch["positions"])
        assert cu[-1] == ids.shape[0]
    assert sorted(idx) == list(range(sum(full.values())))  # every position of the epoch exactly once


def test_resume_different_world_size(build):
    out, _ = build
    full = collections.Counter(row_key(r) for r in ShardStream(out, **kw()))
    consumed, states = collections.Counter(), []
    for rank in range(2):
        ds = ShardStream(out, rank=rank, world_size=2, **kw())
        for r in take(ds, 9):
            consumed[row_key(r)] += 1
        states.append(ds.state_dict())
    merged = merge_states(states)
    per_rank = []
    for rank in range(3):
        ds = ShardStream(out, rank=rank, world_size=3, **kw())
        ds.load_state_dict(merged)
        rows = list(ds)
        per_rank.append(len(rows))
        for r in rows:
            if r["position"].index < r["position"].rows:
                consumed[row_key(r)] += 1
    assert consumed == full
    assert len(set(per_rank)) == 1 and per_rank[0] == -(-(sum(full.values()) - 18) // 3)  # what was left, split equally


def test_collate_and_token_budget(build):
    out, _ = build
    rows = take(ShardStream(out, **kw()), 10)
    batches = list(batch_by_tokens(rows, 150))
    assert [r for b in batches for r in b] == rows
    for b in batches:
        assert len(b) == 1 or sum(len(r["input_ids"]) for r in b) <= 150
    c = collate_packed(rows[:3])
    lens = np.concatenate([r["doc_lens"] for r in rows[:3]])
    assert c["cu_seqlens"].dtype == torch.int32
    assert c["cu_seqlens"].tolist() == [0] + np.cumsum(lens).tolist()
    assert c["max_seqlen"] == int(lens.max())
    assert c["input_ids"].tolist() == np.concatenate([r["input_ids"] for r in rows[:3]]).tolist()
    pos = c["position_ids"].tolist()
    starts = c["cu_seqlens"][:-1].tolist()
    assert all(pos[s] == 0 for s in starts) and pos == [i - max(s for s in starts if s <= i) for i in range(len(pos))]
    # every document starts with [CLS] (1) and ends with [SEP] (2)
    ids = c["input_ids"]
    assert all(int(ids[s]) == 1 for s in starts) and all(int(ids[e - 1]) == 2 for e in c["cu_seqlens"][1:].tolist())
    assert sum(c["source_tokens"].values()) == c["num_tokens"] == len(pos)


def test_checksum_mismatch(tmp_path):
    out = str(tmp_path / "out")
    b = write_build(out, {"a": (2, 4)})
    path = tmp_path / "out" / b["shards"][1]["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ShardChecksumError, match="checksum mismatch"):
        list(ShardStream(out, epochs=1, shuffle=False))


def test_incomplete_build_needs_follow(tmp_path):
    out = str(tmp_path / "out")
    b = write_build(out, {"a": (2, 4)})
    set_shards(out, b, 1, complete=False)
    with pytest.raises(BuildIncompleteError):
        ShardStream(out)


def grow_in_background(out: str, b, counts, delay: float) -> threading.Thread:
    """A writer thread that commits ``counts`` shards one step at a time, then all 6 in final order."""

    def grow():
        for n in counts:
            time.sleep(delay)
            set_shards(out, b, n, complete=False)
        time.sleep(delay)
        set_shards(out, b, 6, complete=True, final_order=True)

    t = threading.Thread(target=grow)
    t.start()
    return t


def test_follow_mode_picks_up_new_shards(tmp_path):
    out = str(tmp_path / "out")
    b = write_build(out, {"a": (3, 5), "b": (3, 5)})
    ref = collections.Counter(row_key(r) for r in ShardStream(out, epochs=1, block_rows=2))
    (tmp_path / "out" / "build.json").unlink()  # the stream may start before the build wrote build.json

    t = grow_in_background(out, b, (1, 2, 4, 5), 0.15)
    ds = ShardStream(out, follow=True, follow_group=2, poll_interval=0.02, follow_timeout=20, block_rows=2)
    got = [r for r in ds]
    t.join()
    assert collections.Counter(row_key(r) for r in got) == ref
    assert sorted({r["position"].segment for r in got}) == ["a/0", "a/1", "b/0", "b/1"]


def test_fsspec_memory_uri(tmp_path):
    out = "memory://stream-test/out"
    write_build(out, {"a": (2, 4), "b": (1, 3)})
    rows = list(ShardStream(out, epochs=1, block_rows=2, cache_dir=str(tmp_path / "cache")))
    assert len(rows) == 11
    assert list((tmp_path / "cache").iterdir())


def test_all_weights_zero_ends(build):
    out, _ = build
    assert list(ShardStream(out, weights="a=0,b=0,c=0", seed=1)) == []


@pytest.mark.slow
def test_bench_loader_smoke(capsys):
    from bench.loader import main

    res = main(["--small", "--json"])
    assert res["stream_rows_tok_s"] > 0 and res["raw_tok_s"] > 0
    assert res["stream_rows_tokens"] == sum(res["tokens_per_source"].values())


def test_resume_same_worker_count_replays_batch_order(build):
    out, _ = build

    def key(batch):
        return [(p.segment, p.index) for p in batch["positions"]]

    ref = [key(b) for b in StreamLoader(ShardStream(out, **kw(token_budget=150, epochs=2)), num_workers=2)]
    loader = StreamLoader(ShardStream(out, **kw(token_budget=150, epochs=2)), num_workers=2)
    it = iter(loader)
    first = [key(next(it)) for _ in range(7)]
    state = loader.state_dict()
    del it
    loader2 = StreamLoader(ShardStream(out, **kw(token_budget=150, epochs=2)), num_workers=2)
    loader2.load_state_dict(state)
    it2 = iter(loader2)
    mid = [key(next(it2)) for _ in range(4)]
    state2 = loader2.state_dict()  # a second resume composes the round-robin phase
    del it2
    loader3 = StreamLoader(ShardStream(out, **kw(token_budget=150, epochs=2)), num_workers=2)
    loader3.load_state_dict(state2)
    rest = [key(b) for b in loader3]
    assert first + mid + rest == ref


def test_unknown_weight_names_are_an_error(build):
    out, _ = build
    from engine.train.stream import UnknownSourceError

    with pytest.raises(UnknownSourceError, match="unknown sources bb; the build's sources are a, b, c"):
        ShardStream(out, weights="a=1,bb=0")
    with pytest.raises(ValueError, match="NAME=WEIGHT"):
        ShardStream(out, weights="a")


def test_more_consumers_than_rows_never_starve(tmp_path):
    """8 ranks x 2 workers over a 6-row build: every consumer gets rows in every epoch (padding), so an
    endless stream yields at once for each of them and ranks stay equal."""
    out = str(tmp_path / "out")
    write_build(out, {"a": (1, 4), "b": (1, 2)})
    for rank in range(8):
        loader = StreamLoader(ShardStream(out, rank=rank, world_size=8, block_rows=2, seed=1), num_workers=2)
        t0 = time.monotonic()
        it = iter(loader)
        got = [next(it) for _ in range(6)]  # three epochs of two rows, one per worker
        assert time.monotonic() - t0 < 30
        assert sorted({r["position"].segment for r in got}) == ["epoch-0", "epoch-1", "epoch-2"]
        del it


def _shares(counter):
    tot = sum(counter.values())
    return {k: v / tot for k, v in counter.items()}


@pytest.mark.parametrize("scale", ["demo", "demo_x10"])
def test_source_shares_within_one_point_for_world_1_to_8(tmp_path, scale):
    """Per-source token shares of an epoch match the weights within 1 point for world sizes 1-8, both
    for the whole epoch and for what ranks consume in lockstep until the first one runs dry.  At the
    demo's own scale (38 rows, 61 per weighted epoch) up to 5 of 66 rows are padding."""
    from tests.helpers_stream import DEMO_LIKE, DEMO_WEIGHTS

    out = str(tmp_path / "out")
    sources = DEMO_LIKE if scale == "demo_x10" else {"mimic_notes": (1, 23), "pubmed": (1, 12), "case_reports": (1, 3)}
    b = write_build(out, sources, weights=DEMO_WEIGHTS)
    tokens = collections.Counter()
    for s in b["shards"]:
        tokens[s["source"]] += s["tokens"] * DEMO_WEIGHTS[s["source"]]
    want = _shares(tokens)
    for world in range(1, 9):
        per_rank = []
        for rank in range(world):
            ds = ShardStream(out, rank=rank, world_size=world, seed=5, epochs=1, token_budget=256)
            per_rank.append(list(ds))
        epoch = collections.Counter()
        for batches in per_rank:
            for mb in batches:
                epoch.update(mb["source_tokens"])
        steps = min(len(x) for x in per_rank)
        lockstep = collections.Counter()
        for batches in per_rank:
            for mb in batches[:steps]:
                lockstep.update(mb["source_tokens"])
        for got in (_shares(epoch), _shares(lockstep)):
            for k in want:
                assert abs(got[k] - want[k]) < 0.01, (world, k, got[k], want[k])
        rows = [sum(mb["num_rows"] for mb in x) for x in per_rank]
        assert len(set(rows)) == 1, rows


def test_follow_resume_across_build_completion(tmp_path):
    """State saved while the build runs (commit-order listing) resumes after it completed (source-major
    listing): every row exactly once."""
    out = str(tmp_path / "out")
    b = write_build(out, {"a": (4, 5), "b": (3, 5), "c": (1, 5)})
    ref = collections.Counter(row_key(r) for r in ShardStream(out, epochs=1, block_rows=2))
    set_shards(out, b, 5, complete=False)  # a0 b0 c0 a1 b1: segments a/0 and b/0 are ready
    opts = dict(follow=True, follow_group=2, poll_interval=0.01, follow_timeout=5, block_rows=2)
    first = []
    ds = ShardStream(out, **opts)
    for r in ds:
        first.append(r)
        if len(first) == 13:
            break
    state = ds.state_dict()
    assert {k: len(v["shards"]) for k, v in state["progress"]["segments"].items()} == {"b/0": 2}
    set_shards(out, b, 8, complete=True, final_order=True)
    ds2 = ShardStream(out, **opts)
    ds2.load_state_dict(state)
    rest = list(ds2)
    got = collections.Counter(row_key(r) for r in first + rest)
    assert got == ref and max(got.values()) == 1


def test_follow_ranks_split_every_row_once(tmp_path):
    out = str(tmp_path / "out")
    write_build(out, {"a": (3, 7), "b": (2, 3)})
    ref = collections.Counter(row_key(r) for r in ShardStream(out, epochs=1, block_rows=2))
    got = collections.Counter()
    for rank in range(3):
        got.update(row_key(r) for r in ShardStream(out, follow=True, follow_group=2, rank=rank, world_size=3, block_rows=2))
    assert got == ref


def test_follow_with_dataloader_workers_build_completes_mid_run(tmp_path):
    """Two dataloader workers follow a build that completes (and reorders its listing) mid-run: every
    row exactly once."""
    out = str(tmp_path / "out")
    b = write_build(out, {"a": (4, 5), "b": (2, 5)})
    ref = collections.Counter(row_key(r) for r in ShardStream(out, epochs=1, block_rows=2))
    set_shards(out, b, 2, complete=False)

    t = grow_in_background(out, b, (3, 4, 5), 0.3)
    ds = ShardStream(out, follow=True, follow_group=2, poll_interval=0.05, follow_timeout=30, block_rows=2)
    got = collections.Counter(row_key(r) for r in StreamLoader(ds, num_workers=2))
    t.join()
    assert got == ref


def test_state_finishes_a_segment_whatever_order_consumers_end_in():
    from engine.train.stream import Position, StreamState

    st = StreamState()
    for i in list(range(5, 10)) + list(range(0, 5)):  # the consumer of the second half ends first
        st.observe(Position("epoch-0", i, 10, 10), (2, 1))
    assert st.done_epochs == 1 and not st.segments
    st2 = StreamState()
    for i in range(10, 12):  # pad rows count towards the split's total
        st2.observe(Position("epoch-0", i, 10, 12), (1, 1))
    for i in range(10):
        st2.observe(Position("epoch-0", i, 10, 12), (1, 1))
    assert st2.done_epochs == 1

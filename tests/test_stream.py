"""engine.train.stream: determinism, exact mixing, disjoint rank/worker splits, resume, follow mode, checksums."""
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
    base = dict(seed=7, partitions=8, block_rows=3, shuffle_blocks=2, epochs=1)
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


def test_ranks_disjoint_union_exact(build):
    out, _ = build
    full = collections.Counter(row_key(r) for r in ShardStream(out, **kw()))
    union, seen_pos = collections.Counter(), set()
    for rank in range(3):
        for r in ShardStream(out, rank=rank, world_size=3, **kw()):
            union[row_key(r)] += 1
            p = r["position"]
            assert p.partition % 3 == rank
            assert (p.unit, p.partition, p.index) not in seen_pos
            seen_pos.add((p.unit, p.partition, p.index))
    assert union == full


def test_dataloader_workers_disjoint_union(build):
    out, _ = build
    full = collections.Counter(row_key(r) for r in ShardStream(out, **kw()))
    loader = StreamLoader(ShardStream(out, **kw()), num_workers=2)
    got = collections.Counter(row_key(r) for r in loader)
    assert got == full
    assert loader.state_dict()["progress"]["next_unit"] == 1  # the epoch is fully consumed


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
    per_part_ref = collections.defaultdict(list)
    for r in ShardStream(out, **kw()):
        per_part_ref[r["position"].partition].append(row_key(r))

    ds = ShardStream(out, **kw(token_budget=150))
    it = iter(StreamLoader(ds, num_workers=2))
    before = [next(it) for _ in range(5)]
    state = ds.state_dict()
    del it
    ds2 = ShardStream(out, **kw(token_budget=150))
    ds2.load_state_dict(state)
    after = list(StreamLoader(ds2, num_workers=1))
    got = collections.Counter()
    per_part = collections.defaultdict(list)
    for batch in before + after:
        ids = batch["input_ids"].numpy()
        cu = batch["cu_seqlens"].numpy()
        # re-split the micro-batch into its rows using positions' order and doc counts is awkward;
        # count rows by (partition, index) instead and compare with the reference order
        for pos in batch["positions"]:
            per_part[pos.partition].append(pos.index)
        got[len(batch["positions"])] += 1
        assert cu[-1] == ids.shape[0]
    for p, idx in per_part.items():
        assert sorted(idx) == list(range(len(per_part_ref[p]))), p  # every row of every partition exactly once
    assert sum(len(v) for v in per_part.values()) == sum(full.values())


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
    for rank in range(3):
        ds = ShardStream(out, rank=rank, world_size=3, **kw())
        ds.load_state_dict(merged)
        for r in ds:
            consumed[row_key(r)] += 1
    assert consumed == full


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
        list(ShardStream(out, epochs=1, partitions=1, shuffle=False))


def test_incomplete_build_needs_follow(tmp_path):
    out = str(tmp_path / "out")
    b = write_build(out, {"a": (2, 4)})
    set_shards(out, b, 1, complete=False)
    with pytest.raises(BuildIncompleteError):
        ShardStream(out)


def test_follow_mode_picks_up_new_shards(tmp_path):
    out = str(tmp_path / "out")
    b = write_build(out, {"a": (3, 5), "b": (3, 5)})
    ref = collections.Counter(row_key(r) for r in ShardStream(out, epochs=1, partitions=4, block_rows=2))
    (tmp_path / "out" / "build.json").unlink()  # the stream may start before the build wrote build.json

    def grow():
        for n in (1, 2, 4, 5):
            time.sleep(0.15)
            set_shards(out, b, n, complete=False)
        time.sleep(0.15)
        set_shards(out, b, 6, complete=True)

    t = threading.Thread(target=grow)
    t.start()
    ds = ShardStream(out, follow=True, follow_group=2, poll_interval=0.02, follow_timeout=20, partitions=4, block_rows=2)
    got = [r for r in ds]
    t.join()
    assert collections.Counter(row_key(r) for r in got) == ref
    assert sorted({r["position"].unit for r in got}) == [0, 1, 2]


def test_fsspec_memory_uri(tmp_path):
    out = "memory://stream-test/out"
    write_build(out, {"a": (2, 4), "b": (1, 3)})
    rows = list(ShardStream(out, epochs=1, partitions=2, block_rows=2, cache_dir=str(tmp_path / "cache")))
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
        return [(p.unit, p.partition, p.index) for p in batch["positions"]]

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

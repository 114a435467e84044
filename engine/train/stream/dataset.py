"""The torch ``IterableDataset`` over a build's shards, and the DataLoader wrapper that keeps its state."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Iterable, Iterator

import numpy as np

from engine.output.reader import ShardEntry, ShardReader, open_shard
from engine.train.stream.collate import batch_by_tokens, collate_packed
from engine.train.stream.plan import (
    BuildIncompleteError, Segment, consumer_positions, epoch_segment, epoch_summary, follow_segments, follow_stream,
    pad_positions, plan_segment, read_build, resolve_weights, split_sizes, wait_for_build,
)
from engine.train.stream.state import STATE_VERSION, Position, StreamState

try:  # keep the stream importable without torch (build machines)
    from torch.utils.data import IterableDataset as _Base
except Exception:  # pragma: no cover
    _Base = object  # type: ignore


def _dist_default() -> tuple[int, int]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:  # pragma: no cover
        pass
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def worker_slot(shift: int = 0) -> tuple[int, int]:
    """``(worker, workers)`` of the calling dataloader worker (``(0, 1)`` outside one); ``shift``
    rotates the ids so a resumed DataLoader's round-robin continues in phase."""
    try:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        if info is not None:
            return (info.id + shift) % info.num_workers, info.num_workers
    except Exception:  # pragma: no cover
        pass
    return 0, 1


def _shard_key(s: ShardEntry) -> str:
    return f"{s.path}@{s.sha256}"


class ReaderCache:
    """Open shard readers of one consumer (verified on first use), the 32 most recent kept."""

    def __init__(self, cache_dir: str | None, verify: bool, tokenizer_sha: str | None):
        self.cache_dir, self.verify, self.tokenizer_sha = cache_dir, verify, tokenizer_sha
        self.open: OrderedDict[str, ShardReader] = OrderedDict()

    def __call__(self, entry: ShardEntry) -> ShardReader:
        key = _shard_key(entry)
        r = self.open.get(key)
        if r is None:
            r = open_shard(entry, self.cache_dir, self.verify, self.tokenizer_sha)
            self.open[key] = r
            if len(self.open) > 32:
                self.open.popitem(last=False)
        else:
            self.open.move_to_end(key)
        return r


def read_rows(seg: Segment, row_ids: np.ndarray, positions: np.ndarray, rows: int, total: int, reader, window: int):
    """Rows ``row_ids`` (segment-relative) in this order, read ``window`` at a time in shard order."""
    starts = np.array([s.start for s in seg.shards], dtype=np.int64)
    for w0 in range(0, row_ids.size, window):
        want = row_ids[w0 : w0 + window]
        srt = np.argsort(want, kind="stable")
        rows_sorted = want[srt]
        sh = np.searchsorted(starts, rows_sorted, side="right") - 1
        got: list = [None] * want.size
        cuts = np.flatnonzero(np.diff(sh)) + 1
        for i, j in zip(np.r_[0, cuts].tolist(), np.r_[cuts, want.size].tolist()):
            ent = seg.shards[int(sh[i])]
            for k, rec in zip(range(i, j), reader(ent).rows(rows_sorted[i:j] - ent.start)):
                got[srt[k]] = (rec, ent.source)
        for k, ((ids, dl), src) in enumerate(got):
            pos = Position(seg.name, int(positions[w0 + k]), rows, total)
            yield {"input_ids": ids, "doc_lens": dl, "source": src, "position": pos}


class ShardStream(_Base):
    """Deterministic, resumable, elastic stream of packed rows (or token-budget micro-batches).

    ``root`` build output (path or fsspec URI); ``weights`` per-source overrides (dict or
    ``"a=1,b=0"``, unknown names are an error) over the manifest's; ``seed``; ``block_rows``;
    ``shuffle_blocks``; ``shuffle``; ``epochs`` (None = endless); ``token_budget`` (yield collated
    micro-batches); ``rank`` / ``world_size`` (read once here: torch.distributed, else RANK /
    WORLD_SIZE); ``follow`` / ``follow_group`` / ``poll_interval`` / ``follow_timeout``; ``verify``;
    ``cache_dir``.  See :mod:`engine.train.stream` for the order and the split.
    """

    def __init__(self, root: str, *, weights: dict[str, float] | str | None = None, seed: int = 0,
                 block_rows: int = 128, shuffle_blocks: int = 8, shuffle: bool = True, epochs: int | None = None,
                 token_budget: int | None = None, rank: int | None = None, world_size: int | None = None,
                 follow: bool = False, follow_group: int = 4, poll_interval: float = 1.0,
                 follow_timeout: float | None = None, verify: bool = True, cache_dir: str | None = None):
        super().__init__()
        if block_rows < 1 or shuffle_blocks < 1:
            raise ValueError("block_rows and shuffle_blocks must be >= 1")
        self.root = str(root).rstrip("/")
        self.seed, self.block_rows, self.shuffle_blocks = int(seed), int(block_rows), int(shuffle_blocks)
        self.shuffle, self.epochs, self.token_budget = bool(shuffle), epochs, token_budget
        r, w = _dist_default()
        self.rank = int(r if rank is None else rank)
        self.world_size = int(w if world_size is None else world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside world size {self.world_size}")
        self.workers = 1  # dataloader workers per rank (set by StreamLoader)
        self.follow, self.follow_group = follow, max(1, int(follow_group))
        self.poll_interval, self.follow_timeout = poll_interval, follow_timeout
        self.verify, self.cache_dir = verify, cache_dir
        self.build = wait_for_build(self.root, poll_interval, follow_timeout) if follow else read_build(self.root)
        if not self.build.get("complete", False) and not follow:
            raise BuildIncompleteError(f"{self.root}: build.json says the build is not complete; use follow=True")
        self.weights = resolve_weights(self.build, weights)
        self.tokenizer_sha = (self.build.get("tokenizer") or {}).get("sha256")
        self.state = StreamState()
        self.worker_shift = 0  # set by StreamLoader on resume so dataloader round-robin continues in phase

    # ------------------------------------------------------------------ config / state
    @property
    def layout(self) -> tuple[int, int]:
        return (self.world_size, self.workers)

    @property
    def pad(self) -> bool:
        return not self.follow

    def config(self) -> dict:
        return {"seed": self.seed, "block_rows": self.block_rows, "shuffle_blocks": self.shuffle_blocks,
                "shuffle": self.shuffle, "weights": {k: self.weights[k] for k in sorted(self.weights)},
                "follow": self.follow, "follow_group": self.follow_group if self.follow else None,
                "build_id": self.build.get("build_id")}

    def _resplit(self) -> None:
        self.state.resplit(self.layout, lambda left: split_sizes(left, self.world_size, self.workers, self.pad)[0])

    def state_dict(self) -> dict:
        self._resplit()
        if self.follow and any(e.shards is None for e in self.state.segments.values()):
            segs = {s.name: s for s in follow_segments(self.root, read_build(self.root), self.follow_group)}
            for name, ent in self.state.segments.items():
                if ent.shards is None and name in segs:
                    ent.shards = [_shard_key(s) for s in segs[name].shards]
        return {"version": STATE_VERSION, "config": self.config(), "progress": self.state.to_dict()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown loader state version {state.get('version')} (this stream writes {STATE_VERSION})")
        if strict and state["config"] != self.config():
            diff = {k: (state["config"].get(k), v) for k, v in self.config().items() if state["config"].get(k) != v}
            raise ValueError(f"loader state was made with another configuration: {diff}")
        self.state = StreamState.from_dict(state["progress"])
        self._resplit()

    def observe(self, positions: Iterable[Position]) -> None:
        for p in positions:
            self.state.observe(p, self.layout)

    def epoch_plan(self) -> dict:
        """Rows of one epoch (before padding), rows each rank reads per epoch, and tokens per source."""
        return epoch_summary(epoch_segment(self.root, self.build, 0), self.weights, self.world_size)

    # ------------------------------------------------------------------ reading
    def _segments(self) -> Iterator[Segment]:
        if not self.follow:
            e = self.state.done_epochs
            while self.epochs is None or e < self.epochs:
                yield epoch_segment(self.root, self.build, e)
                e += 1
            return
        for seg, build in follow_stream(self.root, self.build, self.follow_group, self.poll_interval, self.follow_timeout):
            self.build = build
            yield seg

    def iter_rows(self) -> Iterator[dict]:
        """Rows of this consumer: dicts with input_ids (uint16/32 numpy), doc_lens, source, position."""
        wid, nw = worker_slot(self.worker_shift)
        if nw != self.workers:
            self.workers = nw
        self._resplit()
        readers = ReaderCache(self.cache_dir, self.verify, self.tokenizer_sha)
        for seg in self._segments():
            if self.state.is_finished(seg.name):
                continue
            order = plan_segment(seg, self.weights, self.seed, self.block_rows, self.shuffle_blocks, self.shuffle)
            n = int(order.size)
            if n == 0:
                if self.follow:
                    continue
                return  # no rows, or every weight is 0: never spin through empty epochs
            ent = self.state.segments.get(seg.name)
            if ent is not None:
                if ent.rows != n:
                    raise ValueError(f"loader state: segment {seg.name} had {ent.rows} rows, build.json now gives {n}")
                if ent.shards is not None and ent.shards != [_shard_key(s) for s in seg.shards]:
                    raise ValueError(f"loader state: follow segment {seg.name} lists other shards than build.json")
            base = ent.base_positions() if ent is not None else np.arange(n, dtype=np.int64)
            npad = split_sizes(int(base.size), self.world_size, nw, self.pad)[0]
            mine = consumer_positions(base, n, self.world_size, nw, self.rank, wid, self.pad)
            if ent is not None:
                mine = mine[~ent.consumed.mask(mine)]
            src_pos = mine.copy()
            padded = mine >= n
            if padded.any():
                starts = np.array([s.start for s in seg.shards], dtype=np.int64)
                sources = np.array([s.source for s in seg.shards])
                shard_of = np.searchsorted(starts, order[base], side="right") - 1
                _, group = np.unique(sources[shard_of], return_inverse=True)
                src_pos[padded] = pad_positions(base, group, npad)[mine[padded] - n]
            yield from read_rows(seg, order[src_pos], mine, n, n + npad, readers, self.block_rows * self.shuffle_blocks)

    def __iter__(self):
        """Rows (or, with ``token_budget``, collated micro-batches); what is handed out counts as
        consumed in this object's state (with dataloader workers, use :class:`StreamLoader`)."""
        rows = self.iter_rows()
        if not self.token_budget:
            for r in rows:
                self.state.observe(r["position"], self.layout)
                yield r
            return
        for b in batch_by_tokens(rows, int(self.token_budget)):
            out = collate_packed(b)
            self.observe(out["positions"])
            yield out


def _identity(x):
    return x


class StreamLoader:
    """A ``torch.utils.data.DataLoader`` over a :class:`ShardStream` that keeps the loader state in the
    main process (rows count as consumed when their batch is handed to the caller)."""

    def __init__(self, dataset: ShardStream, num_workers: int = 0, prefetch_factor: int | None = 2,
                 pin_memory: bool = False, collate_fn=None):
        from torch.utils.data import DataLoader

        self.dataset = dataset
        self.num_workers = num_workers
        dataset.workers = max(1, num_workers)
        kw: dict[str, Any] = {"batch_size": None, "num_workers": num_workers, "pin_memory": pin_memory}
        if num_workers > 0:
            kw["prefetch_factor"] = prefetch_factor
            kw["persistent_workers"] = False
        kw["collate_fn"] = collate_fn or _identity
        self.loader = DataLoader(dataset, **kw)

    def __iter__(self):
        self._count = 0
        self.dataset._resplit()
        for item in self.loader:
            if isinstance(item, dict):
                if "positions" in item:
                    self.dataset.observe(item["positions"])
                elif "position" in item:
                    self.dataset.observe([item["position"]])
            self._count += 1
            yield item

    def state_dict(self) -> dict:
        """The dataset state plus which worker the DataLoader's round-robin serves next: resuming with
        the same worker count then replays the uninterrupted batch order exactly (with another count,
        what is left of every segment is split again among the new consumers)."""
        st = self.dataset.state_dict()
        nw = self.num_workers
        st["workers"] = {"num_workers": nw, "next": (self.dataset.worker_shift + getattr(self, "_count", 0)) % max(nw, 1)}
        return st

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        self.dataset.load_state_dict(state, strict)
        w = state.get("workers") or {}
        self.dataset.worker_shift = int(w.get("next", 0)) if w.get("num_workers") == self.num_workers else 0

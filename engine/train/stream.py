"""Streaming packed shards into training: a resumable, deterministic torch ``IterableDataset``.

Usage::

    ds = ShardStream("out/demo", seed=0, token_budget=16384)          # local path or fsspec URI
    loader = StreamLoader(ds, num_workers=2)
    for batch in loader:            # input_ids, cu_seqlens, max_seqlen, position_ids, source_tokens, ...
        ...
        ckpt["loader"] = loader.state_dict()
    # after a crash, with any number of workers / ranks:
    ds.load_state_dict(ckpt["loader"])

How the order is made (all of it a pure function of build.json, the seed and the epoch):

1. **Mixing.**  Per source, the rows of its shards (commit order) are taken ``floor(w)`` times in full,
   plus exactly ``round(frac(w) * rows)`` rows chosen by a seeded RNG: upsampling and downsampling are
   exact and reproducible.  Weights come from the manifest in build.json, or ``weights=`` overrides
   (a weight 0 drops a source).
2. **Blocks.**  Each of those row lists is cut into blocks of ``block_rows`` consecutive rows
   (sequential reads); all blocks of the epoch are shuffled with ``(seed, epoch)``.
3. **Partitions.**  Block ``i`` of the shuffled list goes to partition ``i % partitions``.  The
   partition count is fixed (default 64), *not* derived from ranks or workers.
4. **Shuffle window.**  A partition's rows are permuted inside windows of ``shuffle_blocks``
   consecutive blocks (a bounded shuffle buffer that needs no saved state).
5. **Consumers.**  Consumer ``c = rank * num_workers + worker`` of ``C`` reads the partitions
   ``p % C == c``, one after another.  Ranks and workers are disjoint; their union is the epoch.

The state dict records, per epoch, how many rows of each partition were consumed, so a resume
continues at the exact next row of every partition whatever the new rank / worker counts are.

Shards are verified against the sha256 in build.json before first use (remote shards are copied to
a local cache while hashing) and read one record batch at a time through a memory map, so memory is
bounded by the shuffle window, not the shard size.

``follow=True`` streams a build that is still running: units are groups of ``follow_group`` shards in
commit order, each planned like an epoch; the stream waits for build.json to list the next group and
ends once the build is complete and every committed shard was read.
"""
from __future__ import annotations

import math
import os
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from engine.core import fsio
from engine.output.reader import ShardChecksumError, ShardEntry, ShardReader, verified_local_path

STATE_VERSION = 1


class BuildIncompleteError(RuntimeError):
    """build.json says the build is still running and follow mode is off."""


@dataclass(frozen=True)
class Position:
    """Where a yielded row sits: ``unit`` is the epoch (or follow segment)."""

    unit: int
    partition: int
    index: int  # position of the row in its partition
    length: int  # rows in that partition
    nonempty: int  # non-empty partitions in the unit


# --------------------------------------------------------------------------- build.json
def read_build(root: str) -> dict:
    uri = fsio.join(root, "build.json")
    if not fsio.exists(uri):
        raise FileNotFoundError(f"no build.json under {root}")
    return fsio.read_json(uri)


def _shard_entries(root: str, build: dict) -> list[ShardEntry]:
    out, start = [], 0
    for i, s in enumerate(build.get("shards", [])):
        path = s["path"]
        uri = path if "://" in path or os.path.isabs(path) else fsio.join(root, path)
        out.append(ShardEntry(i, uri, path, s["source"], int(s["rows"]), int(s.get("tokens", 0)), s["sha256"], start))
        start += int(s["rows"])
    return out


def manifest_weights(build: dict) -> dict[str, float]:
    """Per-source mixing weights recorded in build.json (manifest sources, else the ledger)."""
    w: dict[str, float] = {}
    for s in (build.get("manifest") or {}).get("sources", []) or []:
        if "name" in s:
            w[s["name"]] = float(s.get("weight", 1.0) if s.get("weight") is not None else 1.0)
    for name, led in (build.get("sources") or {}).items():
        if name not in w and isinstance(led, dict) and led.get("weight") is not None:
            w[name] = float(led["weight"])
    return w


def parse_weights(spec: str | dict | None) -> dict[str, float] | None:
    """``"a=2,b=0.5"`` or a dict -> ``{name: weight}``."""
    if spec is None or isinstance(spec, dict):
        return spec
    out = {}
    for part in spec.split(","):
        if part.strip():
            k, v = part.split("=")
            out[k.strip()] = float(v)
    return out


# --------------------------------------------------------------------------- collate
def collate_packed(rows: list[dict]) -> dict[str, Any]:
    """Concatenate packed rows into one varlen micro-batch.

    Returns ``input_ids`` (int64, ``[T]``), ``cu_seqlens`` (int32, ``[docs + 1]``), ``max_seqlen``,
    ``position_ids`` (restarting at every document), ``source_tokens`` ({source: tokens}),
    ``num_rows``, ``num_tokens`` and ``positions`` (for the loader state)."""
    import torch

    if rows:
        ids = np.concatenate([r["input_ids"] for r in rows], dtype=np.int64)
        lens = np.concatenate([r["doc_lens"] for r in rows], dtype=np.int64)
    else:
        ids, lens = np.zeros(0, np.int64), np.zeros(0, np.int64)
    total = int(ids.shape[0])
    cu64 = np.zeros(lens.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens, out=cu64[1:])
    if int(cu64[-1]) != total:
        raise ValueError(f"doc_lens sum to {int(cu64[-1])} but the rows hold {total} tokens")
    cu = cu64.astype(np.int32)
    # positions restart at each document: ones, with a jump back at every document start, cumsum
    pos = np.ones(total, dtype=np.int64)
    if total:
        pos[cu64[:-1]] = 0
        pos[cu64[1:-1]] = 1 - lens[:-1]
        pos[0] = 0
        np.cumsum(pos, out=pos)
    src: dict[str, int] = {}
    for r in rows:
        src[r["source"]] = src.get(r["source"], 0) + int(r["input_ids"].shape[0])
    return {
        "input_ids": torch.from_numpy(ids),
        "cu_seqlens": torch.from_numpy(cu),
        "max_seqlen": int(lens.max()) if lens.size else 0,
        "position_ids": torch.from_numpy(pos),
        "source_tokens": src,
        "num_rows": len(rows),
        "num_tokens": total,
        "positions": [r["position"] for r in rows],
    }


def batch_by_tokens(rows: Iterable[dict], token_budget: int) -> Iterator[list[dict]]:
    """Group rows, in order, into lists of at most ``token_budget`` tokens (a longer row goes alone)."""
    buf: list[dict] = []
    n = 0
    for r in rows:
        k = int(r["input_ids"].shape[0])
        if buf and n + k > token_budget:
            yield buf
            buf, n = [], 0
        buf.append(r)
        n += k
    if buf:
        yield buf


# --------------------------------------------------------------------------- progress
class Progress:
    """Consumed rows per (unit, partition); compacts finished units."""

    def __init__(self):
        self.next_unit = 0  # every unit below is finished
        self.completed: set[int] = set()  # finished units >= next_unit
        self.units: dict[int, dict] = {}  # unit -> {"n": nonempty, "done": set, "offsets": {p: rows}}

    def observe(self, pos: Position) -> None:
        u = pos.unit
        if u < self.next_unit or u in self.completed:
            return
        ent = self.units.setdefault(u, {"n": pos.nonempty, "done": set(), "offsets": {}})
        p = pos.partition
        if p in ent["done"]:
            return
        k = pos.index + 1
        if k >= pos.length:
            ent["done"].add(p)
            ent["offsets"].pop(p, None)
            self._compact(u)
        elif k > ent["offsets"].get(p, 0):
            ent["offsets"][p] = k

    def _compact(self, u: int) -> None:
        ent = self.units.get(u)
        if ent is not None and len(ent["done"]) >= ent["n"]:
            del self.units[u]
            self.completed.add(u)
        while self.next_unit in self.completed:
            self.completed.discard(self.next_unit)
            self.next_unit += 1

    def unit_done(self, u: int) -> bool:
        return u < self.next_unit or u in self.completed

    def start_of(self, u: int, p: int) -> int | None:
        """Rows of (u, p) already consumed; None when the partition is finished."""
        if self.unit_done(u):
            return None
        ent = self.units.get(u)
        if ent is None:
            return 0
        if p in ent["done"]:
            return None
        return ent["offsets"].get(p, 0)

    def to_dict(self) -> dict:
        return {
            "next_unit": self.next_unit,
            "completed": sorted(self.completed),
            "units": {
                str(u): {"n": e["n"], "done": sorted(e["done"]), "offsets": {str(p): k for p, k in sorted(e["offsets"].items())}}
                for u, e in sorted(self.units.items())
            },
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Progress":
        pr = cls()
        pr.next_unit = int(d.get("next_unit", 0))
        pr.completed = set(int(u) for u in d.get("completed", []))
        for u, e in (d.get("units") or {}).items():
            pr.units[int(u)] = {"n": int(e["n"]), "done": set(int(p) for p in e["done"]),
                                "offsets": {int(p): int(k) for p, k in e["offsets"].items()}}
        for u in list(pr.units):
            pr._compact(u)
        return pr

    def merge(self, other: "Progress") -> None:
        """Union of two disjoint consumers' progress (e.g. all ranks' states before a checkpoint)."""
        finished = set(other.completed) | set(range(self.next_unit, other.next_unit))
        for u in finished:
            self.units.pop(u, None)
            if u >= self.next_unit:
                self.completed.add(u)
        for u, e in other.units.items():
            if self.unit_done(u):
                continue
            mine = self.units.setdefault(u, {"n": e["n"], "done": set(), "offsets": {}})
            mine["done"] |= e["done"]
            for p, k in e["offsets"].items():
                if p not in mine["done"]:
                    mine["offsets"][p] = max(k, mine["offsets"].get(p, 0))
            for p in mine["done"]:
                mine["offsets"].pop(p, None)
        for u in list(self.units):
            self._compact(u)
        self._compact(self.next_unit)


def merge_states(states: list[dict]) -> dict:
    """Merge ``state_dict()``s of disjoint consumers (ranks) into one."""
    if not states:
        raise ValueError("no states")
    pr = Progress.from_dict(states[0]["progress"])
    for s in states[1:]:
        if s["config"] != states[0]["config"]:
            raise ValueError("cannot merge loader states with different configurations")
        pr.merge(Progress.from_dict(s["progress"]))
    out = dict(states[0])
    out["progress"] = pr.to_dict()
    return out


# --------------------------------------------------------------------------- the dataset
def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in keys])


def _crc(s: str) -> int:
    return zlib.crc32(s.encode())


try:  # keep engine.train.stream importable without torch (build machines)
    from torch.utils.data import IterableDataset as _Base
except Exception:  # pragma: no cover
    _Base = object  # type: ignore


class ShardStream(_Base):
    """Deterministic, resumable stream of packed rows (or token-budget micro-batches) from a build.

    Parameters: ``root`` build output (path or fsspec URI); ``weights`` per-source overrides (dict or
    ``"a=1,b=0"``) merged over the manifest's; ``seed``; ``partitions`` canonical partition count;
    ``block_rows`` rows per block (default 128 = the build's record batch size); ``shuffle_blocks`` shuffle window in blocks; ``shuffle``;
    ``epochs`` (None = endless); ``token_budget`` (yield collated micro-batches instead of rows);
    ``rank`` / ``world_size`` (default: torch.distributed, else RANK / WORLD_SIZE env);
    ``follow`` / ``follow_group`` / ``poll_interval`` / ``follow_timeout``; ``verify``; ``cache_dir``.
    """

    def __init__(
        self,
        root: str,
        *,
        weights: dict[str, float] | str | None = None,
        seed: int = 0,
        partitions: int = 64,
        block_rows: int = 128,
        shuffle_blocks: int = 8,
        shuffle: bool = True,
        epochs: int | None = None,
        token_budget: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        follow: bool = False,
        follow_group: int = 4,
        poll_interval: float = 1.0,
        follow_timeout: float | None = None,
        verify: bool = True,
        cache_dir: str | None = None,
    ):
        super().__init__()
        if partitions < 1 or block_rows < 1 or shuffle_blocks < 1:
            raise ValueError("partitions, block_rows and shuffle_blocks must be >= 1")
        self.root = str(root).rstrip("/")
        self.seed = int(seed)
        self.partitions = int(partitions)
        self.block_rows = int(block_rows)
        self.shuffle_blocks = int(shuffle_blocks)
        self.shuffle = bool(shuffle)
        self.epochs = epochs
        self.token_budget = token_budget
        self.rank, self.world_size = rank, world_size
        self.follow = follow
        self.follow_group = max(1, int(follow_group))
        self.poll_interval = poll_interval
        self.follow_timeout = follow_timeout
        self.verify = verify
        self.cache_dir = cache_dir
        self.build = self._wait_for_build() if follow else read_build(self.root)
        if not self.build.get("complete", False) and not follow:
            raise BuildIncompleteError(f"{self.root}: build.json says the build is not complete; use follow=True")
        base = manifest_weights(self.build)
        for s in self.build.get("shards", []):
            base.setdefault(s["source"], 1.0)
        over = parse_weights(weights) or {}
        for k, v in over.items():
            if v < 0:
                raise ValueError(f"weight of {k} is negative")
        self.weights = {**base, **{k: float(v) for k, v in over.items()}}
        self.tokenizer_sha = (self.build.get("tokenizer") or {}).get("sha256")
        self.progress = Progress()
        self.worker_shift = 0  # set by StreamLoader on resume so dataloader round-robin continues in phase

    def _wait_for_build(self) -> dict:
        """Follow mode may start before the build wrote its first build.json: wait for it."""
        t0 = time.monotonic()
        while True:
            try:
                return read_build(self.root)
            except FileNotFoundError:
                if self.follow_timeout is not None and time.monotonic() - t0 > self.follow_timeout:
                    raise
                time.sleep(self.poll_interval)

    # ------------------------------------------------------------------ config / state
    def config(self) -> dict:
        return {
            "seed": self.seed, "partitions": self.partitions, "block_rows": self.block_rows,
            "shuffle_blocks": self.shuffle_blocks, "shuffle": self.shuffle,
            "weights": {k: self.weights[k] for k in sorted(self.weights)}, "follow": self.follow,
            "follow_group": self.follow_group if self.follow else None,
            "build_id": self.build.get("build_id"),
        }

    def state_dict(self) -> dict:
        return {"version": STATE_VERSION, "config": self.config(), "progress": self.progress.to_dict()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown loader state version {state.get('version')}")
        if strict and state["config"] != self.config():
            diff = {k: (state["config"].get(k), v) for k, v in self.config().items() if state["config"].get(k) != v}
            raise ValueError(f"loader state was made with another configuration: {diff}")
        self.progress = Progress.from_dict(state["progress"])

    def observe(self, positions: Iterable[Position]) -> None:
        for p in positions:
            self.progress.observe(p)

    # ------------------------------------------------------------------ consumers
    def _dist(self) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            r, w = 0, 1
            try:
                import torch.distributed as dist

                if dist.is_available() and dist.is_initialized():
                    r, w = dist.get_rank(), dist.get_world_size()
                else:
                    r, w = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
            except Exception:
                r, w = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
            rank = r if rank is None else rank
            world = w if world is None else world
        return int(rank), int(world)

    def consumer(self) -> tuple[int, int]:
        """``(consumer id, consumers)`` for this rank and dataloader worker."""
        rank, world = self._dist()
        wid, nw = 0, 1
        try:
            from torch.utils.data import get_worker_info

            info = get_worker_info()
            if info is not None:
                wid, nw = (info.id + self.worker_shift) % info.num_workers, info.num_workers
        except Exception:
            pass
        return rank * nw + wid, world * nw

    # ------------------------------------------------------------------ planning
    def _shards(self) -> list[ShardEntry]:
        return _shard_entries(self.root, self.build)

    def plan(self, unit: int, shards: list[ShardEntry]) -> list[list[np.ndarray]]:
        """Blocks (arrays of global row ids) of every partition of one unit (epoch / follow segment)."""
        by_src: dict[str, list[ShardEntry]] = {}
        for s in shards:
            by_src.setdefault(s.source, []).append(s)
        blocks: list[np.ndarray] = []
        for src in sorted(by_src):
            w = float(self.weights.get(src, 1.0))
            if w <= 0:
                continue
            rows = np.concatenate([np.arange(s.start, s.start + s.rows, dtype=np.int64) for s in by_src[src]])
            lists = [rows] * int(math.floor(w))
            k = int(round((w - math.floor(w)) * rows.size))
            if k:
                pick = _rng(self.seed, unit, _crc(src), 1).choice(rows.size, size=k, replace=False)
                lists.append(rows[np.sort(pick)])
            for lst in lists:
                blocks.extend(lst[i : i + self.block_rows] for i in range(0, lst.size, self.block_rows))
        order = _rng(self.seed, unit, 2).permutation(len(blocks)) if self.shuffle else np.arange(len(blocks))
        parts: list[list[np.ndarray]] = [[] for _ in range(self.partitions)]
        for i, b in enumerate(order.tolist()):
            parts[i % self.partitions].append(blocks[b])
        return parts

    # ------------------------------------------------------------------ reading
    def _units(self) -> Iterator[tuple[int, list[ShardEntry]]]:
        if not self.follow:
            shards = self._shards()
            u = self.progress.next_unit
            while self.epochs is None or u < self.epochs:
                yield u, shards
                u += 1
            return
        u = self.progress.next_unit
        waited_since = time.monotonic()
        while True:
            shards = self._shards()
            a, b = u * self.follow_group, (u + 1) * self.follow_group
            complete = bool(self.build.get("complete"))
            if len(shards) >= b or (complete and len(shards) > a):
                yield u, shards[a:b]
                u += 1
                waited_since = time.monotonic()
                continue
            if complete:
                return
            if self.follow_timeout is not None and time.monotonic() - waited_since > self.follow_timeout:
                raise TimeoutError(f"follow: no new shards in {self.root} for {self.follow_timeout}s")
            time.sleep(self.poll_interval)
            self.build = read_build(self.root)

    def iter_rows(self) -> Iterator[dict]:
        """Rows of this consumer: dicts with input_ids (uint16/32 numpy), doc_lens, source, position."""
        cid, ncons = self.consumer()
        readers: OrderedDict[int, ShardReader] = OrderedDict()
        all_shards = {}

        def reader(entry: ShardEntry) -> ShardReader:
            r = readers.get(entry.index)
            if r is None:
                r = ShardReader(entry, verified_local_path(entry, self.cache_dir, self.verify), self.tokenizer_sha)
                readers[entry.index] = r
                if len(readers) > 32:
                    readers.popitem(last=False)
            else:
                readers.move_to_end(entry.index)
            return r

        for unit, shards in self._units():
            if self.progress.unit_done(unit):
                continue
            for s in shards:
                all_shards[s.index] = s
            parts = self.plan(unit, shards)
            starts = np.array([s.start for s in shards], dtype=np.int64)
            nonempty = sum(1 for p in parts if p)
            if nonempty == 0 and not self.follow:
                return  # nothing to read (no rows, or every weight is 0): never spin through empty epochs
            for p in range(cid, self.partitions, ncons):
                blocks = parts[p]
                if not blocks:
                    continue
                skip = self.progress.start_of(unit, p)
                if skip is None:
                    continue
                length = int(sum(b.size for b in blocks))
                base = 0
                for w0 in range(0, len(blocks), self.shuffle_blocks):
                    win = np.concatenate(blocks[w0 : w0 + self.shuffle_blocks])
                    n = win.size
                    if base + n <= skip:
                        base += n
                        continue
                    order = _rng(self.seed, unit, p, w0, 3).permutation(n) if self.shuffle else np.arange(n)
                    first = max(0, skip - base)
                    want = win[order[first:]]  # global rows in output order
                    # read in (shard, row) order, then emit in shuffled order
                    srt = np.argsort(want, kind="stable")
                    rows_sorted = want[srt]
                    sh = np.searchsorted(starts, rows_sorted, side="right") - 1
                    got: list = [None] * want.size
                    i = 0
                    while i < rows_sorted.size:
                        j = i
                        while j < rows_sorted.size and sh[j] == sh[i]:
                            j += 1
                        ent = shards[int(sh[i])]
                        for k, rec in zip(range(i, j), reader(ent).rows(rows_sorted[i:j] - ent.start)):
                            got[srt[k]] = (rec, ent.source)
                        i = j
                    for r in readers.values():  # decoded batches now live only through this window's rows
                        r._cache.clear()
                    for k, ((ids, dl), src) in enumerate(got):
                        idx = base + first + k
                        pos = Position(unit, p, idx, length, nonempty)
                        yield {"input_ids": ids, "doc_lens": dl, "source": src, "position": pos}
                    base += n

    def __iter__(self):
        """Rows (or, with ``token_budget``, collated micro-batches); what is handed out counts as
        consumed in this object's state (with dataloader workers, use :class:`StreamLoader`)."""
        rows = self.iter_rows()
        if not self.token_budget:
            for r in rows:
                self.progress.observe(r["position"])
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
        kw: dict[str, Any] = {"batch_size": None, "num_workers": num_workers, "pin_memory": pin_memory}
        if num_workers > 0:
            kw["prefetch_factor"] = prefetch_factor
            kw["persistent_workers"] = False
        kw["collate_fn"] = collate_fn or _identity
        self.loader = DataLoader(dataset, **kw)

    def __iter__(self):
        self._count = 0
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
        every partition still resumes at its exact next row)."""
        st = self.dataset.state_dict()
        nw = self.num_workers
        st["workers"] = {"num_workers": nw, "next": (self.dataset.worker_shift + getattr(self, "_count", 0)) % max(nw, 1)}
        return st

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        self.dataset.load_state_dict(state, strict)
        w = state.get("workers") or {}
        self.dataset.worker_shift = int(w.get("next", 0)) if w.get("num_workers") == self.num_workers else 0

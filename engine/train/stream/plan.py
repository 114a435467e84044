"""The order of the stream: segments, their row order, and how a segment is split among consumers.

A *segment* is a stretch of the stream planned as one piece: one epoch over the whole build, or, in
follow mode, one group of ``follow_group`` consecutive shards of one source (a source's shards are
committed in order, so ``(source, group)`` names the same shards in every listing of build.json, in
progress or final).  Everything here is a pure function of build.json, the weights and the seed.

Row order of a segment (:func:`plan_segment`):

1. **Mixing.**  Per source, its rows are taken ``floor(w)`` times in full, plus exactly
   ``round(frac(w) * rows)`` rows chosen by a seeded RNG (a weight 0 drops the source).
2. **Blocks.**  Each such row list is cut into blocks of ``block_rows`` consecutive rows (sequential
   reads); all blocks of the segment are shuffled.
3. **Windows.**  Rows are permuted inside windows of ``shuffle_blocks`` consecutive blocks.

Elastic split (:func:`consumer_positions`), in the spirit of MosaicML streaming's canonical nodes: the
positions of a segment not yet consumed are cut into ``world`` equal contiguous pieces, one per rank,
and each rank's piece into ``workers`` contiguous pieces.  Epochs are *padded*: a rank's piece is
``max(ceil(R / world), workers)`` rows, and the ``world * piece - R`` missing ones repeat rows of the
epoch, apportioned to the sources by their share of it (so padding keeps the mix), so every rank gets
exactly the same number of rows and every consumer at least one (no consumer can wait on an epoch
that has nothing for it).  Follow segments are not padded (every
row exactly once); the trainer ends all ranks together when one runs dry.
"""
from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass

import numpy as np

from engine.output.reader import ShardEntry, read_build, shard_entries


class BuildIncompleteError(RuntimeError):
    """build.json says the build is still running and follow mode is off."""


class UnknownSourceError(ValueError):
    """A weight names a source the build does not have."""


@dataclass(frozen=True)
class Segment:
    name: str  # "epoch-3" or "<source>/<group>"
    key: int  # RNG key: the epoch, or a checksum of the name
    shards: tuple[ShardEntry, ...]  # ``start`` counts rows from the segment's first shard

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)


def wait_for_build(root: str, poll_interval: float, timeout: float | None) -> dict:
    """build.json, waiting for it to appear (follow mode may start before the build wrote it)."""
    t0 = time.monotonic()
    while True:
        try:
            return read_build(root)
        except FileNotFoundError:
            if timeout is not None and time.monotonic() - t0 > timeout:
                raise
            time.sleep(poll_interval)


def epoch_segment(root: str, build: dict, epoch: int) -> Segment:
    return Segment(f"epoch-{epoch}", epoch, tuple(shard_entries(root, build.get("shards", []))))


def follow_segments(root: str, build: dict, group: int) -> list[Segment]:
    """Follow segments listed so far: ``group`` consecutive shards of one source (fewer only for a
    source's last group once the build is complete), ordered by group number, then source."""
    by_src: dict[str, list[dict]] = {}
    for s in build.get("shards", []):
        by_src.setdefault(s["source"], []).append(s)
    complete = bool(build.get("complete"))
    out = []
    for src, listed in by_src.items():
        for g in range(0, len(listed), group):
            part = listed[g : g + group]
            if len(part) == group or complete:
                name = f"{src}/{g // group}"
                out.append(Segment(name, zlib.crc32(name.encode()), tuple(shard_entries(root, part))))
    out.sort(key=lambda s: (int(s.name.rsplit("/", 1)[1]), s.name))
    return out


def follow_stream(root: str, build: dict, group: int, poll_interval: float, timeout: float | None):
    """``(segment, build.json)`` for every follow segment, as the build lists them; waits for new
    shards and ends once the build is complete and every segment was handed out."""
    seen: set[str] = set()
    waited_since = time.monotonic()
    while True:
        new = [s for s in follow_segments(root, build, group) if s.name not in seen]
        for s in new:
            seen.add(s.name)
            yield s, build
        if new:
            waited_since = time.monotonic()
        elif build.get("complete"):
            return
        elif timeout is not None and time.monotonic() - waited_since > timeout:
            raise TimeoutError(f"follow: no new shards in {root} for {timeout}s")
        else:
            time.sleep(poll_interval)
        build = read_build(root)


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
            if part.count("=") != 1:
                raise ValueError(f"weights: {part.strip()!r} is not NAME=WEIGHT")
            k, v = part.split("=")
            try:
                out[k.strip()] = float(v)
            except ValueError:
                raise ValueError(f"weights: {v.strip()!r} is not a number") from None
    return out


def resolve_weights(build: dict, overrides: str | dict | None) -> dict[str, float]:
    """The manifest's weights with ``overrides`` on top; unknown or negative overrides are errors."""
    base = manifest_weights(build)
    for s in build.get("shards", []):
        base.setdefault(s["source"], 1.0)
    for name in build.get("sources") or {}:
        base.setdefault(name, 1.0)
    over = parse_weights(overrides) or {}
    unknown = sorted(k for k in over if k not in base)
    if unknown:
        raise UnknownSourceError(f"weights name unknown sources {', '.join(unknown)}; the build's sources are "
                                 f"{', '.join(sorted(base)) or '(none)'}")
    for k, v in over.items():
        if not v >= 0:
            raise ValueError(f"weight of {k} must be >= 0, got {v}")
    return {**base, **{k: float(v) for k, v in over.items()}}


def rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in keys])


def plan_segment(seg: Segment, weights: dict[str, float], seed: int, block_rows: int, shuffle_blocks: int,
                 shuffle: bool = True) -> np.ndarray:
    """Row ids (relative to the segment's first shard) in stream order."""
    by_src: dict[str, list[ShardEntry]] = {}
    for s in seg.shards:
        by_src.setdefault(s.source, []).append(s)
    blocks: list[np.ndarray] = []
    for src in sorted(by_src):
        w = float(weights.get(src, 1.0))
        if w <= 0:
            continue
        rows = np.concatenate([np.arange(s.start, s.start + s.rows, dtype=np.int64) for s in by_src[src]])
        lists = [rows] * int(math.floor(w))
        k = int(round((w - math.floor(w)) * rows.size))
        if k:
            pick = rng(seed, seg.key, zlib.crc32(src.encode()), 1).choice(rows.size, size=k, replace=False)
            lists.append(rows[np.sort(pick)])
        for lst in lists:
            blocks.extend(lst[i : i + block_rows] for i in range(0, lst.size, block_rows))
    if not blocks:
        return np.zeros(0, np.int64)
    order = rng(seed, seg.key, 2).permutation(len(blocks)) if shuffle else np.arange(len(blocks))
    rows = np.concatenate([blocks[b] for b in order.tolist()])
    if shuffle:
        win = block_rows * shuffle_blocks
        for w0 in range(0, rows.size, win):
            part = rows[w0 : w0 + win]
            rows[w0 : w0 + win] = part[rng(seed, seg.key, w0, 3).permutation(part.size)]
    return rows


def split_sizes(remaining: int, world: int, workers: int, pad: bool) -> tuple[int, list[int]]:
    """``(pad rows, rows of each consumer in rank-major order)`` for a split of ``remaining`` rows."""
    if remaining <= 0:
        return 0, [0] * (world * workers)
    if pad:
        per_rank = max(-(-remaining // world), workers)
        rank_rows = [per_rank] * world
        npad = per_rank * world - remaining
    else:
        rank_rows = [(r + 1) * remaining // world - r * remaining // world for r in range(world)]
        npad = 0
    sizes = []
    for n in rank_rows:
        sizes.extend((w + 1) * n // workers - w * n // workers for w in range(workers))
    return npad, sizes


def consumer_positions(base: np.ndarray, rows: int, world: int, workers: int, rank: int, worker: int,
                       pad: bool) -> np.ndarray:
    """Positions (ascending) consumer ``(rank, worker)`` reads of a split over ``base`` (the sorted
    positions that were left when the split was made).  Pad positions are ``rows + k``."""
    npad, sizes = split_sizes(int(base.size), world, workers, pad)
    full = np.concatenate([base, rows + np.arange(npad, dtype=np.int64)]) if npad else base
    c = rank * workers + worker
    a = int(sum(sizes[:c]))
    return full[a : a + sizes[c]]


def pad_positions(base: np.ndarray, groups: np.ndarray, npad: int) -> np.ndarray:
    """The positions the ``npad`` pad rows repeat: apportioned to the sources (``groups``: a source
    number per position of ``base``) by their share of ``base`` (largest remainders), and spread
    evenly over each source's positions, so padding keeps the epoch's mix."""
    if npad <= 0 or base.size == 0:
        return np.zeros(0, np.int64)
    ids, counts = np.unique(groups, return_counts=True)
    quota = counts * npad / base.size
    take = np.floor(quota).astype(np.int64)
    for i in np.argsort(-(quota - take), kind="stable")[: npad - int(take.sum())]:
        take[i] += 1
    out = []
    for g, n in zip(ids.tolist(), take.tolist()):
        mine = base[groups == g]
        out.append(mine[((np.arange(n) + 0.5) * mine.size / max(n, 1)).astype(np.int64) % mine.size])
    return np.concatenate(out)


def epoch_summary(seg: Segment, weights: dict[str, float], world: int) -> dict:
    """Planned rows of an epoch, rows per rank (padded), pad rows and weighted tokens per source."""
    rows = 0
    src: dict[str, float] = {}
    for s in seg.shards:
        w = float(weights.get(s.source, 1.0))
        src[s.source] = src.get(s.source, 0.0) + w * s.tokens
    for name in {s.source for s in seg.shards}:
        w = float(weights.get(name, 1.0))
        n = sum(s.rows for s in seg.shards if s.source == name)
        if w > 0:
            rows += int(math.floor(w)) * n + int(round((w - math.floor(w)) * n))
    npad, sizes = split_sizes(rows, world, 1, True)
    return {"rows": rows, "rows_per_rank": sizes[0], "pad_rows": npad, "source_tokens": src}

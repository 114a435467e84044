"""What a stream has consumed: positions of rows and the resumable state made of them.

A row handed to the trainer is identified by its :class:`Position`: the segment (an epoch, or a
follow segment) and its index in the segment's row order.  :class:`StreamState` keeps, per segment
not yet finished, the consumed positions as intervals, plus the split of that segment among
consumers (the layout ``(world, workers)`` it was made for, and the positions that were left when it
was made).  States of disjoint consumers (ranks) merge by union.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STATE_VERSION = 2


@dataclass(frozen=True)
class Position:
    """Where a yielded row sits in the stream."""

    segment: str  # "epoch-<n>", or "<source>/<group>" in follow mode
    index: int  # position in the segment's row order; >= rows for a pad row (epoch end)
    rows: int  # planned rows of the segment
    total: int  # rows + pad rows of the split in effect


class Intervals:
    """A set of non-negative integers kept as disjoint half-open intervals (O(1) appends at an end)."""

    def __init__(self, pairs=()):
        self.by_start: dict[int, int] = {}
        self.by_end: dict[int, int] = {}
        for a, b in pairs:
            self.add_range(int(a), int(b))

    def add(self, x: int) -> None:
        self.add_range(x, x + 1)

    def add_range(self, a: int, b: int) -> None:
        if b <= a:
            return
        for s, e in self.overlapping(a, b):
            a, b = min(a, s), max(b, e)
            del self.by_start[s], self.by_end[e]
        if a in self.by_end:  # touches an interval ending at a
            s = self.by_end.pop(a)
            del self.by_start[s]
            a = s
        if b in self.by_start:
            e = self.by_start.pop(b)
            del self.by_end[e]
            b = e
        self.by_start[a], self.by_end[b] = b, a

    def overlapping(self, a: int, b: int) -> list[tuple[int, int]]:
        return [(s, e) for s, e in self.by_start.items() if s < b and e > a]

    def __contains__(self, x: int) -> bool:
        return any(s <= x < e for s, e in self.by_start.items())

    def covers(self, a: int, b: int) -> bool:
        return b <= a or any(s <= a and e >= b for s, e in self.by_start.items())

    @classmethod
    def of_positions(cls, positions: np.ndarray) -> "Intervals":
        """The set of an ascending array of distinct positions."""
        if positions.size == 0:
            return cls()
        cuts = np.flatnonzero(np.diff(positions) != 1) + 1
        starts = positions[np.r_[0, cuts]]
        ends = positions[np.r_[cuts - 1, positions.size - 1]] + 1
        return cls(zip(starts.tolist(), ends.tolist()))

    def pairs(self) -> list[list[int]]:
        return [[s, self.by_start[s]] for s in sorted(self.by_start)]

    def mask(self, positions: np.ndarray) -> np.ndarray:
        """Boolean array: which of ``positions`` are in the set."""
        out = np.zeros(positions.shape, dtype=bool)
        for s, e in self.by_start.items():
            out |= (positions >= s) & (positions < e)
        return out

    def complement(self, a: int, b: int) -> np.ndarray:
        """Positions in ``[a, b)`` not in the set (ascending)."""
        keep = np.ones(max(b - a, 0), dtype=bool)
        for s, e in self.by_start.items():
            keep[max(s, a) - a : max(min(e, b), a) - a] = False
        return np.flatnonzero(keep).astype(np.int64) + a


@dataclass
class SegmentState:
    rows: int
    total: int
    layout: tuple[int, int]  # (world, workers) of the split in effect
    base: list[list[int]] | None = None  # positions left when the split was made; None: all of [0, rows)
    consumed: Intervals = field(default_factory=Intervals)
    shards: list[str] | None = None  # follow segments: "path@sha256" of each shard

    def base_positions(self) -> np.ndarray:
        if self.base is None:
            return np.arange(self.rows, dtype=np.int64)
        if not self.base:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in self.base])

    def finished(self) -> bool:
        return self.consumed.covers(0, self.total)

    def to_dict(self) -> dict:
        d = {"rows": self.rows, "total": self.total, "layout": list(self.layout), "consumed": self.consumed.pairs()}
        if self.base is not None:
            d["base"] = self.base
        if self.shards is not None:
            d["shards"] = self.shards
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SegmentState":
        return cls(int(d["rows"]), int(d["total"]), tuple(int(x) for x in d["layout"]), d.get("base"),
                   Intervals(d.get("consumed", [])), d.get("shards"))


def _epoch_of(name: str) -> int | None:
    return int(name[6:]) if name.startswith("epoch-") else None


class StreamState:
    """Consumed positions per unfinished segment; epochs below ``done_epochs`` and the segments in
    ``finished`` are complete."""

    def __init__(self):
        self.done_epochs = 0
        self.finished: set[str] = set()
        self.segments: dict[str, SegmentState] = {}

    def is_finished(self, name: str) -> bool:
        e = _epoch_of(name)
        return (e is not None and e < self.done_epochs) or name in self.finished

    def observe(self, pos: Position, layout: tuple[int, int]) -> None:
        if self.is_finished(pos.segment):
            return
        ent = self.segments.get(pos.segment)
        if ent is None:
            ent = self.segments[pos.segment] = SegmentState(pos.rows, pos.total, layout)
        ent.consumed.add(pos.index)
        if len(ent.consumed.by_start) == 1 and ent.finished():  # consumers finish in any order
            self._finish(pos.segment)

    def _finish(self, name: str) -> None:
        self.segments.pop(name, None)
        self.finished.add(name)
        while f"epoch-{self.done_epochs}" in self.finished:
            self.finished.discard(f"epoch-{self.done_epochs}")
            self.done_epochs += 1

    def resplit(self, layout: tuple[int, int], pad_rows) -> None:
        """Segments split for another ``(world, workers)`` layout: what is left of each is split again
        (``pad_rows(left)`` gives the pad rows of a new split over ``left`` positions)."""
        for name, ent in list(self.segments.items()):
            if ent.layout == tuple(layout):
                continue
            left = ent.consumed.complement(0, ent.rows)
            ent.base = Intervals.of_positions(left).pairs()
            ent.consumed = Intervals((a, min(b, ent.rows)) for a, b in ent.consumed.pairs() if a < ent.rows)
            ent.layout = tuple(layout)
            ent.total = ent.rows + pad_rows(int(left.size))
            if ent.finished():
                self._finish(name)

    def to_dict(self) -> dict:
        return {"done_epochs": self.done_epochs, "finished": sorted(self.finished),
                "segments": {k: v.to_dict() for k, v in sorted(self.segments.items())}}

    @classmethod
    def from_dict(cls, d: dict) -> "StreamState":
        st = cls()
        st.done_epochs = int(d.get("done_epochs", 0))
        st.finished = set(d.get("finished", []))
        st.segments = {k: SegmentState.from_dict(v) for k, v in (d.get("segments") or {}).items()}
        for k in [k for k, v in st.segments.items() if v.finished()]:
            st._finish(k)
        return st

    def merge(self, other: "StreamState") -> None:
        """Union with the state of a disjoint consumer (another rank of the same run)."""
        for e in range(self.done_epochs, other.done_epochs):
            self._finish(f"epoch-{e}")
        for k in other.finished:
            self._finish(k)
        for k, ent in other.segments.items():
            if self.is_finished(k):
                continue
            mine = self.segments.get(k)
            if mine is None:
                self.segments[k] = SegmentState.from_dict(ent.to_dict())
            else:
                if (mine.total, mine.layout) != (ent.total, ent.layout):
                    raise ValueError(f"segment {k}: states were split differently, cannot merge")
                for a, b in ent.consumed.pairs():
                    mine.consumed.add_range(a, b)
            if self.segments[k].finished():
                self._finish(k)


def merge_states(states: list[dict]) -> dict:
    """Merge ``state_dict()``s of disjoint consumers (ranks) into one."""
    if not states:
        raise ValueError("no states")
    st = StreamState.from_dict(states[0]["progress"])
    for s in states[1:]:
        if s["config"] != states[0]["config"]:
            raise ValueError("cannot merge loader states with different configurations")
        st.merge(StreamState.from_dict(s["progress"]))
    out = dict(states[0])
    out["progress"] = st.to_dict()
    return out

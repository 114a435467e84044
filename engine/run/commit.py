"""The pack phase and its commit protocol: shards are renamed into place in order, then listed.

Pack tasks finish in any order; a group's shards are committed only when every earlier group of
its source is (so shard numbers follow the input order whatever the executor): each temporary
shard is renamed to ``shards/<source>/<source>-<NNNNN>.arrow``, then the group's
:class:`~engine.core.markers.GroupCommitted` marker is written, then ``build.json`` (not yet
complete) lists the shards.  A resumed build keeps the committed prefix of every source.
"""
from __future__ import annotations

import time
from collections import Counter

from engine.core import fsio
from engine.core.executor import Task
from engine.core.markers import GroupCommitted, PackDone
from engine.run.plan import pack_groups
from engine.steps.pack import pack_group


class Committer:
    """Committed pack groups and shards of one build, in commit order."""

    def __init__(self, run, groups: list[tuple[str, int, list[str]]], write_ledger) -> None:
        self.layout = run.layout
        self.groups = groups
        self.write_ledger = write_ledger
        self.committed: dict[tuple[str, int], GroupCommitted] = {}
        self.next_group: Counter = Counter()
        self.shard_no: Counter = Counter()
        self.shards: list[dict] = []
        self.waiting: dict[tuple[str, int], PackDone] = {}

    def resume(self) -> None:
        """Take over the committed groups of an earlier run (a prefix per source)."""
        found = {}
        for src, g, _ in self.groups:
            uri = self.layout.group_marker(src, g)
            if fsio.exists(uri):
                found[(src, g)] = GroupCommitted.from_json(fsio.read_json(uri))
        for src, g, _ in self.groups:
            if (src, g) in found and self.next_group[src] == g:
                self.committed[(src, g)] = found[(src, g)]
                self.next_group[src] += 1
                self.shards.extend(found[(src, g)].shards)
                self.shard_no[src] += len(found[(src, g)].shards)

    def done(self, res: PackDone) -> None:
        """A pack task finished: commit it and every waiting group it unblocks."""
        self.waiting[(res.source, res.group)] = res
        src = res.source
        while (src, self.next_group[src]) in self.waiting:
            self._commit(self.waiting.pop((src, self.next_group[src])))

    def _commit(self, res: PackDone) -> None:
        src = res.source
        entries = []
        for t in res.temp_shards:
            final = self.layout.shard(src, self.shard_no[src])
            self.shard_no[src] += 1
            fsio.move(t.path, final)
            entries.append({"path": self.layout.rel(final), "source": src, "rows": t.rows, "tokens": t.tokens,
                            "segments": t.segments, "bytes": t.bytes, "sha256": t.sha256})
        marker = GroupCommitted(src, res.group, res.units, entries, res.seconds)
        fsio.write_json_atomic(self.layout.group_marker(src, res.group), marker.to_json())
        self.committed[(src, res.group)] = marker
        self.shards.extend(entries)
        self.next_group[src] = res.group + 1
        self.write_ledger(list(self.committed.values()), self.shards)

    def in_order(self) -> list[GroupCommitted]:
        return [self.committed[(src, g)] for src, g, _ in self.groups]


def pack_phase(run, plan, read_markers: dict, write_ledger) -> list[GroupCommitted]:
    """Pack every group not yet committed; ``write_ledger(groups, shards)`` after every commit."""
    t0 = time.time()
    groups = pack_groups(run.manifest, plan, {uid: mk.kept_chars for uid, mk in read_markers.items()})
    com = Committer(run, groups, write_ledger)
    com.resume()
    rows = [0]
    todo = [Task((src, g), pack_group, (src, g, uids, run.build_id), uses_worker=True)
            for src, g, uids in groups if (src, g) not in com.committed]
    if len(todo) < len(groups):
        run.progress.say(f"pack: {len(groups) - len(todo)} of {len(groups)} groups already committed")
    finished = [len(groups) - len(todo)]

    def on_done(_key, res: PackDone) -> None:
        finished[0] += 1
        rows[0] += sum(t.rows for t in res.temp_shards)
        com.done(res)
        run.progress.tick(lambda: f"pack {finished[0]}/{len(groups)} groups, {rows[0]:,} rows, {len(com.shards)} shards committed",
                          force=finished[0] == len(groups))

    run.executor.run(todo, on_done)
    run.timings["pack"] = time.time() - t0
    return com.in_order()

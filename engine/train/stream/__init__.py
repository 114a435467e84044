"""Streaming packed shards into training: a deterministic, resumable, elastic torch ``IterableDataset``.

Usage::

    ds = ShardStream("out/demo", seed=0, token_budget=16384, rank=rank, world_size=world)
    loader = StreamLoader(ds, num_workers=2)
    for batch in loader:            # input_ids, cu_seqlens, max_seqlen, position_ids, source_tokens, ...
        ...
        ckpt["loader"] = loader.state_dict()          # merge_states() over ranks before saving
    # after a crash, with any number of ranks / workers:
    loader.load_state_dict(ckpt["loader"])

The package follows the split of MosaicML streaming:

* :mod:`~engine.train.stream.plan`: the stream as segments (epochs, or follow-mode shard groups), the
  row order of a segment (exact mixing weights, shuffled blocks, shuffle windows) and the elastic split
  of a segment among ``world x workers`` consumers (equal rows per rank, padded at the epoch end).
* :mod:`~engine.train.stream.state`: positions of consumed rows and the resumable state built from
  them (intervals per segment; a resume with another layout splits what is left again).
* :mod:`~engine.train.stream.dataset`: :class:`ShardStream` (verified, memory-mapped reads through
  :mod:`engine.output.reader`) and :class:`StreamLoader` (DataLoader that keeps the state in the main
  process).
* :mod:`~engine.train.stream.collate`: token-budget micro-batches with ``cu_seqlens``.

``follow=True`` streams a build that is still running: each source's shards form segments of
``follow_group`` shards (named ``<source>/<group>``; shards are identified by path and sha256, so the
reordered final listing of build.json names the same segments); the stream waits for new segments
and ends once the build is complete and every segment was read, every row exactly once.
"""
from engine.output.reader import ShardChecksumError
from engine.train.stream.collate import batch_by_tokens, collate_packed
from engine.train.stream.dataset import ShardStream, StreamLoader
from engine.train.stream.plan import (
    BuildIncompleteError, UnknownSourceError, manifest_weights, parse_weights, read_build, resolve_weights,
)
from engine.train.stream.state import STATE_VERSION, Position, StreamState, merge_states

__all__ = [
    "BuildIncompleteError", "Position", "STATE_VERSION", "ShardChecksumError", "ShardStream", "StreamLoader",
    "StreamState", "UnknownSourceError", "batch_by_tokens", "collate_packed", "manifest_weights", "merge_states",
    "parse_weights", "read_build", "resolve_weights",
]

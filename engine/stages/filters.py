"""Filters: documents that are empty, too short, or not text go to the ``filtered`` bucket.

* ``empty``: nothing left after normalization.
* ``too short``: fewer than ``filters.min_chars`` characters (per-source ``min_chars`` overrides).
* ``not text``: the share of letters (any script) is below ``filters.min_alpha_ratio``
  (tables of numbers, base64 blobs, mis-decoded binary).  Counted with ``str.isalpha`` so
  Spanish, Greek or CJK text passes.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.core.records import Drop
from engine.stages.base import SourceContext, Stage, StageResult


_SAMPLE = 16384


_NOT_ASCII_LETTER = bytes(c for c in range(128) if not chr(c).isalpha())


def _alpha_share(text: str) -> float:
    """Share of letters (any script) in the text; the first 16k characters stand for a longer one."""
    t = text[:_SAMPLE]
    if t.isascii():
        b = t.encode("ascii")
        return len(b.translate(None, _NOT_ASCII_LETTER)) / max(1, len(b))
    return sum(map(str.isalpha, t)) / max(1, len(t))


class FilterStage(Stage):
    name = "filter"
    num_cpus = 0.25

    def process(self, table: pa.Table, ctx: SourceContext) -> StageResult:
        cfg = self.manifest.filters
        min_chars = ctx.config.min_chars if ctx.config.min_chars is not None else cfg.min_chars
        texts = table.column("text")
        lengths = pc.utf8_length(texts).to_numpy(zero_copy_only=False)
        ids = table.column("doc_id").to_pylist()
        keep = []
        drops: list[Drop] = []
        for i, (n, t) in enumerate(zip(lengths, texts.to_pylist())):
            if n == 0:
                reason = "empty"
            elif n < min_chars:
                reason = f"too short (< {min_chars} chars)"
            elif cfg.min_alpha_ratio > 0 and _alpha_share(t) < cfg.min_alpha_ratio:
                reason = f"not text (letters < {cfg.min_alpha_ratio:.0%})"
            else:
                keep.append(i)
                continue
            drops.append(Drop(ids[i], "filtered", reason, None, None, "filter"))
        out = table if len(keep) == len(ids) else table.take(pa.array(keep, pa.int64()))
        return StageResult(out, drops)

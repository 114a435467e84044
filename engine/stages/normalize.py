"""Normalize: Unicode form, whitespace, and the source's placeholder policy.

* Unicode NFC (or NFKC / none, from ``normalize.unicode_form``).
* Line endings to ``\\n``; control characters removed; inside each line any run of
  whitespace (tabs, NBSP, Unicode spaces) becomes one space and the line's ends are
  stripped (indentation is not kept); three or more newlines collapse to two (paragraph
  breaks, which clinical section headers rely on, stay); the text is stripped.
* Placeholders: the connector declares its source's own de-identification placeholder
  (MIMIC-III ``[**Name**]``, MIMIC-IV ``___``); ``placeholder: replace`` maps each to one
  token (``normalize.placeholder_token``, default ``[PHI]``) so the model sees one
  symbol, ``keep`` leaves them as released.
"""
from __future__ import annotations

import bisect
import difflib
import json
import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from engine.stages.base import SourceContext, Stage, StageResult

_BLANKS = re.compile(r"\n{3,}")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def normalize_text(text: str, form: str = "NFC", placeholder: re.Pattern | None = None, token: str = "[PHI]") -> str:
    if form != "none" and not text.isascii():
        text = unicodedata.normalize(form, text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _CTRL.search(text):
        text = _CTRL.sub("", text)
    # per line: any run of whitespace (tabs, NBSP, Unicode spaces) -> one space, ends stripped
    text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    if "\n\n\n" in text:
        text = _BLANKS.sub("\n\n", text)
    if placeholder is not None:
        text = placeholder.sub(token, text)
    return text.strip()


class NormalizeStage(Stage):
    name = "normalize"
    num_cpus = 0.25

    def __init__(self, manifest) -> None:
        super().__init__(manifest)
        self._patterns: dict[str, re.Pattern | None] = {}

    def process(self, table: pa.Table, ctx: SourceContext) -> StageResult:
        cfg = self.manifest.normalize
        policy = ctx.config.placeholder or cfg.placeholder
        pat = None
        if policy == "replace" and ctx.placeholder:
            pat = self._patterns.setdefault(ctx.placeholder, re.compile(ctx.placeholder))
        raw = table.column("text").to_pylist()
        texts = [normalize_text(t, cfg.unicode_form, pat, cfg.placeholder_token) for t in raw]
        idx = table.schema.get_field_index("text")
        table = table.set_column(idx, table.schema.field("text"), pa.array(texts, pa.large_string()))
        if pc.any(pc.match_substring(table.column("meta"), '"phi_spans"')).as_py():  # annotated spans follow their text
            metas = table.column("meta").to_pylist()
            metas = [remap_spans(m, a, b) if m and '"phi_spans"' in m else m for m, a, b in zip(metas, raw, texts)]
            table = table.set_column(table.schema.get_field_index("meta"), table.schema.field("meta"), pa.array(metas, pa.string()))
        return StageResult(table)


def remap_spans(meta: str, before: str, after: str) -> str:
    """Move the ``phi_spans`` a connector put in ``meta`` (offsets into ``before``) onto the
    normalized text ``after``: offsets follow the characters normalization kept, and a span keeps
    everything between its first and last kept character."""
    m = json.loads(meta)
    spans = m.get("phi_spans") or []
    if before == after or not spans:
        return meta
    blocks = difflib.SequenceMatcher(None, before, after, autojunk=False).get_matching_blocks()
    starts = [b.a for b in blocks]

    def where(pos: int, end: bool) -> int:
        """Offset in ``after`` of the first kept character at or after ``pos``, or for an (exclusive)
        end, just after the last kept character before ``pos``."""
        if end:
            i = bisect.bisect_left(starts, pos) - 1  # the last block starting before pos
            if i < 0:
                return 0
            blk = blocks[i]
            return blk.b + min(pos, blk.a + blk.size) - blk.a
        i = max(bisect.bisect_right(starts, pos) - 1, 0)
        while i < len(blocks) and blocks[i].a + blocks[i].size <= pos:
            i += 1
        if i == len(blocks):
            return len(after)
        blk = blocks[i]
        return blk.b + max(0, pos - blk.a)

    moved = []
    for s, e, ent in spans:
        ns, ne = where(int(s), False), where(int(e), True)
        if ne > ns:
            moved.append([ns, ne, ent])
    m["phi_spans"] = moved
    m["phi_text_len"] = len(after)
    return json.dumps(m, sort_keys=True, ensure_ascii=False)

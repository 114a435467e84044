"""Normalize: Unicode form, whitespace, and the source's placeholder policy.

* Unicode NFC (or NFKC / none, from ``normalize.unicode_form``).
* Line endings to ``\\n``; tabs and runs of spaces inside a line to one space; trailing
  spaces removed; three or more newlines collapsed to two (keeps paragraph breaks, which
  clinical section headers rely on); leading/trailing whitespace stripped.
* Placeholders: the connector declares its source's own de-identification placeholder
  (MIMIC-III ``[**Name**]``, MIMIC-IV ``___``); ``placeholder: replace`` maps each to one
  token (``normalize.placeholder_token``, default ``[PHI]``) so the model sees one
  symbol, ``keep`` leaves them as released.
"""
from __future__ import annotations

import re
import unicodedata

import pyarrow as pa

from engine.stages.base import SourceContext, Stage, StageResult

_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_TRAIL = re.compile(r" +\n")
_BLANKS = re.compile(r"\n{3,}")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def normalize_text(text: str, form: str = "NFC", placeholder: re.Pattern | None = None, token: str = "[PHI]") -> str:
    if form != "none":
        text = unicodedata.normalize(form, text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CTRL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRAIL.sub("\n", text)
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
        texts = [normalize_text(t, cfg.unicode_form, pat, cfg.placeholder_token) for t in table.column("text").to_pylist()]
        idx = table.schema.get_field_index("text")
        return StageResult(table.set_column(idx, table.schema.field("text"), pa.array(texts, pa.large_string())))

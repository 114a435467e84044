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

import re
import unicodedata

import pyarrow as pa

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
        texts = [normalize_text(t, cfg.unicode_form, pat, cfg.placeholder_token) for t in table.column("text").to_pylist()]
        idx = table.schema.get_field_index("text")
        return StageResult(table.set_column(idx, table.schema.field("text"), pa.array(texts, pa.large_string())))

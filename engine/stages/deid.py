"""The de-identification check stage: annotate, then act (verify | redact | skip), then verify.

Built once per worker; ``setup`` loads presidio and the spaCy pipeline (``manifest.deid``:
``nlp_model``, ``entities``, ``score_threshold``, ``prescreen``, ``ner_entities``).  Per batch
(one source, :data:`engine.core.records.DOC_SCHEMA`), with ``ctx.deid_policy``:

* ``skip``: the table is returned unchanged, no counters.
* ``verify``: PHI hits are counted; a document with more than ``reject_threshold`` hits is
  dropped (bucket ``deid_rejected``, its original text kept for quarantine); the rest pass
  unchanged.
* ``redact``: every hit is replaced by a typed placeholder (``[NAME]``, ``[DATE]``,
  ``[PHONE]``, ``[ID]``...); the redacted text is annotated again as a gate, and a document
  that still shows hits is dropped as ``deid_rejected``.

Counters: ``phi:<ENTITY>`` = hits of that type in the batch as first annotated (rejected
documents included).  The source's placeholders (``ctx.placeholder``, plus ``[**...**]``,
``___``, ``XXXX``) are never hits.  Reasons and log lines carry doc ids, entity types and
counts only, never text.
"""
from __future__ import annotations

import json
import logging
from typing import ClassVar

import pyarrow as pa

from engine.core.records import DOC_SCHEMA, Drop
from engine.stages.base import SourceContext, Stage, StageResult

log = logging.getLogger(__name__)


_SPAN_KEYS = ("phi_spans", "phi_text_len")


def known_spans(meta: str | None, text_len: int) -> list | None:
    """The PHI spans a connector already knows (meta ``phi_spans``, e.g. n2c2 ``<TAGS>``) as
    hits of score 1.0; ``[]`` when there are none, ``None`` when they no longer fit the text
    (a stage before changed its length)."""
    if not meta or '"phi_spans"' not in meta:
        return []
    from engine.deid.entities import Hit

    m = json.loads(meta)
    spans = m.get("phi_spans") or []
    if m.get("phi_text_len", text_len) != text_len or any(not 0 <= s < e <= text_len for s, e, _ in spans):
        return None
    return [Hit(int(s), int(e), str(ent), 1.0, "source_tags") for s, e, ent in spans]


def _spans_json(hits) -> str:
    """Offsets and types of the hits (never their values), for the quarantine record."""
    return json.dumps([[h.start, h.end, h.entity] for h in hits], separators=(",", ":"))


def _without_spans(meta: str | None) -> str | None:
    if not meta or '"phi_spans"' not in meta:
        return meta
    m = {k: v for k, v in json.loads(meta).items() if k not in _SPAN_KEYS}
    return json.dumps(m, sort_keys=True, ensure_ascii=False)


class DeidStage(Stage):
    name: ClassVar[str] = "deid"
    num_cpus: ClassVar[float] = 1.0

    def __init__(self, manifest, engine=None) -> None:
        super().__init__(manifest)
        self.engine = engine  # a prepared engine.deid.detector.DeidEngine (tests, benchmarks)
        self._placeholder_cache: dict[str | None, object] = {}

    @classmethod
    def wanted(cls, manifest) -> bool:
        return any(manifest.deid_policy(s) != "skip" for s in manifest.sources)

    @property
    def config(self):
        cfg = getattr(self.manifest, "deid", None)
        if cfg is None:
            from engine.core.manifest import DeidConfig

            cfg = DeidConfig()
        return cfg

    def setup(self) -> None:
        if self.engine is None:
            from engine.deid.detector import DeidEngine

            cfg = self.config
            self.engine = DeidEngine(
                nlp_model=cfg.nlp_model,
                entities=cfg.entities,
                score_threshold=cfg.score_threshold,
                prescreen=getattr(cfg, "prescreen", "doc"),
                ner_entities=tuple(getattr(cfg, "ner_entities", ("PERSON",))),
            )
        self.engine.setup()

    def teardown(self) -> None:
        self.engine = None

    def _placeholder(self, rx: str | None):
        if rx not in self._placeholder_cache:
            import re

            self._placeholder_cache[rx] = re.compile(rx) if rx else None
        return self._placeholder_cache[rx]

    def process(self, table: pa.Table, ctx: SourceContext) -> StageResult:
        policy = ctx.deid_policy or self.config.default
        if policy == "skip" or table.num_rows == 0:
            return StageResult(table=table)
        if policy not in ("verify", "redact"):
            raise ValueError(f"source {ctx.name!r}: unknown deid policy {policy!r}")
        if self.engine is None or self.engine.analyzer is None:
            self.setup()
        from engine.deid.detector import count, describe, redact

        texts = table.column("text").to_pylist()
        ids = table.column("doc_id").to_pylist()
        ph = self._placeholder(ctx.placeholder)
        hits = self.engine.annotate(texts, ph)
        metas = table.column("meta").to_pylist()
        known = [known_spans(m, len(t)) for m, t in zip(metas, texts)]
        stale = {i for i, k in enumerate(known) if k is None}
        if any(known):
            from engine.deid.detector import resolve

            hits = [resolve(h + k) if k else h for h, k in zip(hits, known)]
        counters = {f"phi:{k}": v for k, v in sorted(count(hits).items())}
        drops: list[Drop] = []
        keep: list[int] = []
        threshold = self.config.reject_threshold

        for i in sorted(stale):
            drops.append(
                Drop(
                    doc_id=ids[i],
                    bucket="deid_rejected",
                    stage="deid",
                    reason="the source's PHI spans no longer match the text",
                    text=texts[i],
                    spans=_spans_json(hits[i]),
                )
            )
        if policy == "verify":
            for i, h in enumerate(hits):
                if i in stale:
                    continue
                if len(h) > threshold:
                    drops.append(
                        Drop(
                            doc_id=ids[i],
                            bucket="deid_rejected",
                            stage="deid",
                            reason=f"{len(h)} PHI hits ({describe(h)}) > reject_threshold {threshold}",
                            text=texts[i],
                            spans=_spans_json(h),
                        )
                    )
                else:
                    keep.append(i)
            out = table if len(keep) == table.num_rows else table.take(pa.array(keep, pa.int64()))
        else:  # redact, then re-scan the written text as a gate
            red = [redact(t, h) if h else t for t, h in zip(texts, hits)]
            changed = [i for i, h in enumerate(hits) if h]
            gate = self.engine.annotate([red[i] for i in changed], ph) if changed else []
            left = {i: g for i, g in zip(changed, gate) if g}
            for i in range(len(texts)):
                if i in stale:
                    continue
                if i in left:
                    g = left[i]
                    drops.append(
                        Drop(
                            doc_id=ids[i],
                            bucket="deid_rejected",
                            stage="deid",
                            reason=f"{len(g)} PHI hits ({describe(g)}) remain after redaction",
                            text=texts[i],
                            spans=_spans_json(hits[i]),
                        )
                    )
                else:
                    keep.append(i)
            sub = table.take(pa.array(keep, pa.int64())) if len(keep) != table.num_rows else table
            new_text = pa.array([red[i] for i in keep], type=pa.large_string())
            out = sub.set_column(sub.schema.get_field_index("text"), DOC_SCHEMA.field("text"), new_text)
        if any(known) and out.num_rows:
            meta = [_without_spans(m) for m in out.column("meta").to_pylist()]
            out = out.set_column(out.schema.get_field_index("meta"), DOC_SCHEMA.field("meta"), pa.array(meta, pa.string()))
        log.info(
            "deid %s source=%s docs=%d docs_with_phi=%d rejected=%d hits=%d",
            policy,
            ctx.name,
            len(texts),
            sum(1 for h in hits if h),
            len(drops),
            sum(len(h) for h in hits),
        )
        rejected = {d.doc_id for d in drops}
        if rejected:
            rej = count(h for i, h in enumerate(hits) if ids[i] in rejected)
            counters.update({f"phi_rejected:{k}": v for k, v in sorted(rej.items())})
        return StageResult(table=out, drops=drops, counters=counters)

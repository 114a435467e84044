import pyarrow as pa

from connectors.base import PLACEHOLDER_MIMIC_III
from engine.core.manifest import Manifest
from engine.core.records import DOC_SCHEMA
from engine.stages.base import SourceContext
from engine.stages.filters import FilterStage
from engine.stages.normalize import NormalizeStage, normalize_text


def manifest(**kw):
    d = {"name": "t", "output": "/tmp/x", "tokenizer": "t.json",
         "sources": [{"name": "s", "connector": "jsonl", "uri": "x", **kw.pop("src", {})}], **kw}
    return Manifest.model_validate(d)


def table(texts):
    return pa.table({"doc_id": [f"s:{i}" for i in range(len(texts))], "text": texts, "meta": [None] * len(texts),
                     "key": [None] * len(texts), "rank": [0] * len(texts)}, schema=DOC_SCHEMA)


def test_normalize_text():
    assert normalize_text("Cafe\u0301  \t x \r\n\r\n\r\n\r\nend  \n") == "Caf\u00e9 x\n\nend"
    assert normalize_text("a\x00b\x07c") == "abc"


def test_normalize_placeholder_policy():
    m = manifest(src={"placeholder": "replace"})
    ctx = SourceContext("s", m.sources[0], m, PLACEHOLDER_MIMIC_III)
    out = NormalizeStage(m).process(table(["Seen by Dr. [**Last Name 123**] on [**2150-1-1**]."]), ctx)
    assert out.table.column("text").to_pylist() == ["Seen by Dr. [PHI] on [PHI]."]
    m2 = manifest()
    ctx2 = SourceContext("s", m2.sources[0], m2, PLACEHOLDER_MIMIC_III)
    assert "[**Last Name 123**]" in NormalizeStage(m2).process(table(["Dr. [**Last Name 123**]"]), ctx2).table.column("text")[0].as_py()


def test_filters_buckets_and_reasons():
    m = manifest(filters={"min_chars": 5, "min_alpha_ratio": 0.3}, src={"min_chars": 4})
    ctx = SourceContext("s", m.sources[0], m)
    res = FilterStage(m).process(table(["", "abc", "1234567890 12", "Un paciente de 45 años", "ok fine"]), ctx)
    assert res.table.column("doc_id").to_pylist() == ["s:3", "s:4"]
    assert [(d.doc_id, d.bucket, d.reason.split(" (")[0]) for d in res.drops] == [
        ("s:0", "filtered", "empty"), ("s:1", "filtered", "too short"), ("s:2", "filtered", "not text")]


def test_source_phi_spans_follow_normalization():
    """Spans a connector knows (n2c2 <TAGS>) still cover the same words after whitespace is collapsed."""
    import json

    from engine.stages.normalize import normalize_text, remap_spans

    before = "\n  Patient  John   Smith seen\ton 3/4/2090 at  Boston.\n\n\n\nDr. Lee  "
    words = [("John   Smith", "NAME"), ("3/4/2090", "DATE"), ("Boston", "LOCATION"), ("Lee", "NAME")]
    spans = [[before.index(w), before.index(w) + len(w), e] for w, e in words]
    after = normalize_text(before)
    m = json.loads(remap_spans(json.dumps({"phi_spans": spans, "phi_text_len": len(before)}), before, after))
    assert [after[s:e] for s, e, _ in m["phi_spans"]] == ["John Smith", "3/4/2090", "Boston", "Lee"]
    assert m["phi_text_len"] == len(after)

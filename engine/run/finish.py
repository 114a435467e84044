"""The end of a build: the complete ledger, the quarantine index, timings, the summary and the report."""
from __future__ import annotations

from collections import Counter

from engine.core import fsio
from engine.core.records import DROP_BUCKETS
from engine.output import findings, ledger
from engine.output.reader import file_sha256


def quarantine_index(out_root: str, read_markers: list, token_markers: list) -> list[dict]:
    """Every quarantine file with its source, per-bucket counts (no PHI counters) and sha256, so the
    audit notices a removed or edited quarantine file even when the counts were edited to match."""
    out = []
    for m in read_markers:
        if m.quarantine_file:
            out.append({"path": m.quarantine_file, "source": m.source,
                        "counts": {k: v for k, v in m.counts.items() if k in DROP_BUCKETS}})
    for m in token_markers:
        if m.quarantine_file:
            out.append({"path": m.quarantine_file, "source": m.source,
                        "counts": {k: m.counts[k] for k in ("exact_dup", "near_dup", "filtered") if m.counts.get(k)}})
    for q in out:
        q["sha256"] = file_sha256(fsio.join(out_root, q["path"]))
    return out


def worker_seconds(read_markers: list, token_markers: list, groups: list) -> dict[str, float]:
    seconds: Counter = Counter()
    for m in read_markers:
        seconds.update(m.seconds)
    for m in token_markers:
        seconds.update({f"tokenize.{k}": v for k, v in m.seconds.items()})
    for g in groups:
        seconds.update({f"pack.{k}": v for k, v in g.seconds.items()})
    return dict(seconds)


def summary_text(doc: dict, timings: dict | None = None) -> str:
    lines = [f"build {doc['manifest']['name']} ({doc['build_id']}): {len(doc['shards'])} shards", ""]
    warns = findings.warnings(doc)
    if warns:
        lines += [f"WARNING: {w}" for w in warns] + [""]
    lines.append(ledger.table(doc["sources"], doc["max_seq_len"]))
    phi = {n: s["phi_hits"] for n, s in doc["sources"].items() if s.get("phi_hits")}
    if phi:
        lines += ["", "PHI hits by type:"] + [f"  {n}: " + ", ".join(f"{k}={v:,}" for k, v in h.items()) for n, h in phi.items()]
    top = []
    for n, s in doc["sources"].items():
        for b, rs in s.get("reasons", {}).items():
            for r, c in list(rs.items())[:3]:
                top.append(f"  {n}: {b}: {r} ({c:,})")
    if top:
        lines += ["", "where dropped documents went (top reasons):"] + top
    if timings:
        lines += ["", "wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())]
    return "\n".join(lines) + "\n"


def write_reports(run, doc: dict, build_id: str, seconds: dict[str, float]) -> str:
    """``report/timings.json``, ``report/summary.txt`` and the HTML report; returns the summary."""
    lay = run.layout
    report = {"build_id": build_id, "wall_seconds": run.timings, "worker_seconds": seconds, "dedup": run.dedup_stats}
    fsio.write_json_atomic(lay.report("timings.json"), report)
    summary = summary_text(doc, run.timings)
    fsio.write_bytes_atomic(lay.report("summary.txt"), summary.encode())
    try:
        from engine.output import report as html_report

        html_report.write_report(run.out, doc, report)
    except ImportError:
        pass
    return summary

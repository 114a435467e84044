"""The human build report: ``OUT/report/index.html``, one self-contained page.

Written by every build (``engine.run.build`` calls :func:`write_report` at the end) and
regenerated on demand with ``python -m engine.report OUT``.  The page has no external
resources (CSS inline, plots embedded as base64 PNG drawn with matplotlib's Agg backend),
so it opens offline, from an object store download, or attached to a ticket.

Sections: per-source documents and tokens in and out; where dropped documents went
(bucket counts and their top reasons); PHI hits by entity type; document-length and
tokens-per-row histograms (read from the shards' ``doc_lens`` through the checksum-verifying
shard reader, sampled when the build is large); packing efficiency; throughput per stage (wall and summed worker seconds); the
dedup counters; the shard list with checksums and the quarantine files.

It never includes document text: it reads only counts and reasons from ``build.json``
(the engine already strips text from reasons), timings, and the ``doc_lens`` / ``doc_ids``
columns of the shards (ids are counted, never printed).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import logging
import sys
import time
from collections import Counter

import numpy as np

from engine.core import fsio
from engine.core.records import DROP_BUCKETS
from engine.output.reader import open_shard, shard_entries

log = logging.getLogger("engine.report")

MAX_SHARD_ROWS_LISTED = 5000

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#1b1f24;padding:0 16px}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;font-size:13px} .note{color:#57606a;font-size:13px;margin:4px 0 8px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px} th{background:#f6f8fa;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} tr.total td{font-weight:600;background:#f6f8fa}
code{font-size:12px} .plots{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0} .plots img{border:1px solid #d0d7de;max-width:100%}
.kpi{display:inline-block;margin:8px 16px 8px 0;padding:8px 12px;border:1px solid #d0d7de;border-radius:6px}
.kpi b{display:block;font-size:20px}
"""


# ------------------------------------------------------------------------------------------------
# data gathering


def sample_shards(out: str, shards: list[dict], max_rows: int = 200_000, max_shards: int = 16) -> dict:
    """Row lengths, segment lengths and per-document lengths (tokens) from the shards.

    Reads only the ``doc_lens`` and ``doc_ids`` columns of at most ``max_shards`` shards spread evenly
    over the commit order (each checked against build.json's sha256 first), and at most about
    ``max_rows`` rows of them (every sampled shard contributes its first batches).  A document split
    over windows counts once with the sum of its windows when they fall in the sample.
    """
    row_lens: list[np.ndarray] = []
    seg_lens: list[np.ndarray] = []
    doc_tokens: Counter = Counter()
    rows_seen = 0
    total_rows = sum(int(s.get("rows", 0)) for s in shards) or 1
    entries = shard_entries(out, shards)
    if len(entries) > max_shards:
        entries = [entries[i] for i in np.linspace(0, len(entries) - 1, max_shards).round().astype(int)]
    per_shard = max(1, max_rows // max(1, len(entries)))
    for entry in entries:
        if rows_seen >= max_rows:
            break
        try:
            reader = open_shard(entry, columns=("doc_lens", "doc_ids"))
            taken = 0
            for b in reader.batches():
                if taken >= per_shard:
                    break
                if taken + b.num_rows > per_shard:
                    b = b.slice(0, per_shard - taken)
                dl = b.column("doc_lens")
                offs = np.asarray(dl.offsets, dtype=np.int64)
                vals = np.asarray(dl.values, dtype=np.int64)[offs[0] : offs[-1]]
                offs = offs - offs[0]
                csum = np.concatenate([[0], np.cumsum(vals)])
                row_lens.append(csum[offs[1:]] - csum[offs[:-1]])
                seg_lens.append(vals)
                ids = b.column("doc_ids").flatten().to_pylist()
                for d, n in zip(ids, vals.tolist()):
                    doc_tokens[d] += n
                taken += b.num_rows
                rows_seen += b.num_rows
        except (OSError, KeyError, ValueError) as e:  # missing, unreadable or altered: the audit reports it
            print(f"report: cannot read {entry.path}: {type(e).__name__}", file=sys.stderr)
    return {
        "row_lens": np.concatenate(row_lens) if row_lens else np.zeros(0, np.int64),
        "seg_lens": np.concatenate(seg_lens) if seg_lens else np.zeros(0, np.int64),
        "doc_lens": np.fromiter(doc_tokens.values(), dtype=np.int64, count=len(doc_tokens)),
        "rows_sampled": rows_seen,
        "rows_total": total_rows,
        "sampled": rows_seen < total_rows,
    }


# ------------------------------------------------------------------------------------------------
# plots


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(doc: dict, timings: dict, sample: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out: list[tuple[str, str]] = []
    names = list(doc["sources"])
    src = doc["sources"]
    x = np.arange(len(names))

    fig, ax = plt.subplots(figsize=(5.8, 3.0))
    ax.bar(x - 0.2, [src[n]["read"] for n in names], 0.4, label="read", color="#8c959f")
    ax.bar(x + 0.2, [src[n]["written"] for n in names], 0.4, label="written", color="#2da44e")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("documents")
    ax.set_title("Documents in and out per source")
    ax.legend()
    out.append(("Documents in and out per source", _png(fig)))

    fig, ax = plt.subplots(figsize=(5.8, 3.0))
    bottom = np.zeros(len(names))
    colors = ["#0969da", "#8250df", "#cf222e", "#bf8700", "#57606a"]
    for b, c in zip(DROP_BUCKETS, colors):
        vals = np.array([src[n].get(b, 0) for n in names], dtype=float)
        ax.bar(x, vals, 0.6, bottom=bottom, label=b, color=c)
        bottom += vals
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("documents dropped")
    ax.set_title("Where dropped documents went")
    ax.legend(fontsize=8)
    out.append(("Where dropped documents went", _png(fig)))

    phi: Counter = Counter()
    for n in names:
        phi.update(src[n].get("phi_hits", {}))
    if phi:
        fig, ax = plt.subplots(figsize=(5.8, 3.0))
        items = phi.most_common(15)
        ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#cf222e")
        ax.set_xlabel("hits")
        ax.set_title("PHI hits by entity type (all sources)")
        out.append(("PHI hits by entity type", _png(fig)))

    L = int(doc["max_seq_len"])
    fig, ax = plt.subplots(figsize=(5.8, 3.0))
    dl = sample["doc_lens"]
    if len(dl):
        lo, hi = max(1, int(dl.min())), max(2, int(dl.max()))
        bins = np.unique(np.geomspace(lo, max(hi + 1, lo * 1.5), 50).astype(int))
        ax.hist(dl, bins=bins, color="#0969da")
        ax.set_xscale("log")
    ax.set_xlabel("document length (tokens, incl. [CLS]/[SEP])")
    ax.set_ylabel("documents")
    ax.set_title("Document length" + (" (sample)" if sample["sampled"] else ""))
    out.append(("Document-length histogram", _png(fig)))

    fig, ax = plt.subplots(figsize=(5.8, 3.0))
    rl = sample["row_lens"]
    if len(rl):
        ax.hist(rl, bins=np.linspace(0, L, 41), color="#2da44e")
    ax.axvline(L, color="#cf222e", linestyle="--", linewidth=1)
    ax.set_xlabel(f"tokens per row (max_seq_len {L})")
    ax.set_ylabel("rows")
    ax.set_title("Tokens per packed row" + (" (sample)" if sample["sampled"] else ""))
    out.append(("Tokens-per-row histogram", _png(fig)))

    ws = {k: v for k, v in (timings.get("worker_seconds") or {}).items() if k not in ("total", "pack.total") and v > 0}
    fig, ax = plt.subplots(figsize=(5.8, 3.0))
    if ws:
        ks = sorted(ws, key=lambda k: -ws[k])
        ax.barh(ks[::-1], [ws[k] for k in ks][::-1], color="#8250df")
    ax.set_xlabel("worker seconds (summed over workers)")
    ax.set_title("Time per stage")
    out.append(("Time per stage", _png(fig)))
    return out


# ------------------------------------------------------------------------------------------------
# HTML


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _n(v) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return _e(v)


def phi_split_rows(src: dict[str, dict]) -> list[list]:
    """Per source: PHI hits in documents that passed the de-id stage vs in rejected ones, and
    both per 1,000 documents read."""
    rows = []
    for n, s in src.items():
        total = sum(s.get("phi_hits", {}).values())
        rej = sum(s.get("phi_hits_rejected", {}).values())
        per = 1000.0 / s["read"] if s.get("read") else 0.0
        rows.append([n, total - rej, rej, s.get("deid_rejected", 0), round((total - rej) * per, 1), round(rej * per, 1)])
    return rows


def _table(tid: str, head: list[str], rows: list[list], total: list | None = None, numeric_from: int = 1) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    body = []
    for r in rows + ([total] if total else []):
        cls = ' class="total"' if total is not None and r is total else ""
        cells = "".join(
            f'<td class="n">{_n(v)}</td>' if i >= numeric_from and isinstance(v, (int, float)) else f"<td>{_e(v)}</td>"
            for i, v in enumerate(r)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<table id="{_e(tid)}"><thead><tr>{h}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _rate(num: float, secs: float) -> float:
    return num / secs if secs and secs > 0 else 0.0


def render(doc: dict, timings: dict | None, sample: dict, plots: bool = True) -> str:
    timings = timings or {}
    src = doc["sources"]
    tot = doc.get("totals") or {}
    L = int(doc["max_seq_len"])
    name = doc.get("manifest", {}).get("name", "build")
    parts: list[str] = []
    tokens = int(tot.get("tokens", 0))
    rows = int(tot.get("rows", 0))
    eff = tokens / (rows * L) if rows else 0.0
    wall = timings.get("wall_seconds") or {}
    parts.append(f"<h1>Build report: {_e(name)}</h1>")
    parts.append(
        f'<div class="meta">build <code>{_e(doc.get("build_id"))}</code> · engine {_e(doc.get("engine_version"))} · '
        f'tokenizer {_e(doc.get("tokenizer", {}).get("name"))} (sha256 <code>{_e(str(doc.get("tokenizer", {}).get("sha256", ""))[:12])}</code>, '
        f'vocab {_n(doc.get("tokenizer", {}).get("vocab_size", 0))}) · max_seq_len {L} · '
        f'{"complete" if doc.get("complete") else "INCOMPLETE"} · report written {_e(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))}</div>'
    )
    kpis = [("documents read", _n(int(tot.get("read", 0)))), ("documents written", _n(int(tot.get("written", 0)))),
            ("tokens written", _n(tokens)), ("packed rows", _n(rows)), ("packing efficiency", f"{eff:.2%}"),
            ("shards", _n(len(doc.get("shards", []))))]
    if wall.get("total"):
        kpis.append(("wall time", f"{wall['total']:,.1f} s"))
    parts.append("<div>" + "".join(f'<span class="kpi"><b>{v}</b>{_e(k)}</span>' for k, v in kpis) + "</div>")

    # plots
    parts.append("<h2>Overview</h2><div class=\"plots\">")
    try:
        figs = _plots(doc, timings, sample) if plots else []
    except ImportError:  # matplotlib missing: the tables still tell the story
        figs = []
        parts.append('<p class="note">Plots unavailable: matplotlib is not installed.</p>')
    for title, b64 in figs:
        parts.append(f'<figure><img alt="{_e(title)}" src="data:image/png;base64,{b64}"><figcaption class="note">{_e(title)}</figcaption></figure>')
    parts.append("</div>")

    # per source in / out
    parts.append("<h2>Documents and tokens per source</h2>")
    parts.append('<p class="note">Token counts include the [CLS]/[SEP] the engine adds to every window. '
                 "read = written + exact_dup + near_dup + deid_rejected + filtered + quarantined.</p>")
    head = ["source", "read", "written", "MB read", "chars written", "tokens", "rows", "segments", "split docs", "weight", "priority"]
    body = [[n, s["read"], s["written"], s.get("bytes_read", 0) / 1e6, s.get("chars_written", 0), s["tokens"], s["rows"],
             s.get("segments", 0), s.get("split_documents", 0), float(s.get("weight", 1.0)), s.get("priority", 0)] for n, s in src.items()]
    total = ["TOTAL", tot.get("read", 0), tot.get("written", 0), tot.get("bytes_read", 0) / 1e6, tot.get("chars_written", 0),
             tokens, rows, tot.get("segments", 0), tot.get("split_documents", 0), "", ""]
    parts.append(_table("sources", head, body, total))

    # drops
    parts.append("<h2>Where dropped documents went</h2>")
    body = [[n] + [s.get(b, 0) for b in DROP_BUCKETS] + [sum(s.get(b, 0) for b in DROP_BUCKETS)] for n, s in src.items()]
    total = ["TOTAL"] + [tot.get(b, 0) for b in DROP_BUCKETS] + [sum(tot.get(b, 0) for b in DROP_BUCKETS)]
    parts.append(_table("drops", ["source", *DROP_BUCKETS, "dropped"], body, total))
    reason_rows = []
    for n, s in src.items():
        for b, rs in s.get("reasons", {}).items():
            for r, c in sorted(rs.items(), key=lambda kv: (-kv[1], kv[0]))[:5]:
                reason_rows.append([n, b, r, c])
    parts.append('<p class="note">Top reasons (up to 5 per source and bucket; numbers folded to N). '
                 "The records themselves are under quarantine/.</p>")
    parts.append(_table("reasons", ["source", "bucket", "reason", "documents"], reason_rows, numeric_from=3))

    # PHI
    parts.append("<h2>PHI hits by type</h2>")
    types = sorted({t for s in src.values() for t in s.get("phi_hits", {})})
    if types:
        body = [[n] + [s.get("phi_hits", {}).get(t, 0) for t in types] for n, s in src.items()]
        parts.append(_table("phi", ["source", *types], body))
        parts.append('<p class="note">Hits split by what became of the document: passed the de-id stage '
                     "(redacted or under the reject threshold) or rejected (<code>deid_rejected</code>, no text "
                     "kept under OUT); per 1,000 documents read from the source.</p>")
        parts.append(_table("phi-split", ["source", "hits passed", "hits rejected", "docs rejected",
                                          "passed per 1k docs", "rejected per 1k docs"], phi_split_rows(src)))
    else:
        parts.append('<p class="note">No PHI hits recorded (sources with <code>deid: skip</code> are not scanned).</p>')
        parts.append(_table("phi", ["source", "hits"], [[n, 0] for n in src]))

    # packing
    parts.append("<h2>Packing</h2>")
    body = []
    for n, s in src.items():
        r = s["rows"]
        body.append([n, s["tokens"], r, s["tokens"] / (r * L) * 100 if r else 0.0, s.get("segments", 0) / r if r else 0.0])
    body.append(["TOTAL", tokens, rows, eff * 100, tot.get("segments", 0) / rows if rows else 0.0])
    parts.append(_table("packing", ["source", "tokens", "rows", "efficiency %", "segments per row"], body))
    rl = sample["row_lens"]
    if len(rl):
        parts.append(f'<p class="note">Rows sampled: {sample["rows_sampled"]:,} of {sample["rows_total"]:,}; '
                     f"median row {int(np.median(rl)):,} tokens, {float((rl == L).mean()):.1%} of rows exactly full.</p>")

    # throughput
    parts.append("<h2>Throughput per stage</h2>")
    mb = tot.get("bytes_read", 0) / 1e6
    body = []
    for k in ("read", "dedup", "pack", "total"):
        if k in wall:
            body.append([f"wall: {k}", float(wall[k]), _rate(mb, wall[k]), _rate(tokens, wall[k])])
    ws = timings.get("worker_seconds") or {}
    for k in sorted(ws, key=lambda k: -ws[k]):
        body.append([f"worker: {k}", float(ws[k]), _rate(mb, ws[k]), _rate(tokens, ws[k])])
    parts.append('<p class="note">Wall seconds are the driver\'s phases; worker seconds are summed over workers, '
                 "so their rates are per core. Rates are input MB and output tokens per second.</p>")
    parts.append(_table("throughput", ["stage", "seconds", "MB/s", "tokens/s"], body))
    dd = timings.get("dedup") or {}
    if dd:
        parts.append(_table("dedup", ["dedup counter", "value"], [[k, v] for k, v in sorted(dd.items())]))

    # shards & quarantine
    shards = doc.get("shards", [])
    parts.append(f"<h2>Shards ({len(shards):,})</h2>")
    if len(shards) > MAX_SHARD_ROWS_LISTED:
        parts.append(f'<p class="note">First {MAX_SHARD_ROWS_LISTED:,} listed; build.json has them all.</p>')
    body = [[sh["path"], sh["source"], sh["rows"], sh["tokens"], sh.get("segments", 0), sh.get("bytes", 0), sh.get("sha256", "")]
            for sh in shards[:MAX_SHARD_ROWS_LISTED]]
    parts.append(_table("shards", ["path", "source", "rows", "tokens", "segments", "bytes", "sha256"], body, numeric_from=2))
    q = doc.get("quarantine", [])
    if q:
        parts.append("<h2>Quarantine files</h2>")
        body = [[e["path"], e["source"], ", ".join(f"{k}={v:,}" for k, v in e.get("counts", {}).items())] for e in q]
        parts.append(_table("quarantine", ["path", "source", "records"], body, numeric_from=9))

    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Build report: {_e(name)}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_report(out: str, doc: dict, timings: dict | None = None, max_rows: int = 200_000) -> str:
    """Write ``OUT/report/index.html`` for a build; returns its URI."""
    out = out.rstrip("/")
    try:
        sample = sample_shards(out, doc.get("shards", []), max_rows)
        page = render(doc, timings, sample)
    except Exception as e:  # a report problem must never fail a finished build: fall back to tables only
        log.warning("report: plots/histograms skipped (%s: %s)", type(e).__name__, e)
        empty = np.zeros(0, np.int64)
        page = render(doc, timings, {"row_lens": empty, "seg_lens": empty, "doc_lens": empty, "rows_sampled": 0,
                                     "rows_total": 0, "sampled": False}, plots=False)
    uri = fsio.join(out, "report", "index.html")
    fsio.write_bytes_atomic(uri, page.encode("utf-8"))
    return uri


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.report", description="(Re)write OUT/report/index.html for a finished build.")
    ap.add_argument("out", help="build output URI (holds build.json)")
    ap.add_argument("--max-rows", type=int, default=200_000, help="rows sampled from the shards for the histograms")
    a = ap.parse_args(argv)
    bj = fsio.join(a.out, "build.json")
    if not fsio.exists(bj):
        print(f"error: {bj} not found: not a build output", file=sys.stderr)
        return 2
    doc = fsio.read_json(bj)
    tj = fsio.join(a.out, "report", "timings.json")
    timings = fsio.read_json(tj) if fsio.exists(tj) else {}
    print(write_report(a.out, doc, timings, a.max_rows))
    return 0

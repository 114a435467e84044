"""The human build report: ``OUT/report/index.html``, one self-contained page.

Written by every build (``engine.run.build`` calls :func:`write_report` at the end) and
regenerated on demand with ``python -m engine.report OUT``.  The page has no external
resources (CSS inline, charts as inline SVG drawn by :mod:`engine.output.svgplot`),
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
import hashlib
import html
import logging
import sys
import time
from collections import Counter

import numpy as np

from engine.core import fsio
from engine.core.records import DROP_BUCKETS
from engine.output import findings
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
code{font-size:12px} .plots{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0} .plots svg{border:1px solid #d0d7de;max-width:100%;height:auto}
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
    doc_source: dict[str, str] = {}
    tokenizers: set[str] = set()
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
            tokenizers.add(reader.metadata.get("tokenizer_sha256", ""))
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
                    doc_source[d] = entry.source
                taken += b.num_rows
                rows_seen += b.num_rows
        except (OSError, KeyError, ValueError) as e:  # missing, unreadable or altered: the audit reports it
            print(f"report: cannot read {entry.path}: {type(e).__name__}", file=sys.stderr)
    by_source: dict[str, list[int]] = {}
    for d, n in doc_tokens.items():
        by_source.setdefault(doc_source[d], []).append(n)
    return {
        "doc_lens_by_source": {k: np.asarray(v, dtype=np.int64) for k, v in by_source.items()},
        "tokenizers": tokenizers - {""},
        "row_lens": np.concatenate(row_lens) if row_lens else np.zeros(0, np.int64),
        "seg_lens": np.concatenate(seg_lens) if seg_lens else np.zeros(0, np.int64),
        "doc_lens": np.fromiter(doc_tokens.values(), dtype=np.int64, count=len(doc_tokens)),
        "rows_sampled": rows_seen,
        "rows_total": total_rows,
        "sampled": rows_seen < total_rows,
    }


# ------------------------------------------------------------------------------------------------
# plots


def _plots(doc: dict, timings: dict, sample: dict) -> list[tuple[str, str]]:
    """(caption, inline SVG) per chart."""
    from engine.output import svgplot as S

    out: list[tuple[str, str]] = []
    names = list(doc["sources"])
    src = doc["sources"]
    title = "Documents in and out per source"
    out.append((title, S.bars(title, names, [("read", [src[n]["read"] for n in names], "#8c959f"),
                                             ("written", [src[n]["written"] for n in names], "#2da44e")], ylabel="documents")))
    colors = ["#0969da", "#8250df", "#cf222e", "#bf8700", "#57606a"]
    title = "Where dropped documents went"
    out.append((title, S.bars(title, names, [(b, [src[n].get(b, 0) for n in names], c) for b, c in zip(DROP_BUCKETS, colors)],
                              stacked=True, ylabel="documents dropped")))

    phi: Counter = Counter()
    for n in names:
        phi.update(src[n].get("phi_hits", {}))
    if phi:
        items = phi.most_common(15)
        out.append(("PHI hits by entity type", S.hbars("PHI hits by entity type (all sources)", [k for k, _ in items],
                                                          [v for _, v in items], "#cf222e", xlabel="hits")))

    L = int(doc["max_seq_len"])
    dl = sample["doc_lens"]
    title = "Document length per source" + (" (sample)" if sample["sampled"] else "")
    if len(dl):
        lo, hi = max(1, int(dl.min())), max(2, int(dl.max()))
        bins = np.unique(np.geomspace(lo, max(hi + 1, lo * 1.5), 40).astype(int))
        palette = ["#0969da", "#cf222e", "#8250df", "#bf8700", "#2da44e", "#57606a"]
        series = [(n, v, palette[i % len(palette)])
                  for i, (n, v) in enumerate(sorted((sample.get("doc_lens_by_source") or {"all sources": dl}).items()))]
        svg = S.histogram(title, series, bins, log_x=True, outline=True,
                          xlabel="document length (tokens, incl. [CLS]/[SEP])", ylabel="documents")
    else:
        svg = S.histogram(title, [], np.array([0, 1]), xlabel="document length (tokens)", ylabel="documents")
    out.append(("Document-length histogram per source", svg))

    rl = sample["row_lens"]
    out.append(("Tokens-per-row histogram", S.histogram(
        "Tokens per packed row" + (" (sample)" if sample["sampled"] else ""), [("rows", rl, "#2da44e")] if len(rl) else [],
        np.linspace(0, L, 41), xlabel=f"tokens per row (max_seq_len {L})", ylabel="rows", vline=L)))

    ws = {k: v for k, v in (timings.get("worker_seconds") or {}).items() if k not in ("total", "pack.total", "tokenize.total") and v > 0}
    ks = sorted(ws, key=lambda k: -ws[k])
    out.append(("Time per stage", S.hbars("Time per stage", ks, [ws[k] for k in ks], "#8250df",
                                          xlabel="worker seconds (summed over workers)")))
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
        f'tokenizer {_e(str(doc.get("tokenizer", {}).get("name", "")).replace(chr(92), "/").rsplit("/", 1)[-1])} (sha256 <code>{_e(str(doc.get("tokenizer", {}).get("sha256", ""))[:12])}</code>, '
        f'vocab {_n(doc.get("tokenizer", {}).get("vocab_size", 0))}) · max_seq_len {L} · '
        f'{"complete" if doc.get("complete") else "INCOMPLETE"} · report written {_e(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))}</div>'
    )
    warns = findings.warnings(doc, sample.get("tokenizers"), sample.get("out_tokenizer_sha256"))
    parts.append(f"<h2>Warnings ({len(warns)})</h2>")
    parts.append("<ul id=\"warnings\">" + "".join(f"<li>{_e(w)}</li>" for w in warns) + "</ul>" if warns
                 else '<p class="note" id="warnings">None: every source wrote documents, none lost more than half, '
                 "the shards match the build's tokenizer.</p>")
    kpis = [("documents read", _n(int(tot.get("read", 0)))), ("documents written", _n(int(tot.get("written", 0)))),
            ("tokens written", _n(tokens)), ("packed rows", _n(rows)), ("packing efficiency", f"{eff:.2%}"),
            ("shards", _n(len(doc.get("shards", []))))]
    if wall.get("total"):
        kpis.append(("wall time", f"{wall['total']:,.1f} s"))
    parts.append("<div>" + "".join(f'<span class="kpi"><b>{v}</b>{_e(k)}</span>' for k, v in kpis) + "</div>")

    # plots
    parts.append("<h2>Overview</h2><div class=\"plots\">")
    for title, svg in _plots(doc, timings, sample) if plots else []:
        parts.append(f'<figure>{svg}<figcaption class="note">{_e(title)}</figcaption></figure>')
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
    parts.append("<h2>Token mix</h2>")
    parts.append('<p class="note">Share of the written tokens per source, and the share a trainer sees when it streams '
                 "the build with the manifest's weights (a weight repeats a source's rows that many times per epoch).</p>")
    parts.append(_table("mix", ["source", "tokens", "share %", "weight", "share after weights %"], findings.mix_rows(doc)))

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
    for k in ("read", "dedup", "tokenize", "pack", "total"):
        if k in wall:
            body.append([f"wall: {k}", float(wall[k]), _rate(mb, wall[k]), _rate(tokens, wall[k])])
    ws = timings.get("worker_seconds") or {}
    setup = {k: v for k, v in ws.items() if k.startswith("setup.")}
    for k in sorted(ws, key=lambda k: -ws[k]):
        if k not in setup:
            body.append([f"worker: {k}", float(ws[k]), _rate(mb, ws[k]), _rate(tokens, ws[k])])
    if "start-up" in wall or setup:
        parts.append(f'<p class="note" id="startup">Start-up: {float(wall.get("start-up", 0.0)):,.2f} s in the driver before the '
                     "first unit (output checks, tokenizer, planning the inputs, starting the executor); "
                     f"worker set-up {sum(setup.values()):,.2f} s summed over workers"
                     + (" (" + ", ".join(f"{k[6:]} {v:,.2f} s" for k, v in sorted(setup.items(), key=lambda kv: -kv[1]) if v >= 0.005) + ")"
                        if setup else "")
                     + ", overlapping the driver's planning.</p>")
    parts.append('<p class="note">Wall seconds are the driver\'s phases; worker seconds are summed over workers, '
                 "so their rates are per core. Rates are input MB and output tokens per second.</p>")
    parts.append(_table("throughput", ["stage", "seconds", "MB/s", "tokens/s"], body))
    dd = timings.get("dedup") or {}
    if dd:
        parts.append(_table("dedup", ["dedup counter", "value"], findings.dedup_rows(dd)))

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
        tok_uri = fsio.join(out, "tokenizer.json")
        if fsio.exists(tok_uri):
            sample["out_tokenizer_sha256"] = hashlib.sha256(fsio.read_bytes(tok_uri)).hexdigest()
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

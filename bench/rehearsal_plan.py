"""The all20 build on a cluster, extrapolated from rehearsal measurements.

Inputs: the JSON of :mod:`bench.rehearsal_measure` runs: one ``all20:F`` case (worker seconds per
stage and staging bytes per byte of text, all 20 formats) and ``small:N`` cases at two unit counts
(storage requests per phase as ``a x units + b``).  Two rates the rehearsal cannot measure with
its small test tokenizer and with de-identification off are parameters, per core:
``--tokenize-mbs`` (a 50k-vocabulary byte-level BPE through ``tokenizers``; ``python -m
bench.tokenize_pack``) and ``--deid-kbs`` (the de-identification check on clinical text, used
when the all20 case ran without it; ``python -m bench.deid``).

    python -m bench.rehearsal_plan --all20 all20.json --small small.json --nodes 8 --cores 64
"""
from __future__ import annotations

import argparse
import json
import math
from collections import Counter

from bench.common import fmt_table
from bench.rehearsal import SHAPE

#: sources whose manifest policy is ``deid: verify`` / ``redact`` in manifests/all20.yaml
CLINICAL = {"mimic_iii_notes", "mimic_iv_discharge", "mimic_iv_radiology", "mimic_cxr_reports", "chexpert_plus",
            "n2c2_2018_ade", "n2c2_2014_deid", "mednli", "mtsamples"}
#: work units per source with the connectors' grouping (files_per_unit, unit_bytes) and gzip = one unit
FILES_PER_UNIT = {"pmc_oa": 512, "mimic_cxr_reports": 2048, "clinical_trials": 4096, "medquad": 512, "codiesp": 512,
                  "n2c2_2018_ade": 512, "n2c2_2014_deid": 512}
UNIT_BYTES = 256 << 20


def all20_units() -> dict[str, int]:
    out = {}
    for s in SHAPE:
        if s.name in FILES_PER_UNIT:
            out[s.name] = max(1, math.ceil(s.files / FILES_PER_UNIT[s.name]), math.ceil(s.docs * s.doc_bytes / UNIT_BYTES))
        elif s.name in ("pubmed", "mimic_iii_notes", "mimic_iv_discharge", "mimic_iv_radiology"):
            out[s.name] = s.files  # gzipped: one unit per file
        else:
            out[s.name] = max(s.files, math.ceil(s.docs * s.doc_bytes / UNIT_BYTES))
    return out


def text_bytes(shape_docs: dict) -> dict[str, float]:
    return {n: v["docs"] * v["doc_bytes"] for n, v in shape_docs.items()}


def plan(all20: dict, smalls: list[dict], nodes: int, cores: int, tokenize_mbs: float, deid_kbs: float,
         node_hour_usd: float) -> str:
    full = {s.name: s.docs * s.doc_bytes for s in SHAPE}
    full_total = sum(full.values())
    rehearsed = sum(text_bytes(all20["inputs"]).values())
    scale = full_total / rehearsed
    clinical_rehearsed = sum(v for n, v in text_bytes(all20["inputs"]).items() if n in CLINICAL) or 1.0
    ws = Counter(all20["worker_seconds"])
    # workers time their stages by the clock: on a loaded machine that is more than the CPU they got;
    # scale them to the CPU the phases' processes really used
    ph = all20["build"]["phases"]
    cpu = sum(ph.get(p, {}).get("all_cpu", 0.0) for p in ("read", "tokenize", "pack"))
    clock = ws["total"] + ws["tokenize.total"] + ws["pack.total"]
    ratio = min(1.0, cpu / clock) if cpu and clock else 1.0
    ws = Counter({k: v * ratio for k, v in ws.items()})
    read_other = max(0.0, ws["total"] - sum(v for k, v in ws.items() if "." not in k and k != "total"))
    stages = {
        "read (parse, stage)": read_other * scale,
        "normalize + filters": (ws["normalize"] + ws["filter"]) * scale,
        "near-dup map (MinHash)": ws["near_map"] * scale,
        "de-id check (clinical)": (ws["deid"] * sum(full[n] for n in CLINICAL) / clinical_rehearsed if ws.get("deid")
                                   else sum(full[n] for n in CLINICAL) / (deid_kbs * 1e3)),
        "tokenize (50k BPE)": full_total / (tokenize_mbs * 1e6),
        "tokenize I/O + windows": max(0.0, ws["tokenize.total"] - ws["tokenize.tokenize"]) * scale,
        "pack + shard writes": ws["pack.total"] * scale,
    }
    dedup_wall = all20["build"]["phases"].get("dedup", {}).get("all_cpu", 0.0) * scale
    stages["dedup reducers (exact, near)"] = dedup_wall
    total_cs = sum(stages.values())
    C = nodes * cores
    rows = [[k, v / 3600, 100 * v / total_cs] for k, v in stages.items()]
    rows.append(["total", total_cs / 3600, 100.0])
    out = [f"all20: {full_total / 1e9:,.0f} GB of text (rehearsed {rehearsed / 1e6:,.1f} MB, x{scale:,.0f}; "
           f"worker clock seconds x {ratio:.2f} = CPU seconds)",
           fmt_table(rows, ["stage", "core-hours", "%"])]

    units = all20_units()
    U = sum(units.values())
    longest = max(((n, full[n] / units[n]) for n in full), key=lambda x: x[1])
    deid_bps = (clinical_rehearsed / ws["deid"]) if ws.get("deid") else deid_kbs * 1e3
    per_unit_s = {n: full[n] / units[n] * (1 / (tokenize_mbs * 1e6) + (1 / deid_bps if n in CLINICAL else 0.0)) for n in full}
    pole = max(per_unit_s.items(), key=lambda x: x[1])
    wall = max(total_cs / C, pole[1])
    out.append(f"units: {U:,} ({', '.join(f'{n} {u:,}' for n, u in sorted(units.items(), key=lambda x: -x[1])[:5])}, ...)")
    out.append(f"largest unit: {longest[0]} {longest[1] / 1e9:,.1f} GB; slowest unit: {pole[0]} ~{pole[1] / 3600:,.1f} h on one core")
    out.append(f"on {nodes} x {cores} cores: {total_cs / C / 3600:,.2f} h if perfectly spread; critical path "
               f"{pole[1] / 3600:,.1f} h ({pole[0]}) -> wall ~{wall / 3600:,.1f} h, "
               f"{nodes} nodes x {wall / 3600:,.1f} h x ${node_hour_usd:.2f} = ${nodes * wall / 3600 * node_hour_usd:,.0f}")

    if len(smalls) >= 2:
        smalls = sorted(smalls, key=lambda r: r["units"])
        lo, hi = smalls[0], smalls[-1]
        rows = []
        tot = Counter()
        for ph in ("plan", "start", "read", "dedup", "tokenize", "pack", "finish"):
            a_lo, a_hi = sum(lo["requests"].get(ph, {}).values()), sum(hi["requests"].get(ph, {}).values())
            slope = max(0.0, (a_hi - a_lo) / max(1, hi["units"] - lo["units"]))
            base = a_lo - slope * lo["units"]
            est = slope * U + max(0.0, base)
            for k in ("LIST", "HEAD", "GET", "PUT", "COPY", "DELETE", "POST"):
                k_lo, k_hi = lo["requests"].get(ph, {}).get(k, 0), hi["requests"].get(ph, {}).get(k, 0)
                tot[k] += max(0.0, (k_hi - k_lo) / max(1, hi["units"] - lo["units"])) * U
            rows.append([ph, slope, base, est])
        out.append(fmt_table(rows, ["phase", "requests/unit", "fixed", f"all20 ({U:,} units)"]))
        usd = (tot["PUT"] + tot["COPY"] + tot["LIST"] + tot["POST"]) / 1e3 * 0.005 + (tot["GET"] + tot["HEAD"]) / 1e3 * 0.0004
        out.append("requests by kind: " + ", ".join(f"{k} {v:,.0f}" for k, v in tot.items() if v) + f"  (~${usd:,.2f} at S3 list prices)")
    st = all20["build"].get("staging_bytes", {})
    if st:
        rows = [[k, v * scale / 1e9] for k, v in sorted(st.items())]
        rows.append(["total", sum(st.values()) * scale / 1e9])
        out.append(fmt_table(rows, ["staging folder", "all20 GB"]))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rehearsal_plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--all20", required=True, help="rehearsal_measure JSON holding an all20:F case")
    ap.add_argument("--small", action="append", default=[], help="rehearsal_measure JSON(s) with small:N cases on s3")
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--cores", type=int, default=64)
    ap.add_argument("--tokenize-mbs", type=float, default=2.5, help="tokenizer MB/s per core")
    ap.add_argument("--deid-kbs", type=float, default=80.0, help="de-identification check kB/s per core")
    ap.add_argument("--node-hour-usd", type=float, default=2.86, help="price of one 64-core node hour")
    a = ap.parse_args(argv)
    all20 = next(r for r in json.load(open(a.all20)) if r["case"].startswith("all20"))
    smalls = [r for f in a.small for r in json.load(open(f)) if r["case"].startswith("small") and r.get("requests")]
    print(plan(all20, smalls, a.nodes, a.cores, a.tokenize_mbs, a.deid_kbs, a.node_hour_usd))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The whole hostile corpus through one build: every source's ledger holds the invariant and the
counts its input really holds, the audit passes, nothing hangs, and no planted content reaches the
console, the reasons, build.json or the report."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.corpus import SECRET, make_corpus, write_hostile_manifest

ROOT = Path(__file__).resolve().parent.parent
BUCKETS = ("written", "exact_dup", "near_dup", "deid_rejected", "filtered", "quarantined")


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_build")
    cases = make_corpus(root / "in")
    out = root / "out"
    mp = write_hostile_manifest(root / "m.yaml", cases, output=str(out), dedup={"exact": True, "near": {"threshold": 0.8}})
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    r = subprocess.run([sys.executable, "-m", "engine.build", "--manifest", str(mp), "--executor", "local"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    return cases, out, r


@pytest.mark.timeout(1200)
def test_hostile_build_counts(hostile_build):
    cases, out, r = hostile_build
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((out / "build.json").read_text())
    failures = []
    for c in cases:
        s = doc["sources"][c.name]
        if s["read"] != sum(s[b] for b in BUCKETS):
            failures.append(f"{c.name}: invariant broken {s}")
        for k, v in c.expect.items():
            if k == "read_min":
                if s["read"] < v:
                    failures.append(f"{c.name}: read {s['read']} < {v}")
            elif s[k] != v:
                failures.append(f"{c.name}: {k} {s[k]} != {v}")
        for b in BUCKETS:
            if b not in c.expect and b != "written" and s[b] and "read_min" not in c.expect:
                failures.append(f"{c.name}: unexpected {b}={s[b]}")
    assert not failures, "\n".join(failures)


def test_hostile_build_audit_and_no_planted_content(hostile_build):
    cases, out, r = hostile_build
    assert r.returncode == 0, r.stderr[-3000:]
    a = subprocess.run([sys.executable, "-m", "engine.audit", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert a.returncode == 0, a.stdout[-2000:] + a.stderr[-2000:]
    texts = [r.stdout, r.stderr, (out / "build.json").read_text()]
    texts += [p.read_text(errors="replace") for p in (out / "report").rglob("*") if p.is_file() and p.suffix in (".txt", ".html", ".json")]
    for t in texts:
        assert SECRET not in t and "Qqqplover" not in t

"""Hostile inputs at the reader: every record present is read once, one bad record is one
quarantine record, its neighbours are read, and nothing hangs or echoes planted content."""
from __future__ import annotations

import collections
import re

import pytest

from connectors import registry
from engine.core.manifest import load_manifest
from tests.conftest import write_manifest
from tests.hostile.corpus import SECRET, make_corpus, write_hostile_manifest

@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cases = make_corpus(root / "in")
    m, _ = load_manifest(write_hostile_manifest(root / "m.yaml", cases))
    return [(c, registry.get(sc.connector)(sc, m)) for c, sc in zip(cases, m.sources)]


def read_all(conn):
    counts, ids, reasons = collections.Counter(), collections.Counter(), []
    for unit in conn.discover():
        for r in conn.records(unit):
            kind = type(r).__name__
            counts["read"] += 1
            if kind == "Drop":
                counts[r.bucket] += 1
                reasons.append(r.reason)
            elif kind == "Doc":
                counts["docs"] += 1
            ids[r.doc_id] += 1
    return counts, ids, reasons


def test_corpus_has_many_kinds(cases):
    assert len(cases) >= 55


@pytest.mark.timeout(120)
def test_every_case_reads_what_its_input_holds(cases):
    failures = []
    for case, conn in cases:
        counts, ids, reasons = read_all(conn)
        exp = case.expect
        if "read_min" in exp:
            ok = counts["read"] >= exp["read_min"] and counts["quarantined"] == exp["quarantined"]
        else:
            # documents the reader hands on = written + what later stages drop (empty texts are filtered there)
            ok = counts["read"] == exp["read"] and counts["quarantined"] == exp.get("quarantined", 0)
        if not ok:
            failures.append(f"{case.name}: got {dict(counts)} expected {exp}")
        for r in [*reasons, *ids]:
            assert SECRET not in r and not re.search(r"Zyxwvut|Qqqplover", r), case.name
    assert not failures, "\n".join(failures)


def test_record_ids_are_unique_across_files(cases):
    for case, conn in cases:
        if case.name in ("jl_same_ids", "jl_byte_copy", "jl_listed_twice"):
            _, ids, _ = read_all(conn)
            assert max(ids.values()) == 1, (case.name, ids)


def test_a_file_listed_twice_is_one_unit(cases):
    conn = dict((c.name, conn) for c, conn in cases)["jl_listed_twice"]
    assert len(conn.discover()) == 1


def test_output_inside_an_input_folder_is_not_read(tmp_path):
    tree = tmp_path / "notes"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "n1.txt").write_text("a first harmless note about a routine visit " * 3)
    out = tree / "out"
    (out / "shards").mkdir(parents=True)
    (out / "_lock.json").write_text('{"pid": 1}')
    (out / "shards" / "x.txt").write_text("a file the build wrote itself")
    mp = write_manifest(tmp_path / "m.yaml", [{"name": "t", "connector": "text_files", "uri": str(tree),
                                                "options": {"pattern": "*"}}], output=str(out))
    m, _ = load_manifest(mp)
    conn = registry.get("text_files")(m.sources[0], m)
    counts, ids, _ = read_all(conn)
    assert counts["read"] == 1 and list(ids) == ["t:a/n1.txt"]

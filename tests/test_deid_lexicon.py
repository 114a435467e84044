"""The de-id word tables: derived sets cached by hash, rebuilt when a table changes."""
from __future__ import annotations

import os
import shutil

import pytest

from engine.deid import lexicon as L


@pytest.fixture()
def tables_dir(tmp_path, monkeypatch):
    """A private copy of the shipped tables and an empty cache folder."""
    data = tmp_path / "data"
    shutil.copytree(L.DATA, data)
    monkeypatch.setattr(L, "DATA", str(data))
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(tmp_path / "cache"))
    parsed = []
    real = L._table

    def counting(name, data=None):
        parsed.append(name)
        return real(name, data)

    monkeypatch.setattr(L, "_table", counting)
    return data, parsed


def test_cache_built_once_then_reused(tables_dir):
    _, parsed = tables_dir
    built = L.load_tables()
    assert len(parsed) == len(L.TABLE_FILES)
    path = L.cache_path()
    assert os.path.isfile(path) and path.startswith(os.environ["ENGINE_CACHE_DIR"])
    parsed.clear()
    cached = L.load_tables()
    assert parsed == []  # nothing parsed: the sets came from the cache
    assert cached.as_dict() == built.as_dict()
    assert cached.as_dict() == L.load_tables(use_cache=False).as_dict()


def test_changed_table_rebuilds_the_cache(tables_dir):
    data, parsed = tables_dir
    L.load_tables()
    before = L.cache_path()
    with open(data / "clinical_terms.txt", "a") as f:
        f.write("\nzorblaxine\n")
    after = L.cache_path()
    assert after != before
    parsed.clear()
    t = L.load_tables()
    assert "clinical_terms.txt" in parsed and "zorblaxine" in t.clinical and "zorblaxine" in t.safe_words
    assert os.path.isfile(after)


def test_corrupt_or_unwritable_cache_still_loads(tables_dir, tmp_path, monkeypatch):
    L.load_tables()
    with open(L.cache_path(), "wb") as f:
        f.write(b"not a cache")
    t = L.load_tables()  # rebuilt from the tables, and the cache rewritten
    assert "smith" in t.surnames
    assert L._load_cached(L.cache_path()) is not None
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(blocker / "cache"))
    assert "smith" in L.load_tables().surnames  # nowhere to write: the sets stay in memory


def test_states_are_no_place_or_name_words():
    t = L.load_tables()
    for w in ("florida", "maryland", "texas", "hampshire"):
        assert w not in t.place_words and w not in t.names, w
    assert "pikesville" in t.place_words or "parkville" in t.place_words

"""Manifest mistakes a user makes: connector options typed per connector, every unset ${VAR} at once;
each is one error naming the source and what is wrong, before any work."""
from __future__ import annotations

import inspect
import os
import shutil
import re
import subprocess
import sys

import pytest

from connectors import registry
from connectors.options import NoOptions
from engine.core.manifest import ManifestError, load_manifest
from tests.conftest import ROOT, write_manifest

DEMO = ROOT / "demo" / "data"


def _sources(**opts):
    return [
        {"name": "pubmed", "connector": "jsonl", "uri": str(DEMO / "pubmed_abstracts.jsonl"), "options": opts.get("pubmed", {})},
        {"name": "notes", "connector": "mimic_iii_notes", "uri": str(DEMO / "mimic_notes.csv.gz"), "options": opts.get("notes", {})},
    ]


def test_every_option_a_connector_reads_is_declared():
    used = re.compile(r"""options\.get\(\s*["'](\w+)["']|_opt_list\(\s*["'](\w+)["']""")
    for name, cls in registry.available().items():
        assert issubclass(cls.Options, NoOptions), name
        assert set(getattr(cls, "defaults", {})) <= set(cls.Options.model_fields), name
        for klass in cls.__mro__:
            if klass.__module__.startswith("connectors") and "Options" in vars(klass) or klass is cls:
                read = {a or b for a, b in used.findall(inspect.getsource(klass))}
                missing = read - set(klass.Options.model_fields)
                assert not missing, f"{klass.__name__} reads undeclared options {sorted(missing)}"


def test_known_options_load(tmp_path):
    mp = write_manifest(tmp_path / "m.yaml", _sources(pubmed={"text_field": "abstract", "id_field": "pmid", "meta_fields": ["title"]},
                                                      notes={"delimiter": ",", "drop_if": {"iserror": "1"}}))
    m, _ = load_manifest(mp)
    assert m.source("pubmed").options["text_field"] == "abstract"


def test_misspelt_and_mistyped_options_are_one_error(tmp_path):
    mp = write_manifest(tmp_path / "m.yaml", _sources(pubmed={"text_fieldd": "abstract"}, notes={"files_per_unit": "many"}))
    with pytest.raises(ManifestError) as e:
        load_manifest(mp)
    msg = str(e.value)
    assert "\n" not in msg
    assert "sources[0](pubmed).options: unknown option 'text_fieldd' for connector jsonl (known: text_field, id_field, meta_fields)" in msg
    assert "sources[1](notes).options: unknown option 'files_per_unit' for connector mimic_iii_notes" in msg


def test_check_exits_2_naming_source_and_option(tmp_path):
    out = tmp_path / "out"
    mp = write_manifest(tmp_path / "m.yaml", _sources(pubmed={"text_fieldd": "abstract"}), output=str(out))
    r = subprocess.run([sys.executable, "-m", "engine.build", "--manifest", str(mp), "--check"], capture_output=True,
                       text=True, cwd=ROOT, env=dict(os.environ, RAY_AUTH_MODE="disabled"), timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "pubmed" in errors[0] and "text_fieldd" in errors[0], r.stderr
    assert not out.exists()


def test_every_unset_variable_in_one_error(tmp_path, monkeypatch):
    for v in ("UX_OUT", "UX_A", "UX_B", "RAY_JOB_ID", "RAY_ADDRESS"):
        monkeypatch.delenv(v, raising=False)
    srcs = [{"name": "a", "connector": "jsonl", "uri": "${UX_A}/a.jsonl"},
            {"name": "b", "connector": "jsonl", "uri": ["${UX_B}/b.jsonl", "$UX_A/c.jsonl"]}]
    mp = write_manifest(tmp_path / "m.yaml", srcs, output="${UX_OUT}/corpus")
    with pytest.raises(ManifestError) as e:
        load_manifest(mp)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.endswith("environment variables not set: ${UX_OUT} (output), ${UX_A} (a, b), ${UX_B} (b)")
    monkeypatch.setenv("RAY_JOB_ID", "02000000")
    monkeypatch.setenv("UX_OUT", str(tmp_path))
    with pytest.raises(ManifestError, match=r"""--runtime-env-json '\{"env_vars": \{"UX_A": "...", "UX_B": "..."\}\}'"""):
        load_manifest(mp)


def test_output_inside_a_ray_job_working_dir_is_refused(tmp_path, monkeypatch):
    from engine.core.manifest import output_location_error

    job = tmp_path / "session_1" / "runtime_resources" / "working_dir_files" / "_ray_pkg_0a1b"
    job.mkdir(parents=True)
    err = output_location_error(str(job / "out" / "demo"), "ray")
    assert err and "temporary copy of --working-dir" in err and '--output "$PWD/out/NAME"' in err
    monkeypatch.chdir(tmp_path)
    assert output_location_error(str(tmp_path / "out"), "ray") is None  # not a job
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}")  # what the job supervisor sets for the entrypoint
    assert output_location_error("out/demo", "ray") and output_location_error(str(tmp_path / "out"), "auto")
    assert output_location_error("/srv/corpus/out", "ray") is None and output_location_error("s3://b/out", "ray") is None


def test_memory_output_only_on_the_local_executor():
    from engine.core.manifest import output_location_error

    assert output_location_error("memory://out", "local") is None
    for executor in ("ray", "auto"):
        assert "memory://" in output_location_error("memory://out", executor)


def _cli(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "engine.build", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, RAY_AUTH_MODE="disabled", **(env or {})), timeout=300)


def test_check_lists_every_source_status(tmp_path):
    out = tmp_path / "out"
    srcs = [{"name": "ok", "connector": "jsonl", "uri": str(DEMO / "pubmed_abstracts.jsonl"), "options": {"text_field": "abstract"}},
            {"name": "gone", "connector": "jsonl", "uri": str(tmp_path / "nowhere" / "*.jsonl")},
            {"name": "later", "connector": "csv", "uri": "${UX_NOT_SET_ROOT}/notes.csv"}]
    mp = write_manifest(tmp_path / "m.yaml", srcs, output=str(out))
    env = {k: v for k, v in os.environ.items() if k != "UX_NOT_SET_ROOT"}
    r = subprocess.run([sys.executable, "-m", "engine.build", "--manifest", str(mp), "--check"], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    status = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.startswith("  ") and not ln.startswith("      ")}
    assert " ok " in status["ok"] and "options: text_field=abstract" in status["ok"]
    assert "no input" in status["gone"] and "unset variable ${UX_NOT_SET_ROOT}" in status["later"]
    assert "tokenizer" in r.stdout and "ok, vocab" in r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: 2 of 3 sources not ready")
    assert "gone: no input" in errors[0] and "later: unset variable ${UX_NOT_SET_ROOT}" in errors[0]
    assert not out.exists()


def test_memory_output_with_ray_refused_before_work(tmp_path):
    mp = write_manifest(tmp_path / "m.yaml", _sources())
    r = _cli("--manifest", str(mp), "--output", "memory://ux/out", "--executor", "ray")
    assert r.returncode == 2 and "memory://" in r.stderr and "--executor local" in r.stderr and "Traceback" not in r.stderr


def test_relative_output_in_a_ray_job_refused_before_work(tmp_path):
    job = tmp_path / "session_1" / "runtime_resources" / "working_dir_files" / "_ray_pkg_0a1b"
    shutil.copytree(ROOT / "manifests", job / "manifests")
    shutil.copytree(ROOT / "demo", job / "demo")
    r = _cli("--manifest", "manifests/demo.yaml", cwd=job, env={"RAY_JOB_CONFIG_JSON_ENV_VAR": "{}", "PYTHONPATH": str(ROOT)})
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and "temporary copy of --working-dir" in errors[0], r.stderr[-2000:]
    assert not (job / "out").exists()

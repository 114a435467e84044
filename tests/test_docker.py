"""docker/Dockerfile, docker/rayjob.yaml and .dockerignore parsed and checked (no Docker engine here),
and what ``ray job submit --working-dir .`` would upload."""
from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
RAYJOB = ROOT / "docker" / "rayjob.yaml"

#: data-root variables of the 20-source manifest (used when manifests/all20.yaml is not there yet)
ALL20_VARS = {"CORPUS_OUT", "PUBMED", "PMC_OA", "PHYSIONET", "CHEXPERT_PLUS", "N2C2", "CTGOV", "HF_DATASETS", "PUBLIC_DATA"}
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def instructions(text: str) -> list[tuple[str, str]]:
    """Minimal Dockerfile reader: comments dropped, ``\\`` continuations joined, (INSTRUCTION, args)."""
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        cur += (" " if cur else "") + s
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    assert not cur, "dangling line continuation at the end of the Dockerfile"
    return out


def ray_version() -> str:
    import ray

    return ray.__version__


@pytest.fixture(scope="module")
def dockerfile():
    return instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def rayjob():
    return yaml.safe_load(RAYJOB.read_text())


def test_dockerfile_syntax_and_base_image(dockerfile):
    for word, args in dockerfile:
        assert word in INSTRUCTIONS, f"unknown instruction {word}"
        assert args, f"{word} without arguments"
    args_before = {}
    for word, a in dockerfile:
        if word == "FROM":
            break
        assert word == "ARG", "only ARG may come before FROM"
        k, _, v = a.partition("=")
        args_before[k] = v
    froms = [a for w, a in dockerfile if w == "FROM"]
    assert len(froms) == 1
    image = re.sub(r"\$\{(\w+)\}", lambda m: args_before[m.group(1)], froms[0])
    repo, tag = image.split(":")
    assert repo == "rayproject/ray"
    assert tag.startswith(ray_version() + "-"), f"base image {image} does not match the Ray version {ray_version()} the engine is tested with"
    assert f"py{sys.version_info.major}{sys.version_info.minor}" in tag
    runs = " ".join(a for w, a in dockerfile if w == "RUN")
    assert '"ray[default]==${RAY_VERSION}"' in runs, "pip must keep Ray at the image's version"
    assert "-e ." in runs and "s3fs" in runs
    assert ("ARG", "RAY_VERSION") in dockerfile[dockerfile.index(next(x for x in dockerfile if x[0] == "FROM")):], \
        "RAY_VERSION must be re-declared after FROM to be used in RUN"
    assert dockerfile[-1] == ("USER", "ray")


def test_dockerfile_copies_exist_and_are_not_dockerignored(dockerfile):
    ignore = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")]

    def ignored(rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat.lstrip("*/")) or rel.split("/")[0] == pat for pat in ignore)

    copies = [shlex.split(a) for w, a in dockerfile if w == "COPY"]
    assert copies
    for parts in copies:
        srcs = [p for p in parts[:-1] if not p.startswith("--")]
        for s in srcs:
            assert (ROOT / s).exists(), f"COPY {s}: not in the repository"
            assert not ignored(s), f"COPY {s}: excluded by .dockerignore"
    for must in (".git", ".venv", "venv", "out", "**/__pycache__"):
        assert must in ignore, f".dockerignore should exclude {must}"
    for pkg in ("engine", "connectors", "kernels", "manifests"):
        assert any(pkg in parts[:-1] for parts in copies), f"the image needs {pkg}/"


def test_dockerfile_parses_with_dockerfile_parse():
    dfp = pytest.importorskip("dockerfile_parse")
    p = dfp.DockerfileParser(fileobj=open(DOCKERFILE, "rb"), build_args={})
    assert p.baseimage.startswith("rayproject/ray:")
    assert [i["instruction"] for i in p.structure if i["instruction"] != "COMMENT"][0] == "ARG"
    assert p.envs["ENGINE_HOME"] == "/home/ray/engine"


def test_rayjob_manifest(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob"
    spec = rayjob["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:5] == ["python", "-m", "engine.build", "--manifest", "manifests/all20.yaml"]
    assert "--resume" in argv, "a resubmitted job must continue committed work"
    help_text = subprocess.run([sys.executable, "-m", "engine.build", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    for a in argv[3:]:
        if a.startswith("--"):
            assert a in help_text, f"entrypoint flag {a} unknown to engine.run.build"
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray_version()
    renv = yaml.safe_load(spec["runtimeEnvYAML"])
    assert all(isinstance(v, str) for v in renv["env_vars"].values()), "runtime env vars must be strings"
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    containers = [head["template"]["spec"]["containers"][0]] + [g["template"]["spec"]["containers"][0] for g in cluster["workerGroupSpecs"]]
    assert len({c["image"] for c in containers}) == 1, "head and workers run the same image"
    for g in cluster["workerGroupSpecs"]:
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
    head_env = {e["name"]: e.get("value") for e in containers[0]["env"]}
    all20 = ROOT / "manifests" / "all20.yaml"
    needed = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)\}?", all20.read_text())) if all20.exists() else ALL20_VARS
    missing = needed - set(head_env)
    assert not missing, f"data roots used by the manifest but not set on the head pod: {sorted(missing)}"
    for c in containers:
        names = {e["name"] for e in c.get("env", [])}
        assert not names & {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}, "credentials come from a Secret, not literals"
        assert any("secretRef" in s for s in c.get("envFrom", []))
        req, lim = c["resources"]["requests"], c["resources"]["limits"]
        assert req == lim


def test_working_dir_upload_is_source_only(tmp_path):
    """What `ray job submit --working-dir .` uploads (Ray's own packager, .gitignore honoured) stays small."""
    from ray._private.runtime_env.packaging import create_package

    for p in (".venv/x", "venv/x", "out/demo/x", "build-out/x", "tmp/x", "engine/__pycache__/x.pyc", ".pytest_cache/x"):
        r = subprocess.run(["git", "check-ignore", "-q", p], cwd=ROOT)
        assert r.returncode == 0, f"{p} is not ignored by .gitignore"
    zip_path = tmp_path / "wd.zip"
    create_package(str(ROOT), zip_path, include_gitignore=True)
    import zipfile

    names = zipfile.ZipFile(zip_path).namelist()
    size = zip_path.stat().st_size
    unzipped = sum(i.file_size for i in zipfile.ZipFile(zip_path).infolist())
    assert unzipped < 20 << 20, f"working dir upload would be {unzipped / 2**20:.1f} MiB (Ray refuses 100 MiB)"
    assert any(n.endswith("engine/build.py") for n in names)
    assert not any(re.search(r"(^|/)(\.?venv|out|_staging)/", n) for n in names)
    print(f"\nworking-dir upload: {len(names)} files, {unzipped / 2**20:.2f} MiB, zip {size / 2**20:.2f} MiB")

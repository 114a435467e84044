import pytest

from engine.core.manifest import ManifestError, load_manifest, resolve_manifest_path


def _src(**kw):
    d = {"name": "a", "connector": "jsonl", "uri": "data/*.jsonl"}
    d.update(kw)
    return d


def test_valid_manifest_resolves_relative_paths(manifest_writer, tmp_path):
    p = manifest_writer([_src()])
    m, path = load_manifest(p)
    assert m.sources[0].uri == str(tmp_path / "data" / "*.jsonl")
    assert m.max_seq_len == 256 and m.deid_policy(m.sources[0]) == "skip"


def test_bare_name_finds_manifests_folder():
    assert resolve_manifest_path("demo.yaml").name == "demo.yaml"
    assert resolve_manifest_path("demo").name == "demo.yaml"


@pytest.mark.parametrize(
    "sources,top,needle",
    [
        ([_src(conector="jsonl")], {}, "sources[0](a).conector: unknown field"),
        ([_src(priority="high")], {}, "sources[0](a).priority"),
        ([_src(connector="nope")], {}, "unknown connector 'nope'"),
        ([_src(), _src()], {}, "used twice"),
        ([_src(name="Bad Name")], {}, "sources[0](Bad Name).name"),
        ([_src(deid="maybe")], {}, "sources[0](a).deid"),
        ([_src()], {"max_seq_len": 2}, "max_seq_len"),
        ([_src()], {"dedup": {"near": {"threshold": 1.5}}}, "dedup.near.threshold"),
        ([], {}, "sources"),
    ],
)
def test_bad_manifest_names_the_field(manifest_writer, sources, top, needle):
    p = manifest_writer(sources, **top)
    with pytest.raises(ManifestError) as e:
        load_manifest(p)
    assert needle in str(e.value)
    assert "\n" not in str(e.value).split(":", 1)[0]  # starts with one clear line naming the file


def test_unset_variable_names_source(manifest_writer, monkeypatch):
    monkeypatch.delenv("NO_SUCH_ROOT", raising=False)
    p = manifest_writer([_src(uri="${NO_SUCH_ROOT}/x.jsonl")])
    with pytest.raises(ManifestError, match=r"environment variable not set: \$\{NO_SUCH_ROOT\} \(a\)"):
        load_manifest(p)


def test_variable_expansion(manifest_writer, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_ROOT", "/data/root")
    p = manifest_writer([_src(uri="${DATA_ROOT}/x.jsonl")])
    m, _ = load_manifest(p)
    assert m.sources[0].uri == "/data/root/x.jsonl"


def test_invalid_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nsources: [\n")
    with pytest.raises(ManifestError, match="not valid YAML at line"):
        load_manifest(p)


def test_missing_manifest():
    with pytest.raises(ManifestError, match="not found"):
        load_manifest("no-such-manifest.yaml")


def test_fingerprint_ignores_output_and_workers(manifest_writer):
    a, _ = load_manifest(manifest_writer([_src()], name="a.yaml"))
    b, _ = load_manifest(manifest_writer([_src()], name="b.yaml", output="/elsewhere",
                                         resources={"batch_docs": 64, "dedup_partitions": 3, "pack_buffer": 64, "workers": 1}))
    assert a.fingerprint() == b.fingerprint()
    c, _ = load_manifest(manifest_writer([_src(priority=3)], name="c.yaml"))
    assert c.fingerprint() != a.fingerprint()

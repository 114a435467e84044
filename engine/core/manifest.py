"""The build manifest: a YAML file validated with pydantic before any work starts.

Relative paths (``uri``, ``tokenizer``, ``output``) are resolved against the folder
that holds the manifest, so a build behaves the same from any working directory
(and under ``ray job submit --working-dir .``).  ``${VAR}`` and ``$VAR`` are expanded
from the environment; an unset variable is an error that names the field.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.core import fsio

DeidPolicy = Literal["verify", "redact", "skip"]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


class ManifestError(ValueError):
    """A manifest that cannot be built: the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NearDedupConfig(_Model):
    enabled: bool = True
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    num_perm: int = Field(128, ge=16, le=1024)
    ngram: int = Field(5, ge=1, le=32)
    #: LSH bands x rows; when unset they are chosen from the threshold
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    seed: int = 1
    #: check candidate pairs by the signatures' estimated Jaccard before dropping
    verify: bool = True


class DedupConfig(_Model):
    exact: bool = True
    near: NearDedupConfig | None = None


class DeidConfig(_Model):
    default: DeidPolicy = "verify"
    #: verify: a document with more hits than this is rejected to quarantine
    reject_threshold: int = Field(0, ge=0)
    #: minimum recognizer score counted as a hit
    score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    #: spaCy pipeline: an installed package name (e.g. en_core_web_lg) or a path; None = offline blank pipeline
    nlp_model: str | None = None
    #: entity types to check (None = all the engine knows: see engine.deid.patterns.ENTITIES)
    entities: list[str] | None = None
    #: pre-screen before presidio: "doc" (documents with no candidate skip presidio) or "off"
    prescreen: Literal["doc", "off"] = "doc"
    #: entity types taken from the spaCy NER when ``nlp_model`` has one (spaCy DATE/GPE are mostly not PHI in notes)
    ner_entities: list[str] = Field(default_factory=lambda: ["PERSON"])
    #: where the text of ``deid_rejected`` documents goes (outside ``output``); None = nowhere
    #: (the quarantine under OUT keeps ids, location, PHI types and offsets only)
    rejected_text_uri: str | None = None

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, v: list[str] | None) -> list[str] | None:
        from engine.deid.patterns import ENTITIES  # plain regexes: cheap

        bad = [e for e in v or () if e not in ENTITIES]
        if bad:
            raise ValueError(f"unknown entity types {bad}; known: {', '.join(ENTITIES)}")
        return v


class NormalizeConfig(_Model):
    unicode_form: Literal["NFC", "NFKC", "none"] = "NFC"
    #: source placeholders ([** **], ___): keep as is, or replace each with ``placeholder_token``
    placeholder: Literal["keep", "replace"] = "keep"
    placeholder_token: str = "[PHI]"


class FilterConfig(_Model):
    min_chars: int = Field(1, ge=0)
    #: documents whose share of letters is below this are "not text"
    min_alpha_ratio: float = Field(0.25, ge=0.0, le=1.0)
    #: larger documents are quarantined by the reader instead of being held in memory
    max_doc_chars: int = Field(20_000_000, ge=1)


class ShardConfig(_Model):
    #: a shard is closed once it holds this many tokens
    target_tokens: int = Field(32 * 1024 * 1024, ge=1)
    #: rows per Arrow record batch inside a shard
    batch_rows: int = Field(128, ge=1)


class ResourceConfig(_Model):
    #: where the work runs: local (this machine, no Ray), ray, or auto (Ray when RAY_ADDRESS is set or the input is large)
    executor: Literal["auto", "local", "ray"] = "auto"
    #: worker actors (None = the cluster's CPU count)
    workers: int | None = Field(None, ge=1)
    #: CPUs each worker reserves (default: the largest need of the stages; fractional keeps small machines from deadlocking)
    cpus_per_worker: float | None = Field(None, gt=0.0)
    #: documents per batch through the stages
    batch_docs: int = Field(512, ge=1)
    #: hash partitions of the global dedup shuffle (memory per reducer ~ corpus hashes / partitions)
    dedup_partitions: int = Field(16, ge=1, le=4096)
    #: input bytes per pack group (one packing task); units of a source are grouped in order
    pack_group_bytes: int = Field(512 * 1024 * 1024, ge=1)
    #: documents (windows) held by the best-fit packer before it closes rows
    pack_buffer: int = Field(4096, ge=1)
    #: byte size above which splittable files (jsonl, text) are cut into ranges
    unit_bytes: int = Field(256 * 1024 * 1024, ge=1024)


class SourceConfig(_Model):
    name: str
    connector: str
    uri: str | list[str]
    deid: DeidPolicy | None = None
    priority: int = 0
    weight: float = Field(1.0, ge=0.0)
    #: near-dup scope: across all sources, or within this source only
    scope: Literal["global", "source"] = "global"
    placeholder: Literal["keep", "replace"] | None = None
    min_chars: int | None = Field(None, ge=0)
    language: str | None = None
    #: connector-specific options (e.g. text column, member pattern)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be lower-case letters, digits, '_' or '-' (it names folders and shards)")
        return v

    @property
    def uris(self) -> list[str]:
        return [self.uri] if isinstance(self.uri, str) else list(self.uri)


class Manifest(_Model):
    name: str
    output: str
    tokenizer: str
    tokenizer_backend: Literal["auto", "hf", "fastokens"] = "auto"  # engine.tokenizer.backends; same ids either way
    max_seq_len: int = Field(8192, ge=8, le=1 << 20)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    deid: DeidConfig = Field(default_factory=DeidConfig)
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    shards: ShardConfig = Field(default_factory=ShardConfig)
    resources: ResourceConfig = Field(default_factory=ResourceConfig)
    #: per-document stages in order (names from engine.stages.registry; default normalize, deid, filters)
    stages: list[str] | None = None
    sources: list[SourceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "Manifest":
        seen: set[str] = set()
        for s in self.sources:
            if s.name in seen:
                raise ValueError(f"source name {s.name!r} is used twice")
            seen.add(s.name)
        rej = self.deid.rejected_text_uri
        if rej:
            out, r = self.output.rstrip("/"), rej.rstrip("/")
            if r == out or r.startswith(out + "/") or out.startswith(r + "/"):
                raise ValueError(f"deid.rejected_text_uri {rej!r} must be outside output {self.output!r} (it holds note text)")
        return self

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def deid_policy(self, src: SourceConfig) -> str:
        return src.deid or self.deid.default

    def fingerprint(self) -> str:
        """Hash of everything that changes the shards (not the output location or resources)."""
        d = self.model_dump(mode="json")
        d.pop("output", None)
        d.get("deid", {}).pop("rejected_text_uri", None)
        d.pop("tokenizer_backend", None)  # every backend gives the same ids
        if d.get("stages") is None:  # the default stage list: same fingerprint as a manifest without the key
            d.pop("stages", None)
        res = d.pop("resources", {})
        # these resources change what lands where; workers/cpus do not
        d["_layout"] = {k: res[k] for k in ("pack_group_bytes", "pack_buffer", "unit_bytes", "batch_docs", "dedup_partitions")}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def resolve_manifest_path(arg: str) -> Path:
    """``--manifest`` value to a file: as given, else under ``manifests/`` (cwd, then the repository)."""
    p = Path(arg)
    candidates = [p]
    if not p.is_absolute():
        here = Path(__file__).resolve().parent.parent
        for base in (Path.cwd() / "manifests", here / "manifests"):
            candidates += [base / p, base / p.name]
            if not p.suffix:
                candidates += [base / f"{p.name}.yaml"]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise ManifestError(f"manifest {arg!r} not found (looked at {', '.join(str(c) for c in candidates[:4])})")


def _expand(value: str, where: str) -> str:
    def sub(m: re.Match) -> str:
        var = m.group(1) or m.group(2)
        if var not in os.environ:
            raise ManifestError(f"{where}: environment variable ${{{var}}} is not set")
        return os.environ[var]

    return _VAR.sub(sub, value)


def _resolve(value: str, base: Path, where: str) -> str:
    v = _expand(value, where)
    if not fsio.is_local(v) or os.path.isabs(v):
        return v
    return str((base / v).resolve()) if not v.startswith("~") else os.path.expanduser(v)


def _looks_like_path(tok: str) -> bool:
    return tok.endswith(".json") or tok.startswith((".", "/", "~", "$")) or "://" in tok


def _format_error(e: ValidationError, path: Path, raw: dict) -> str:
    lines = [f"invalid manifest {path}:"]
    for err in e.errors():
        loc = list(err["loc"])
        pretty = []
        node: Any = raw
        for part in loc:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                node = node[part]
                name = node.get("name") if isinstance(node, dict) else None
                pretty.append(f"[{part}]" + (f"({name})" if name else ""))
            else:
                node = node.get(part) if isinstance(node, dict) else None
                pretty.append(("." if pretty else "") + str(part))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        lines.append(f"  {''.join(pretty)}: {msg}")
    return "\n".join(lines)


def load_manifest(arg: str | Path, output: str | None = None) -> tuple[Manifest, Path]:
    """Read, expand and validate a manifest; ``ManifestError`` with one clear message otherwise."""
    path = resolve_manifest_path(str(arg))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ManifestError(f"manifest {path} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest {path}: expected a mapping at the top level")
    base = path.parent
    raw = json.loads(json.dumps(raw))  # deep copy of plain data
    try:
        if output is not None:
            raw["output"] = output
        if isinstance(raw.get("output"), str):
            raw["output"] = _resolve(raw["output"], base, "output")
        deid = raw.get("deid")
        if isinstance(deid, dict) and isinstance(deid.get("rejected_text_uri"), str):
            deid["rejected_text_uri"] = _resolve(deid["rejected_text_uri"], base, "deid.rejected_text_uri")
        if isinstance(raw.get("tokenizer"), str) and _looks_like_path(raw["tokenizer"]):
            raw["tokenizer"] = _resolve(raw["tokenizer"], base, "tokenizer")
        for i, s in enumerate(raw.get("sources") or []):
            if not isinstance(s, dict):
                continue
            where = f"sources[{i}]({s.get('name', '?')}).uri"
            if isinstance(s.get("uri"), str):
                s["uri"] = _resolve(s["uri"], base, where)
            elif isinstance(s.get("uri"), list):
                s["uri"] = [_resolve(u, base, where) for u in s["uri"] if isinstance(u, str)]
    except ManifestError as e:
        raise ManifestError(f"invalid manifest {path}: {e}") from None
    try:
        m = Manifest.model_validate(raw)
    except ValidationError as e:
        raise ManifestError(_format_error(e, path, raw)) from None
    from connectors import registry

    for i, s in enumerate(m.sources):
        if s.connector not in registry.available():
            raise ManifestError(
                f"invalid manifest {path}:\n  sources[{i}]({s.name}).connector: unknown connector {s.connector!r}; "
                f"known: {', '.join(sorted(registry.available()))}"
            )
    return m, path

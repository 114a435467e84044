"""Where everything of one build lives: the output folder and its ``_staging`` area (all fsspec URIs)."""
from __future__ import annotations

from dataclasses import dataclass

from engine.core import fsio


@dataclass(frozen=True)
class Layout:
    """Paths of one build under the output folder ``out``."""

    out: str

    @property
    def staging(self) -> str:
        return fsio.join(self.out, "_staging")

    def fingerprint(self) -> str:
        return fsio.join(self.staging, "fingerprint.json")

    def ledger(self) -> str:
        return fsio.join(self.out, "build.json")

    def docs(self, source: str, unit_id: str) -> str:
        return fsio.join(self.staging, "docs", source, f"{unit_id}.arrow")

    def keys(self, unit_id: str) -> str:
        return fsio.join(self.staging, "keys", f"{unit_id}.arrow")

    def near(self, unit_id: str) -> str:
        return fsio.join(self.staging, "near", f"{unit_id}.arrow")

    def unit_markers(self) -> str:
        return fsio.join(self.staging, "units")

    def unit_marker(self, unit_id: str) -> str:
        return fsio.join(self.staging, "units", f"{unit_id}.json")

    def drops_folder(self) -> str:
        return fsio.join(self.staging, "drops")

    def drops(self, kind: str, part: int) -> str:
        return fsio.join(self.staging, "drops", f"{kind}-{part:05d}.parquet")

    def drops_prefix(self, kind: str) -> str:
        return fsio.join(self.staging, "drops", kind)

    def tokens_folder(self) -> str:
        return fsio.join(self.staging, "tokens")

    def tokens(self, unit_id: str) -> str:
        return fsio.join(self.staging, "tokens", f"{unit_id}.arrow")

    def tokens_marker(self, unit_id: str) -> str:
        return fsio.join(self.staging, "tokens", f"{unit_id}.json")

    def group_marker(self, source: str, group: int) -> str:
        return fsio.join(self.staging, "groups", source, f"{group:05d}.json")

    def temp_shard(self, source: str, group: int, k: int) -> str:
        return fsio.join(self.staging, "pack", source, f"{group:05d}-{k:05d}.arrow")

    def shard(self, source: str, n: int) -> str:
        return fsio.join(self.out, "shards", source, f"{source}-{n:05d}.arrow")

    def quarantine(self, source: str, name: str) -> str:
        return fsio.join(self.out, "quarantine", source, f"{name}.parquet")

    def report(self, name: str) -> str:
        return fsio.join(self.out, "report", name)

    def rel(self, uri: str) -> str:
        return fsio.relpath(self.out, uri)

"""Mixins shared by source connectors that sit on the generic readers (CSV, JSONL, Parquet, text files)."""
from __future__ import annotations

from typing import ClassVar


class FixedOptions:
    """Source connectors fix the generic reader's options (text column, id column, meta);
    the manifest's ``options:`` may still override a key (e.g. a renamed column)."""

    defaults: ClassVar[dict] = {}

    def __init__(self, source, manifest=None):
        super().__init__(source, manifest)  # type: ignore[call-arg]
        self.options = {**self.defaults, **self.options}


class FileScopedIds:
    """Record ids that are only unique inside one file (aci-bench ``encounter_id``, MTS-Dialog
    ``ID``) are prefixed with the file stem: ``<source>:<file stem>/<id>``; rows without an id
    get ``<file stem>/row<N>``."""

    @property
    def id_field(self) -> str:
        return "__scoped_id"

    def docs_from_record(self, rec: dict, fallback_id: str, location: str, path: str | None = None) -> list:
        base, row = fallback_id.rsplit(":", 1) if ":" in fallback_id else (fallback_id, "")
        stem = base.split(".")[0]
        col = str(self.options.get("id_field") or "").lower()  # type: ignore[attr-defined]
        rid = rec.get(col) if col else None
        rec = {**rec, "__scoped_id": f"{stem}/{rid}" if rid not in (None, "") else f"{stem}/row{row}"}
        return super().docs_from_record(rec, fallback_id, location)  # type: ignore[misc]

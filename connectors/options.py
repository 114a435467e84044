"""The ``options:`` a manifest source may give its connector, one pydantic model per reader family.

Each connector class names its model in ``Options``; the manifest is checked against it before
any work (an unknown or misspelt option is an error naming the source and the option).  Fields
left unset fall back to the connector's own default (a source connector such as
``mimic_iii_notes`` fixes ``text_field`` / ``id_field`` for its format; the manifest may still
override them).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class NoOptions(BaseModel):
    """Connectors that take no options."""

    model_config = ConfigDict(extra="forbid")


class RecordOptions(NoOptions):
    """Table-like readers (jsonl, csv, parquet): one document per text column of a record."""

    text_field: str | list[str] | None = Field(
        None, description="column holding the text (default text), or a list: one document per column, id suffix #<column>")
    id_field: str | None = Field(None, description="column with a stable record id (default: <file>@<row or offset>)")
    meta_fields: list[str] | None = Field(None, description="columns copied into the document's meta")


class CsvOptions(RecordOptions):
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="field separator (default ,)")
    drop_if: dict[str, str] | None = Field(None, description="column: value pairs whose rows are filtered, e.g. {ISERROR: '1'}")
    block_size: int | None = Field(None, ge=1 << 16, description="bytes parsed per block (default 4 MiB)")


class ParquetOptions(RecordOptions):
    batch_rows: int | None = Field(None, ge=1, description="rows decoded per batch (default 4096)")


class FileGroupOptions(NoOptions):
    """Readers of many small files (plain files, zip / tar members), grouped into work units."""

    pattern: str | list[str] | None = Field(None, description="fnmatch glob(s) file or member names must match (default: per connector)")
    files_per_unit: int | None = Field(None, ge=1, description="files grouped into one work unit (default 512)")
    unit_bytes: int | None = Field(None, ge=1, description="most bytes per work unit (default: resources.unit_bytes)")


class TextFileOptions(FileGroupOptions):
    """One document per plain-text file."""

    encoding: str | None = Field(None, description="text encoding (default utf-8); a file that does not decode is quarantined")


def describe(model: type[BaseModel]) -> list[str]:
    """``name: type  description`` per option, for ``--check`` and the connector listing."""
    out = []
    for name, f in model.model_fields.items():
        kind = str(f.annotation).replace("typing.", "").replace(" | None", "").replace("NoneType", "")
        out.append(f"{name} ({kind}): {f.description or ''}".rstrip(": "))
    return out

"""Writing training sets to parquet or csv, with their sidecar metadata, atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fsql.config.secrets import scrub
from fsql.errors import ProjectError


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise ProjectError(
        f"unsupported output format '{suffix or path.name}'",
        file=str(path),
        hint="name the output .parquet or .csv",
    )


def write_training_set(table: pa.Table, path: Path, meta: dict[str, Any]) -> Path:
    """Write `path` and `path.meta.json`; both appear only once both are complete."""
    fmt = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path = path.with_name(path.name + ".meta.json")
    tmp_data = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp_meta = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp_data)
        else:
            pacsv.write_csv(table, tmp_data)
        tmp_meta.write_text(scrub(json.dumps(meta, indent=2, default=str)) + "\n", encoding="utf-8")
        os.replace(tmp_data, path)
        os.replace(tmp_meta, meta_path)
    finally:
        for tmp in (tmp_data, tmp_meta):
            if tmp.exists():
                tmp.unlink()
    return meta_path

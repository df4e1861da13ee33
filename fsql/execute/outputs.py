"""Writing training sets to parquet or csv with their sidecar metadata, and reading it back.

A training set is two files: the data `FILE` and `FILE.meta.json`. No filesystem can
rename two files at once, so the pair is made checkable instead of atomic:

* the meta records the data file's byte size and sha256 (`data_file`), so
  `read_training_meta` can tell whether it describes the data file next to it;
* the meta is renamed into place first and the data last, with the directory synced
  in between, so the data file is authoritative: whenever the new data is visible, so
  is its meta. A crash between the two renames leaves the old data (still complete)
  beside the new meta, which `read_training_meta` refuses; a crash before leaves the
  old pair, a crash after the new one. Concurrent writers to one output end the same
  way: the last data rename wins, and the pair is refused unless its meta won too.

`write_data_file` writes a data file alone the same way (no meta). Temp files live
beside the output as `.FILE.fsql-PID-TOKEN.tmp` (and the same for the meta). A
termination signal during a write removes them (see fsql.execute.signals); temps of a
process that no longer exists (killed with SIGKILL, or on a machine that went down)
are removed by the next write of the same output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fsql.arrow_buffers import nested_as_json
from fsql.config.secrets import scrub
from fsql.errors import ProjectError, RunError
from fsql.execute.signals import raise_on_termination

META_SUFFIX = ".meta.json"
DATA_FILE_KEY = "data_file"  # the meta field this module owns: {format, bytes, sha256}
RERUN = "re-run build-training-set to write both files again"

# Rows per write call: a signal is handled between calls. Parquet's is pyarrow's
# default row group size, so the file has the row groups pq.write_table would give it.
_PARQUET_ROWS = 1024 * 1024
_CSV_ROWS = 64 * 1024
_HASH_CHUNK = 1024 * 1024

# Temp files of writes in flight in this process, so a temp that carries our own pid
# but not one of these is known to be left over by an earlier process with that pid
# (containers often give every run the same pid).
_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()


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


def training_meta_path(path: Path) -> Path:
    """The sidecar of a training set: `FILE.meta.json`."""
    return path.with_name(path.name + META_SUFFIX)


def write_training_set(table: pa.Table, path: Path, meta: dict[str, Any]) -> Path:
    """Write `path` and `path.meta.json` (see the module docstring for the order).

    `meta` is written with its strings scrubbed of secrets, plus `data_file`: the
    format, byte size and sha256 of the data file. Returns the meta file's path.
    """
    if DATA_FILE_KEY in meta:
        raise ValueError(f"'{DATA_FILE_KEY}' in a training set's meta is written by fsql")
    fmt = output_format(path)
    meta_path = training_meta_path(path)

    def describe(size: int, digest: str) -> bytes:
        # The checksum is added after scrubbing: it is not a secret, and masking a
        # secret that happens to be a substring of it would break the check.
        full = _scrubbed(meta)
        full[DATA_FILE_KEY] = {"format": fmt, "bytes": size, "sha256": digest}
        return (json.dumps(full, indent=2) + "\n").encode("utf-8")

    _write(table, path, fmt, describe)
    return meta_path


def write_data_file(table: pa.Table, path: Path, fmt: str | None = None) -> Path:
    """Write `path` alone (parquet or csv; by default from its suffix), as the data file of
    a training set is written: whole or not at all, with no temp file left behind."""
    fmt = fmt or output_format(path)
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown data file format {fmt!r}")
    _write(table, path, fmt, None)
    return path


def _write(
    table: pa.Table, path: Path, fmt: str, describe: Callable[[int, str], bytes] | None
) -> None:
    """Write the data file and, when `describe` is given, the meta it returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    token = secrets.token_hex(6)
    tmp_data = _temp_name(path, token)
    tmp_meta = _temp_name(training_meta_path(path), token)
    with _registered(tmp_data, tmp_meta), raise_on_termination():
        try:
            _write_table(table, tmp_data, fmt)
            _sync(tmp_data)
            if describe is not None:
                _write_synced(tmp_meta, describe(tmp_data.stat().st_size, _sha256(tmp_data)))
                os.replace(tmp_meta, training_meta_path(path))  # new meta, old data: refused
                _sync_dir(path.parent)  # so the meta's rename is durable before the data's
            os.replace(tmp_data, path)  # the pair matches again
            _sync_dir(path.parent)
        finally:
            for tmp in (tmp_data, tmp_meta):
                _unlink(tmp)


def read_training_meta(path: Path | str) -> dict[str, Any]:
    """The meta of the training set at `path`, checked against the data file next to it.

    Raises RunError (one line naming both files) when either file is missing, the meta
    is unreadable or records no checksum (an fsql before this check), or the data file's
    size or sha256 is not the one the meta records: a write that did not finish, two
    writers that raced, or a file changed by hand.
    """
    path = Path(path)
    meta_path = training_meta_path(path)

    def refuse(problem: str) -> RunError:
        return RunError(
            f"training set and {meta_path} do not belong together: {problem}",
            file=str(path),
            hint=RERUN,
        )

    try:
        text = meta_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise refuse("the metadata file is missing") from None
    try:
        meta = json.loads(text)
    except ValueError as err:
        raise refuse(f"the metadata is not valid JSON ({err})") from None
    recorded = meta.get(DATA_FILE_KEY) if isinstance(meta, dict) else None
    if not isinstance(recorded, dict) or not {"bytes", "sha256"} <= recorded.keys():
        raise refuse(f"the metadata has no '{DATA_FILE_KEY}' checksum (an older fsql wrote it)")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise refuse("the training set is missing") from None
    if size != recorded["bytes"]:
        raise refuse(f"the training set has {size} bytes, the metadata says {recorded['bytes']}")
    digest = _sha256(path)
    if digest != recorded["sha256"]:
        said = str(recorded["sha256"])[:12]
        raise refuse(f"the training set's sha256 is {digest[:12]}…, the metadata says {said}…")
    return meta


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove temp files of writes of `path` (and its meta) whose process is gone.

    A temp's process is gone when no process has its pid, or when the pid is ours but
    no write in this process made it. A pid reused by an unrelated live process keeps
    its temp until that process ends; no temp is removed on Windows, where there is no
    harmless way to ask whether a pid is alive. Returns the paths removed.
    """
    pattern = re.compile(
        rf"^\.{re.escape(path.name)}(?:{re.escape(META_SUFFIX)})?"
        r"\.(?:fsql-(\d+)-[0-9a-f]+|(\d+))\.tmp$"  # ours, or the older `.FILE.PID.tmp`
    )
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return removed
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        tmp = path.parent / name
        pid = int(match.group(1) or match.group(2))
        if _writer_alive(pid, tmp):
            continue
        try:
            if _unlink(tmp):
                removed.append(tmp)
        except OSError:
            continue  # e.g. another user's file in a shared directory: leave it
    return removed


def _temp_name(target: Path, token: str) -> Path:
    return target.with_name(f".{target.name}.fsql-{os.getpid()}-{token}.tmp")


@contextmanager
def _registered(*temps: Path) -> Iterator[None]:
    names = {str(t) for t in temps}
    with _in_flight_lock:
        _in_flight.update(names)
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight.difference_update(names)


def _writer_alive(pid: int, tmp: Path) -> bool:
    if pid == os.getpid():
        with _in_flight_lock:
            return str(tmp) in _in_flight
    if os.name == "nt" or pid <= 0:
        return True  # os.kill would end the process on Windows; pid 0 means a group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):
        return True  # exists but is not ours to signal (EPERM), or no pid we would use
    return True


def _write_table(table: pa.Table, tmp: Path, fmt: str) -> None:
    # "xb": the temp is new, never a file (or a planted link) that was already there.
    with open(tmp, "xb") as sink:
        if fmt == "parquet":
            with pq.ParquetWriter(sink, table.schema) as writer:
                for start in range(0, max(table.num_rows, 1), _PARQUET_ROWS):
                    piece = table.slice(start, _PARQUET_ROWS)
                    writer.write_table(piece, row_group_size=_PARQUET_ROWS)
        else:
            table = nested_as_json(table)  # CSV has no nested values; parquet keeps them
            with pacsv.CSVWriter(sink, table.schema) as writer:
                for start in range(0, table.num_rows, _CSV_ROWS):
                    writer.write_table(table.slice(start, _CSV_ROWS))


def _sync(tmp: Path) -> None:
    """Flush a written file to disk, so a rename never makes an unwritten file visible."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_synced(tmp: Path, data: bytes) -> None:
    with open(tmp, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(directory: Path) -> None:
    """Make the renames in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _scrubbed(value: Any) -> Any:
    """`value` as JSON data with every string (keys too) scrubbed of secrets."""
    if isinstance(value, dict):
        return {scrub(str(k)): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(value if isinstance(value, str) else str(value))


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True

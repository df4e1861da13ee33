"""Fingerprints of what a view reads, so a table built from older inputs is never read.

A view's inputs are its sources and its parent views. Each gets a short text that
changes when the data behind it changes:

- a file source: path, size and modification time of every file its path names (a
  glob may name several; none is a fingerprint too, `missing`);
- a warehouse table: the adapter's `table_fingerprint` (the engine's last-modified
  time where it keeps one, else a checksum of the contents);
- a parent view: its data version (below).

A view's **data version** is a hash of its definition and its inputs' fingerprints: two
builds from the same definition over the same inputs share one, whenever they ran. So a
routine rebuild of an unchanged parent does not make its children stale, while a changed
source anywhere upstream changes every data version below it.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from fsql.adapters.base import OfflineAdapter
from fsql.definitions.models import FeatureView, Project, Source


def file_fingerprint(root: Path, path: Path) -> str:
    """Path, size and modification time (ns) of each file `path` names, relative to `root`."""
    full = path if path.is_absolute() else root / path
    pattern = str(full)
    names = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    parts = []
    for name in names:
        try:
            stat = Path(name).stat()
        except OSError:
            continue
        parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts) if parts else "missing"


def source_key(source: Source) -> str:
    return f"source:{source.source_name}.{source.name}"


def view_key(name: str) -> str:
    return f"view:{name}"


def data_version(view: FeatureView, inputs: Mapping[str, str]) -> str:
    """A hash of the definition and the fingerprints of its inputs."""
    payload = json.dumps({"hash": view.content_hash, "inputs": dict(inputs)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class InputFingerprints:
    """Fingerprints of sources, each taken at most once per command (one stat or one
    engine query per source, however many views read it)."""

    def __init__(self, adapter: OfflineAdapter, project: Project) -> None:
        self.adapter = adapter
        self.project = project
        self._sources: dict[tuple[str, str], str] = {}

    def source(self, key: tuple[str, str]) -> str:
        found = self._sources.get(key)
        if found is None:
            source = self.project.sources[key]
            if source.path is not None:
                found = file_fingerprint(self.project.root, source.path)
            else:
                assert source.identifier is not None
                found = self.adapter.table_fingerprint(source.identifier) or "missing"
            self._sources[key] = found
        return found

    def forget(self) -> None:
        """Take fresh fingerprints on the next call (a new command)."""
        self._sources.clear()

    def of(self, view: FeatureView, parent_versions: Mapping[str, str]) -> dict[str, str]:
        """`view`'s inputs: its sources now, and its parents' data versions as given."""
        out = {source_key(self.project.sources[key]): self.source(key) for key in view.sources}
        for parent in view.refs:
            out[view_key(parent)] = parent_versions[parent]
        return out


def changed_inputs(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The inputs whose fingerprints differ (added or dropped ones included), for messages:
    `source raw.orders`, `view user_daily_orders`."""
    names = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return [name.replace(":", " ", 1) for name in names]

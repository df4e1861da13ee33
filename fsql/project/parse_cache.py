"""The partial-parse cache of `fsql compile` (target/partial_parse.json), as dbt keeps one:
a view whose inputs have not changed since the last compile is neither rendered nor
parsed nor compiled again; its definition and compiled SQL come from the cache.

A view's inputs, hashed into its digest (`ViewKey.digest`): its model file, its YAML
entry (with its file and line), the entities it names, every macro file, the vars and
environment variables its rendering read (names and values, so a changed default in the
model is a changed model), the sources it read, the digests of the views it refs, the
dialect and table location it compiles for, and fsql's version. Anything else (another
view's files, a var no model reads) leaves it cached. A view whose columns come from a
`SELECT *` (known only from its parents' trees) is never cached.

The file is JSON, never pickle: target/ may be written by anyone who can run a build, and
reading it must not run code. A file that does not parse, or was written by another fsql
version, is ignored (everything is parsed again).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fsql.definitions.aggregations import Aggregation
from fsql.definitions.models import Feature, FeatureView
from fsql.definitions.types import FeatureType
from fsql.version import __version__

if TYPE_CHECKING:
    from sqlglot import exp

CACHE_FILE = "partial_parse.json"


# What a cached view's trees are (one per view: nothing shares a tree): never compiled,
# its SQL comes from the cache, and `fsql compile` is the only command that reads it.
def _placeholder() -> exp.Query:
    from sqlglot import exp

    return exp.select(exp.Star())


_TREES = ("query", "incremental_query")


def _digest(*parts: Any) -> str:
    """sha256 of the parts' repr: plain values (text, numbers, lists, dicts in the order
    they were read) print the same way every time, and printing is several times faster
    than JSON for the large YAML entries of big projects."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass
class Entry:
    """One cached view: the digest of its inputs, what its rendering read, its definition
    (without trees) and its compiled files (path -> text)."""

    digest: str
    reads: dict[str, Any]
    view: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class ParseCache:
    """The cache as read from target/, and the entries this compile will write."""

    path: Path
    context: str  # digest of what every view compiles under (dialect, location, version)
    entries: dict[str, Entry] = field(default_factory=dict)
    fresh: dict[str, Entry] = field(default_factory=dict)
    hits: int = 0
    # Metadata files as parsed: path -> [sha256 of the bytes, document with its lines].
    yaml: dict[str, list[Any]] = field(default_factory=dict)
    fresh_yaml: dict[str, list[Any]] = field(default_factory=dict)
    # Entries this compile's own workers made (fsql.compile.parallel): taken without a
    # digest to compare, never read from the file.
    trusted: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, target_path: Path, context: Mapping[str, Any]) -> ParseCache:
        path = target_path / CACHE_FILE
        key = _digest(__version__, sorted(context.items()))
        cache = cls(path, key)
        try:
            doc = orjson.loads(path.read_bytes())
            if doc.get("context") == key:
                cache.entries = {name: Entry(**e) for name, e in doc["views"].items()}
                cache.yaml = dict(doc.get("yaml") or {})
        except (OSError, ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError):
            pass  # no cache, or not one this fsql wrote: parse everything
        return cache

    def save(self) -> None:
        """Write the entries of this compile (atomically: a reader sees old or new)."""
        doc = {
            "context": self.context,
            "views": {n: e.__dict__ for n, e in sorted(self.fresh.items())},
            "yaml": self.fresh_yaml,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_bytes(orjson.dumps(doc))
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class ViewInputs:
    """What a view's digest covers, apart from what its last rendering read."""

    model: str
    model_path: str
    doc: Any
    display: str
    entities: Any
    macros: str


def view_digest(
    inputs: ViewInputs,
    reads: Mapping[str, Any],
    vars_: Mapping[str, Any],
    sources: Mapping[str, Any],
    parents: Mapping[str, str | None],
) -> str | None:
    """The digest of a view's inputs now, given what its rendering read last time
    (`reads`: vars, env, sources and refs); None when one of its parents has none."""
    env = {name: os.environ.get(name) for name in reads.get("env", [])}
    used_vars = {name: vars_.get(name, _MISSING) for name in reads.get("vars", [])}
    used_sources = {key: sources.get(key) for key in reads.get("sources", [])}
    refs = {name: parents.get(name) for name in reads.get("refs", [])}
    if any(value is None for value in refs.values()):
        return None
    return _digest(inputs.__dict__, env, used_vars, used_sources, refs)


_MISSING = "\0undefined"


# -- FeatureView <-> JSON -------------------------------------------------------------------------


def view_to_json(view: FeatureView) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(view):
        if f.name in _TREES:
            continue
        out[f.name] = _encode(getattr(view, f.name))
    return out


def _encode(value: Any) -> Any:
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, Feature):
        return {"feature": [value.name, value.type.value, value.description]}
    if isinstance(value, Aggregation):
        return {
            "aggregation": [
                value.name,
                value.function,
                value.column,
                value.window.total_seconds(),
                value.type.value,
            ]
        }
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def view_from_json(data: Mapping[str, Any], tree: Any = None) -> FeatureView:
    """A cached view: its definition as parsed, with placeholder trees (`tree`, or a
    `SELECT *` of its own)."""
    values = {name: _decode(name, value) for name, value in data.items() if name not in _TREES}
    tree = _placeholder() if tree is None else tree
    return FeatureView(query=tree, incremental_query=tree, **values)


_TUPLES = {"entities", "join_keys", "features", "tags", "refs", "aggregations"}


def _decode(name: str, value: Any) -> Any:
    if isinstance(value, dict) and "seconds" in value:
        return timedelta(seconds=value["seconds"])
    if isinstance(value, dict) and "feature" in value:
        fname, ftype, description = value["feature"]
        return Feature(fname, FeatureType(ftype), description)
    if isinstance(value, dict) and "aggregation" in value:
        aname, function, column, window, atype = value["aggregation"]
        return Aggregation(aname, function, column, timedelta(seconds=window), FeatureType(atype))
    if name == "sources" and isinstance(value, list):
        return tuple(tuple(v) for v in value)
    if name == "output_columns" and isinstance(value, list):
        return tuple(value)
    if name in _TUPLES and isinstance(value, list):
        return tuple(_decode("", v) for v in value)
    return value

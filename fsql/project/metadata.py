"""Reading the metadata YAML files: entities and sources, parsed here; the entries of
views, services and on-demand features, kept for parsing once every file is read."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, cast

from fsql.config.yaml_lines import LineDict, decode_lines, encode_lines, line_of, load_yaml_file
from fsql.definitions.models import Entity, Source
from fsql.errors import ProjectError
from fsql.project.context import ErrorCollector, ParseContext
from fsql.project.identifiers import (
    ENGINE_DIALECTS,
    IDENTIFIER_HINT,
    IdentifierError,
    check_identifier,
    shown,
)
from fsql.project.names import IDENT, RESERVED_PREFIX, hint_names, reserved_column

TOP_KEYS = {
    "version",
    "entities",
    "sources",
    "feature_views",
    "feature_services",
    "on_demand_features",
}


def read_metadata(ctx: ParseContext) -> bool:
    """Read every metadata file into `ctx.declared`; False when one could not be read
    or parsed as YAML (its error is collected)."""
    read_all = True
    for path in ctx.files.yml:
        read_all = read_yml(ctx, path) and read_all
    return read_all


def _cached_yaml(ctx: ParseContext, path: Path, display: str) -> Any:
    """The file's document: from the partial-parse cache when its bytes are those it was
    parsed from, else parsed (and remembered for the next compile when the cache is on)."""
    if ctx.yaml_cache is None:
        return load_yaml_file(path, display)
    try:
        data = path.read_bytes()
    except OSError:
        return load_yaml_file(path, display)  # reports the error as it always does
    digest = hashlib.sha256(data).hexdigest()
    cached = ctx.yaml_cache.get(display)
    if cached is not None and cached[0] == digest:
        doc, encoded = decode_lines(cached[1]), cached[1]
    else:
        doc = load_yaml_file(path, display)
        encoded = encode_lines(doc)
    if encoded is not None:
        ctx.yaml_seen[display] = [digest, encoded]
    return doc


def read_yml(ctx: ParseContext, path: Path) -> bool:
    """Read one metadata file; False when it could not be read or parsed as YAML."""
    errs, declared = ctx.errs, ctx.declared
    display = ctx.files.rel(path)
    try:
        doc = _cached_yaml(ctx, path, display)
    except ProjectError as err:
        errs.errors.append(err)
        return False
    if doc is None:
        return True
    if not isinstance(doc, dict):
        errs.add("a metadata file must be a mapping", display, 1)
        return True
    for key in doc:
        if key not in TOP_KEYS:
            errs.add(
                f"unknown section '{key}'",
                display,
                line_of(doc),
                hint=hint_names(str(key), sorted(TOP_KEYS - {"version"})),
            )
    for item in list_items(doc, "entities", display, errs):
        _entity(ctx, item, display)
    for group in list_items(doc, "sources", display, errs):
        _source_group(ctx, group, display)
    for item in list_items(doc, "feature_views", display, errs):
        _view_entry(ctx, item, display)
    declared.service_docs += [
        (i, display) for i in list_items(doc, "feature_services", display, errs)
    ]
    declared.odf_docs += [
        (i, display) for i in list_items(doc, "on_demand_features", display, errs)
    ]
    return True


def list_items(doc: dict, key: str, display: str, errs: ErrorCollector) -> list[LineDict]:
    """The named entries of section `key`; each one without a valid name is reported."""
    value = doc.get(key)
    if value is None:  # an empty section
        return []
    if not isinstance(value, list):
        errs.add(f"'{key}' must be a list", display, line_of(doc))
        return []
    good: list[LineDict] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            errs.add(f"every entry of '{key}' needs a name", display, line_of(item) or line_of(doc))
        elif not IDENT.match(item["name"]):
            errs.add(
                f"{key} name '{item['name']}' must be letters, digits and _", display, line_of(item)
            )
        else:
            good.append(cast(LineDict, item))
    return good


def _view_entry(ctx: ParseContext, item: LineDict, display: str) -> None:
    declared = ctx.declared
    name = item["name"]
    same = declared.view_names.get(str(name).casefold())
    if str(name).casefold().startswith(RESERVED_PREFIX):
        ctx.errs.add(
            f"feature view '{name}': names beginning with {RESERVED_PREFIX} are reserved for fsql",
            display,
            line_of(item),
            hint="rename the view",
        )
        declared.duplicates.add(name)
    elif same is not None:
        also = "" if same == name else f" as '{same}': names are unique regardless of case"
        ctx.errs.add(
            f"duplicate feature view '{name}' (also in {declared.view_docs[same][1]}{also})",
            display,
            line_of(item),
            hint="feature view names must be unique",
        )
        declared.duplicates.add(name)
    else:
        declared.view_docs[name] = (item, display)
        declared.view_names[str(name).casefold()] = name


def _entity(ctx: ParseContext, item: LineDict, display: str) -> None:
    entities = ctx.declared.entities
    name = item["name"]
    keys = item.get("join_keys")
    if isinstance(keys, str):
        keys = [keys]
    if (
        not isinstance(keys, list)
        or not keys
        or not all(isinstance(k, str) and IDENT.match(k) for k in keys)
    ):
        ctx.errs.add(
            f"entity '{name}' needs join_keys: a list of column names", display, line_of(item)
        )
        return
    reserved = [k for k in keys if reserved_column(k)]
    if name.casefold().startswith(RESERVED_PREFIX) or reserved:
        what = f"join key '{reserved[0]}'" if reserved else "the name"
        ctx.errs.add(
            f"entity '{name}': {what} is reserved for fsql's own columns",
            display,
            line_of(item),
            hint=f"names beginning with {RESERVED_PREFIX} (and __version, __event_ts, "
            "__created_ts) are fsql's",
        )
        return
    same = next((e for e in entities if e.casefold() == str(name).casefold()), None)
    if same is not None:
        ctx.errs.add(
            f"duplicate entity '{name}' (also in {entities[same].file}"
            + ("" if same == name else f" as '{same}': names are unique regardless of case")
            + ")",
            display,
            line_of(item),
        )
        return
    entities[name] = Entity(
        name, tuple(keys), str(item.get("description", "")), display, line_of(item)
    )


def _source_group(ctx: ParseContext, group: LineDict, display: str) -> None:
    errs, declared = ctx.errs, ctx.declared
    tables = group.get("tables") or []
    if not isinstance(tables, list):
        errs.add(f"source '{group['name']}': tables must be a list", display, line_of(group))
        return
    for table in tables:
        if (
            not isinstance(table, dict)
            or not isinstance(table.get("name"), str)
            or not IDENT.match(table["name"])
        ):
            errs.add(
                f"source '{group['name']}': every table needs a name (letters, digits and _)",
                display,
                line_of(table) or line_of(group),
            )
            continue
        key = (group["name"], table["name"])
        path, ident = table.get("path"), table.get("identifier")
        if (path is None) == (ident is None):
            errs.add(
                f"source table {key[0]}.{key[1]} needs exactly one of path or identifier",
                display,
                line_of(table),
            )
            declared.bad_sources.add(key)
            continue
        problem = _location_problem(path, ident, ctx.config.dialect)
        if problem is not None:
            errs.add(
                f"source table {key[0]}.{key[1]}: {problem}",
                display,
                line_of(table),
                hint=IDENTIFIER_HINT if ident is not None else "give a file path as a string",
            )
            declared.bad_sources.add(key)
            continue
        same = next((k for k in declared.sources if _folded(k) == _folded(key)), None)
        if same is not None:
            also = "" if same == key else f" as {same[0]}.{same[1]}"
            errs.add(
                f"duplicate source table {key[0]}.{key[1]} (also in "
                f"{declared.sources[same].file}{also}: names are unique regardless of case)",
                display,
                line_of(table),
            )
            continue
        declared.sources[key] = Source(
            key[0],
            key[1],
            Path(path) if isinstance(path, str) else None,
            ident if isinstance(ident, str) else None,
            display,
            line_of(table),
        )


def _location_problem(path: object, ident: object, dialect: str) -> str | None:
    """Why a source table's `path:` or `identifier:` cannot be used, or None.

    An identifier must be a table name in the project's dialect or an engine's (the
    target's is checked again at compile time); a path must be a string: anything else
    would be pasted into a file scan or a FROM clause as something else.
    """
    if ident is not None:
        try:
            check_identifier(ident, tuple(dict.fromkeys((dialect, *ENGINE_DIALECTS))))
        except IdentifierError as err:
            return f"identifier {shown(ident)} is not a table name: {err}"
        return None
    if not isinstance(path, str) or not path.strip():
        return f"path {shown(path)} is not a file path"
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        return f"path {shown(path)} holds a control character"
    return None


def _folded(key: tuple[str, str]) -> tuple[str, str]:
    return (key[0].casefold(), key[1].casefold())

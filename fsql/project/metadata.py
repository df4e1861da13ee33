"""Reading the metadata YAML files: entities, sources, and the entries of views,
services and on-demand features (validated later, once every file is read)."""

from __future__ import annotations

from pathlib import Path

from fsql.config.yaml_lines import LineDict, line_of, load_yaml_file
from fsql.definitions.models import (
    Entity,
    Source,
)
from fsql.errors import ProjectError
from fsql.project.collect import (
    IDENT,
    RESERVED_PREFIX,
    TOP_KEYS,
    BuildState,
    hint_names,
    list_items,
    reserved_column,
)
from fsql.project.identifiers import (
    ENGINE_DIALECTS,
    IDENTIFIER_HINT,
    IdentifierError,
    check_identifier,
    shown,
)


class MetadataMixin(BuildState):
    def _read_yml(self, path: Path) -> None:
        display = self.files.rel(path)
        try:
            doc = load_yaml_file(path, display)
        except ProjectError as err:
            self.errs.errors.append(err)
            self.unread_yml = True
            return
        if doc is None:
            return
        if not isinstance(doc, dict):
            self.errs.add("a metadata file must be a mapping", display, 1)
            return
        for key in doc:
            if key not in TOP_KEYS:
                self.errs.add(
                    f"unknown section '{key}'",
                    display,
                    line_of(doc),
                    hint=hint_names(str(key), sorted(TOP_KEYS - {"version"})),
                )
        for item in list_items(doc, "entities", display, self.errs):
            self._entity(item, display)
        for group in list_items(doc, "sources", display, self.errs):
            self._source_group(group, display)
        for item in list_items(doc, "feature_views", display, self.errs):
            name = item["name"]
            same = next((v for v in self.view_docs if v.casefold() == str(name).casefold()), None)
            if str(name).casefold().startswith(RESERVED_PREFIX):
                self.errs.add(
                    f"feature view '{name}': names beginning with {RESERVED_PREFIX} are "
                    "reserved for fsql",
                    display,
                    line_of(item),
                    hint="rename the view",
                )
                self.duplicates.add(name)
            elif same is not None:
                also = "" if same == name else f" as '{same}': names are unique regardless of case"
                self.errs.add(
                    f"duplicate feature view '{name}' (also in {self.view_docs[same][1]}{also})",
                    display,
                    line_of(item),
                    hint="feature view names must be unique",
                )
                self.duplicates.add(name)
            else:
                self.view_docs[name] = (item, display)
        self.service_docs += [
            (i, display) for i in list_items(doc, "feature_services", display, self.errs)
        ]
        self.odf_docs += [
            (i, display) for i in list_items(doc, "on_demand_features", display, self.errs)
        ]

    def _entity(self, item: LineDict, display: str) -> None:
        name = item["name"]
        keys = item.get("join_keys")
        if isinstance(keys, str):
            keys = [keys]
        if (
            not isinstance(keys, list)
            or not keys
            or not all(isinstance(k, str) and IDENT.match(k) for k in keys)
        ):
            self.errs.add(
                f"entity '{name}' needs join_keys: a list of column names", display, line_of(item)
            )
            return
        reserved = [k for k in keys if reserved_column(k)]
        if name.casefold().startswith(RESERVED_PREFIX) or reserved:
            what = f"join key '{reserved[0]}'" if reserved else "the name"
            self.errs.add(
                f"entity '{name}': {what} is reserved for fsql's own columns",
                display,
                line_of(item),
                hint=f"names beginning with {RESERVED_PREFIX} (and __version, __event_ts, "
                "__created_ts) are fsql's",
            )
            return
        same = next((e for e in self.entities if e.casefold() == str(name).casefold()), None)
        if same is not None:
            self.errs.add(
                f"duplicate entity '{name}' (also in {self.entities[same].file}"
                + ("" if same == name else f" as '{same}': names are unique regardless of case")
                + ")",
                display,
                line_of(item),
            )
            return
        self.entities[name] = Entity(
            name, tuple(keys), str(item.get("description", "")), display, line_of(item)
        )

    def _source_group(self, group: LineDict, display: str) -> None:
        tables = group.get("tables") or []
        if not isinstance(tables, list):
            self.errs.add(
                f"source '{group['name']}': tables must be a list", display, line_of(group)
            )
            return
        for table in tables:
            if (
                not isinstance(table, dict)
                or not isinstance(table.get("name"), str)
                or not IDENT.match(table["name"])
            ):
                self.errs.add(
                    f"source '{group['name']}': every table needs a name (letters, digits and _)",
                    display,
                    line_of(table) or line_of(group),
                )
                continue
            key = (group["name"], table["name"])
            path, ident = table.get("path"), table.get("identifier")
            if (path is None) == (ident is None):
                self.errs.add(
                    f"source table {key[0]}.{key[1]} needs exactly one of path or identifier",
                    display,
                    line_of(table),
                )
                self.bad_sources.add(key)
                continue
            problem = _location_problem(path, ident, self.config.dialect)
            if problem is not None:
                self.errs.add(
                    f"source table {key[0]}.{key[1]}: {problem}",
                    display,
                    line_of(table),
                    hint=IDENTIFIER_HINT if ident is not None else "give a file path as a string",
                )
                self.bad_sources.add(key)
                continue
            same = next((k for k in self.sources if _folded(k) == _folded(key)), None)
            if same is not None:
                also = "" if same == key else f" as {same[0]}.{same[1]}"
                self.errs.add(
                    f"duplicate source table {key[0]}.{key[1]} (also in "
                    f"{self.sources[same].file}{also}: names are unique regardless of case)",
                    display,
                    line_of(table),
                )
                continue
            self.sources[key] = Source(
                key[0],
                key[1],
                Path(path) if isinstance(path, str) else None,
                ident if isinstance(ident, str) else None,
                display,
                line_of(table),
            )

    # -- models -------------------------------------------------------------------------------


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

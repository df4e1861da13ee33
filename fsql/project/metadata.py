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
    TOP_KEYS,
    BuildState,
    hint_names,
    list_items,
)

# Names fsql gives its own tables and columns; a project's names never begin with it.
RESERVED_PREFIX = "__fsql"


class MetadataMixin(BuildState):
    def _read_yml(self, path: Path) -> None:
        display = self.files.rel(path)
        try:
            doc = load_yaml_file(path, display)
        except ProjectError as err:
            self.errs.errors.append(err)
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
                continue
            if key in self.sources:
                self.errs.add(f"duplicate source table {key[0]}.{key[1]}", display, line_of(table))
                continue
            self.sources[key] = Source(
                key[0],
                key[1],
                Path(str(path)) if path is not None else None,
                str(ident) if ident is not None else None,
                display,
                line_of(table),
            )

    # -- models -------------------------------------------------------------------------------

"""Shared pieces of project validation: the error collector, names, reference checks."""

from __future__ import annotations

import difflib
import re
from typing import Any, cast

from fsql.config.project_file import ProjectConfig
from fsql.config.yaml_lines import LineDict, line_of
from fsql.definitions.models import (
    Entity,
    FeatureRef,
    FeatureView,
    Source,
)
from fsql.errors import ProjectError
from fsql.project.files import ProjectFiles

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TOP_KEYS = {
    "version",
    "entities",
    "sources",
    "feature_views",
    "feature_services",
    "on_demand_features",
}
VIEW_KEYS = {
    "name",
    "entities",
    "timestamp",
    "created_timestamp",
    "ttl",
    "online",
    "schedule",
    "materialized",
    "lookback",
    "tags",
    "features",
    "description",
}


# Names fsql gives its own tables and columns; a project's names never begin with it.
RESERVED_PREFIX = "__fsql"
# The columns online stores keep beside the features (fsql.online.base).
STORE_COLUMNS = frozenset({"__event_ts", "__created_ts", "__version"})


def reserved_column(name: str) -> bool:
    """A column name fsql's own SQL or the online stores use (`__fsql...`, `__version`)."""
    folded = name.casefold()
    return folded.startswith(RESERVED_PREFIX) or folded in STORE_COLUMNS


def hint_names(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return (
        f"did you mean {', '.join(close)}?"
        if close
        else f"known: {', '.join(sorted(known)) or 'none'}"
    )


class ErrorCollector:
    def __init__(self) -> None:
        self.errors: list[ProjectError] = []

    def add(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        column: int | None = None,
    ) -> None:
        self.errors.append(ProjectError(message, file=file, line=line, hint=hint, column=column))


def list_items(doc: dict, key: str, display: str, errs: ErrorCollector) -> list[LineDict]:
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


def check_ref(ref: FeatureRef, views: dict[str, FeatureView], declared: set[str]) -> str | None:
    """Why `ref` does not name a feature of the project, or None when it does."""
    if ref.view not in views:
        if ref.view in declared:
            return None  # the view itself has errors, reported elsewhere
        return f"unknown feature view '{ref.view}' ({hint_names(ref.view, views)})"
    if ref.feature is not None and views[ref.view].feature(ref.feature) is None:
        return (
            f"feature view '{ref.view}' has no feature '{ref.feature}' "
            f"({hint_names(ref.feature, views[ref.view].feature_names)})"
        )
    return None


class BuildState:
    """What the validation mixins share while one project is being assembled."""

    config: ProjectConfig
    files: ProjectFiles
    errs: ErrorCollector
    entities: dict[str, Entity]
    sources: dict[tuple[str, str], Source]
    view_docs: dict[str, tuple[LineDict, str]]
    duplicates: set[str]
    # Source tables declared with an error already reported: a source() of one is not
    # reported again as unknown.
    bad_sources: set[tuple[str, str]]
    unread_yml: bool  # a metadata file could not be read or parsed
    service_docs: list[tuple[LineDict, str]]
    odf_docs: list[tuple[LineDict, str]]
    _tokens: dict[str, list]  # rendered SQL -> its tokens, kept from parsing for the hash

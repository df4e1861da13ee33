"""Parsing a view's `aggregations:` and `aggregation_interval:` (SPEC §1), each mistake
collected as one line naming the view, the entry and what to write instead."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fsql.config.yaml_lines import LineDict, line_of
from fsql.definitions.aggregations import (
    FIXED_TYPES,
    FUNCTIONS,
    NUMERIC,
    Aggregation,
    default_name,
)
from fsql.definitions.durations import format_duration, parse_duration
from fsql.definitions.types import FeatureType
from fsql.project.context import ParseContext
from fsql.project.names import IDENT, hint_names, reserved_column

ENTRY_KEYS = ("function", "column", "windows", "name", "type", "description")
EXAMPLE = "e.g. {column: amount, function: sum, windows: [1h, 1d]}"


def read_aggregations(
    ctx: ParseContext,
    doc: LineDict,
    display: str,
    columns: tuple[str | None, ...],
    ttl: timedelta | None,
) -> tuple[list[Aggregation], timedelta | None]:
    """The view's aggregations and interval; nothing for a view without `aggregations:`.

    `columns` are the view's key and timestamp columns, which no feature may be named."""
    name, line = doc["name"], line_of(doc)
    interval = None
    if doc.get("aggregation_interval") is not None:
        try:
            interval = parse_duration(doc["aggregation_interval"])
        except ValueError as err:
            ctx.errs.add(f"feature view '{name}': aggregation_interval: {err}", display, line)
    if "aggregations" not in doc:
        if "aggregation_interval" in doc:
            ctx.errs.add(
                f"feature view '{name}': aggregation_interval without aggregations",
                display,
                line,
                hint="add aggregations: [...] or remove aggregation_interval",
            )
        return [], None
    if "features" in doc:
        ctx.errs.add(
            f"feature view '{name}' has both features: and aggregations:",
            display,
            line,
            hint="its features are the aggregations: remove features: (name one with name:)",
        )
    taken = {c.casefold() for c in columns if c}
    return parse_aggregations(ctx, doc, display, taken, ttl), interval


def parse_aggregations(
    ctx: ParseContext,
    doc: LineDict,
    display: str,
    taken: set[str],
    ttl: timedelta | None,
) -> list[Aggregation]:
    """The view's aggregations, one per function and window (errors collected).

    `taken` holds the view's key and timestamp columns (casefolded); feature names must
    differ from them and from each other regardless of case. Windows may be no longer
    than the view's `ttl`: older rows are not the view's to count."""
    view = doc["name"]
    raw = doc.get("aggregations")
    if not isinstance(raw, list) or not raw:
        ctx.errs.add(
            f"feature view '{view}': aggregations must be a list of entries",
            display,
            line_of(doc),
            hint=EXAMPLE,
        )
        return []
    out: list[Aggregation] = []
    seen = set(taken)
    for index, entry in enumerate(raw, start=1):
        for agg in _entry(ctx, view, display, index, entry, doc, ttl):
            folded = agg.name.casefold()
            line = line_of(entry) if isinstance(entry, dict) else line_of(doc)
            if folded in seen:
                ctx.errs.add(
                    f"feature view '{view}': aggregation {index} names feature '{agg.name}' "
                    "twice, or a key or timestamp column (names are unique regardless of case)",
                    display,
                    line,
                    hint="give the entry a `name:` of its own (with one window)",
                )
                continue
            if reserved_column(agg.name):
                ctx.errs.add(
                    f"feature view '{view}': aggregation {index}: the name '{agg.name}' is "
                    "reserved for fsql's own columns",
                    display,
                    line,
                )
                continue
            seen.add(folded)
            out.append(agg)
    return out


def _entry(
    ctx: ParseContext,
    view: str,
    display: str,
    index: int,
    entry: Any,
    doc: LineDict,
    ttl: timedelta | None,
) -> list[Aggregation]:
    where = f"feature view '{view}': aggregation {index}"
    line = line_of(entry) if isinstance(entry, dict) else line_of(doc)
    errs = ctx.errs
    if not isinstance(entry, dict):
        errs.add(f"{where} must be a mapping", display, line, hint=EXAMPLE)
        return []
    before = len(errs.errors)
    errs.unknown_keys(entry, ENTRY_KEYS, where, display, line)
    function = entry.get("function")
    if function not in FUNCTIONS:
        errs.add(
            f"{where}: unknown function {function!r}",
            display,
            line,
            hint=hint_names(str(function), FUNCTIONS)
            if isinstance(function, str)
            else f"use one of {', '.join(FUNCTIONS)}",
        )
        return []
    column = entry.get("column")
    if column is None and function != "count":
        errs.add(f"{where}: {function} needs column: <a column of the model>", display, line)
    elif column is not None and (not isinstance(column, str) or not IDENT.match(column)):
        errs.add(f"{where}: column must be a column name (letters, digits and _)", display, line)
    elif column is not None and reserved_column(column):
        errs.add(f"{where}: column '{column}' is reserved for fsql's own columns", display, line)
    ftype = _type(ctx, where, display, line, function, entry.get("type"))
    windows = _windows(ctx, where, display, line, entry.get("windows"), ttl)
    name = entry.get("name")
    if name is not None:
        if not isinstance(name, str) or not IDENT.match(name):
            errs.add(f"{where}: name must be letters, digits and _", display, line)
        elif len(windows) > 1:
            errs.add(
                f"{where}: name '{name}' given for {len(windows)} windows",
                display,
                line,
                hint="a name fits one window: split the entry, or drop name: to get "
                "<column>_<function>_<window> for each",
            )
    if len(errs.errors) > before or ftype is None:
        return []
    return [
        Aggregation(
            name=name if isinstance(name, str) else default_name(function, column, text),
            function=function,
            column=column,
            window=window,
            type=ftype,
        )
        for text, window in windows
    ]


def _type(
    ctx: ParseContext, where: str, display: str, line: int | None, function: str, value: Any
) -> FeatureType | None:
    fixed = FIXED_TYPES.get(function)
    if value is None:
        return fixed or FeatureType.FLOAT64
    try:
        ftype = FeatureType.parse(value)
    except ValueError as err:
        ctx.errs.add(f"{where}: {err}", display, line)
        return None
    if fixed is not None and ftype != fixed:
        ctx.errs.add(
            f"{where}: {function} is always {fixed.value}, not {ftype.value}",
            display,
            line,
            hint="remove type:",
        )
        return None
    if function == "sum" and ftype not in NUMERIC:
        ctx.errs.add(f"{where}: a sum is a number, not {ftype.value}", display, line)
        return None
    return ftype


def _windows(
    ctx: ParseContext,
    where: str,
    display: str,
    line: int | None,
    value: Any,
    ttl: timedelta | None,
) -> list[tuple[str, timedelta]]:
    """(text as written, duration) per window; the text names the feature."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        ctx.errs.add(f"{where} needs windows: [...]", display, line, hint="e.g. windows: [1h, 7d]")
        return []
    out: list[tuple[str, timedelta]] = []
    for item in value:
        try:
            window = parse_duration(item)
        except ValueError as err:
            ctx.errs.add(f"{where}: window {err}", display, line)
            continue
        text = str(item).strip().lower().replace(" ", "")
        if ttl is not None and window > ttl:
            ctx.errs.add(
                f"{where}: window {text} is longer than the view's ttl {format_duration(ttl)}",
                display,
                line,
                hint="raise the ttl or shorten the window",
            )
            continue
        out.append((text, window))
    return out

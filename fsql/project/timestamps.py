"""A view's time columns: its event time, its created time, and which of them decides
when a row becomes visible to a point-in-time join (`visible_at`, SPEC §2)."""

from __future__ import annotations

from fsql.config.yaml_lines import LineDict, line_of
from fsql.project.context import ParseContext
from fsql.project.names import IDENT, reserved_column


def view_timestamps(
    ctx: ParseContext, doc: LineDict, display: str, join_keys: list[str]
) -> tuple[str, str | None]:
    """The view's event-time and created-time columns (a stand-in after an error)."""
    name, line = doc["name"], line_of(doc)
    timestamp = doc.get("timestamp")
    if not isinstance(timestamp, str) or not IDENT.match(timestamp):
        ctx.errs.add(
            f"feature view '{name}' needs timestamp: <event-time column> (letters, digits and _)",
            display,
            line,
        )
        timestamp = "event_timestamp"
    created = doc.get("created_timestamp")
    if created is not None and (not isinstance(created, str) or not IDENT.match(created)):
        ctx.errs.add(
            f"feature view '{name}': created_timestamp must be a column name "
            "(letters, digits and _)",
            display,
            line,
        )
        created = None
    keys_folded = {k.casefold() for k in join_keys}
    for what, column in (("timestamp", timestamp), ("created_timestamp", created)):
        if column is not None and reserved_column(column):
            ctx.errs.add(
                f"feature view '{name}': {what} '{column}' is reserved for fsql's own columns",
                display,
                line,
                hint="rename the column in the model and here",
            )
        elif column is not None and column.casefold() in keys_folded:
            ctx.errs.add(
                f"feature view '{name}': {what} '{column}' is also a join key",
                display,
                line,
                hint="name the event-time columns apart from the entities' keys",
            )
    if created is not None and created.casefold() == timestamp.casefold():
        ctx.errs.add(
            f"feature view '{name}': created_timestamp is the timestamp column itself",
            display,
            line,
            hint="remove created_timestamp, or name the column the row was created at",
        )
    return timestamp, created


def visible_at_of(ctx: ParseContext, doc: LineDict, display: str, created: str | None) -> str:
    """`event_timestamp` (the default) or `created_timestamp` (which needs that column)."""
    value = doc.get("visible_at", "event_timestamp")
    name, line = doc["name"], line_of(doc)
    if value not in ("event_timestamp", "created_timestamp"):
        ctx.errs.add(
            f"feature view '{name}': visible_at must be event_timestamp or created_timestamp, "
            f"not {value!r}",
            display,
            line,
        )
        return "event_timestamp"
    if value == "created_timestamp" and created is None:
        if doc.get("created_timestamp") is not None:
            return "event_timestamp"  # declared but not a column name: reported already
        ctx.errs.add(
            f"feature view '{name}': visible_at: created_timestamp needs created_timestamp: "
            "<column>",
            display,
            line,
            hint="name the column that says when each row arrived",
        )
        return "event_timestamp"
    return str(value)

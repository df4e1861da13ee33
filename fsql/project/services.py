"""Parsing feature services and on-demand features: references to features of valid
views, and on-demand expressions parsed strictly as one expression."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot.errors import ParseError, TokenError

from fsql.config.yaml_lines import line_of
from fsql.definitions.models import (
    FeatureRef,
    FeatureService,
    FeatureView,
    OnDemandFeature,
    RequestColumn,
)
from fsql.definitions.types import FeatureType
from fsql.dialects.duckdb import expression_statement
from fsql.project.context import ParseContext
from fsql.project.engine_parse import duckdb_syntax_error
from fsql.project.expressions import parse_expression
from fsql.project.names import IDENT, hint_names, reserved_column
from fsql.project.refs import feature_ref_problem


def parse_services(ctx: ParseContext, views: dict[str, FeatureView]) -> dict[str, FeatureService]:
    """The feature services declared, each one's references checked against `views`."""
    out: dict[str, FeatureService] = {}
    for doc, display in ctx.declared.service_docs:
        name = doc["name"]
        refs: list[FeatureRef] = []
        raw = doc.get("features") or []
        if not isinstance(raw, list):
            ctx.errs.add(
                f"feature service '{name}': features must be a list of view:feature",
                display,
                line_of(doc),
            )
            raw = []
        aliases: set[str] = set()
        for text in raw:
            if isinstance(text, dict):
                refs.extend(_mapped_entry(ctx, name, text, views, aliases, display, line_of(doc)))
                continue
            try:
                ref = FeatureRef.parse(str(text))
            except ValueError as err:
                ctx.errs.add(f"feature service '{name}': {err}", display, line_of(doc))
                continue
            problem = feature_ref_problem(ctx, ref, views)
            if problem:
                ctx.errs.add(f"feature service '{name}': {problem}", display, line_of(doc))
            refs.append(ref)
        if not refs:
            ctx.errs.add(f"feature service '{name}' lists no features", display, line_of(doc))
        if name in out:
            ctx.errs.add(f"duplicate feature service '{name}'", display, line_of(doc))
        out[name] = FeatureService(
            name,
            tuple(refs),
            str(doc.get("description", "")),
            display,
            line_of(doc),
            _sample_rate(ctx, doc, display),
        )
    return out


_ENTRY_KEYS = ("view", "as", "join_keys", "features")
_ENTRY_HINT = "e.g. {view: location_stats, as: origin, join_keys: {location_id: origin_id}}"


def _mapped_entry(
    ctx: ParseContext,
    service: str,
    entry: dict,
    views: dict[str, FeatureView],
    aliases: set[str],
    display: str,
    doc_line: int | None,
) -> list[FeatureRef]:
    """A service entry `{view, as, join_keys, features}`: the view's features (all, or
    those listed) named `<as>__<feature>`, joined through the entity columns
    `join_keys` maps the view's keys to. One reference per feature, or none on error."""
    line = line_of(entry) or doc_line
    where = f"feature service '{service}'"

    def bad(message: str, hint: str = _ENTRY_HINT) -> list[FeatureRef]:
        ctx.errs.add(f"{where}: {message}", display, line, hint=hint)
        return []

    ctx.errs.unknown_keys(entry, _ENTRY_KEYS, where, display, line)
    view_name, alias = entry.get("view"), entry.get("as")
    if not isinstance(view_name, str) or not view_name:
        return bad("an entry given as a mapping needs view: a feature view's name")
    problem = feature_ref_problem(ctx, FeatureRef(view_name), views)
    if problem:
        return bad(problem, "name a feature view of the project")
    view = views.get(view_name)
    if view is None:
        return []  # the view has errors of its own, reported where it is declared
    if not isinstance(alias, str) or not IDENT.match(alias) or reserved_column(alias):
        return bad(
            f"the entry for view '{view_name}' needs as: a name for its features "
            f"(a plain identifier), not {alias!r}"
        )
    if alias in views or alias in aliases:
        taken = "a feature view's name" if alias in views else "used twice in the service"
        return bad(f"as: '{alias}' is {taken}", "choose another as: name")
    aliases.add(alias)
    key_map = _key_map(entry.get("join_keys"), view, bad)
    if key_map is None:
        return []
    features = entry.get("features")
    if features is None:
        return [FeatureRef(view_name, None, alias, key_map)]
    if not isinstance(features, list) or not features:
        return bad(f"features of the entry '{alias}' must be a list of feature names")
    refs = []
    for feature in features:
        if view.feature(str(feature)) is None:
            return bad(
                f"feature view '{view_name}' has no feature '{feature}'",
                hint_names(str(feature), view.feature_names),
            )
        refs.append(FeatureRef(view_name, str(feature), alias, key_map))
    return refs


def _key_map(
    given: object, view: FeatureView, bad: Callable[[str, str], list[FeatureRef]]
) -> tuple[tuple[str, str], ...] | None:
    """`join_keys: {view_key: entity_column}` checked against the view, in the view's
    key order; None (after reporting) when it is not valid."""
    if given is None:
        return ()
    keys = ", ".join(view.user_keys) or "none"
    if not isinstance(given, dict) or not given:
        bad(
            "join_keys must map the view's keys to entity columns",
            f"e.g. join_keys: {{{view.user_keys[0] if view.user_keys else 'key'}: other_column}}",
        )
        return None
    if view.is_global:
        bad(f"view '{view.name}' has no entities, so no join keys to map", "drop join_keys")
        return None
    for key, column in given.items():
        if key not in view.join_keys:
            bad(f"view '{view.name}' has no join key '{key}' (its keys: {keys})", _ENTRY_HINT)
            return None
        if not isinstance(column, str) or not IDENT.match(column) or reserved_column(column):
            bad(f"join_keys: '{key}' must map to an entity column's name, not {column!r}", "")
            return None
    mapped = [given.get(k, k) for k in view.join_keys]
    taken = {view.timestamp, view.created_timestamp, *view.row_columns}
    clash = [c for c in mapped if c in taken] or [c for c in mapped if mapped.count(c) > 1]
    if clash:
        bad(
            f"join_keys: entity column '{clash[0]}' is also a column of view '{view.name}' "
            "or maps two keys",
            "map each key to its own entity column",
        )
        return None
    return tuple((k, str(given[k])) for k in view.join_keys if k in given)


def _sample_rate(ctx: ParseContext, doc: dict, display: str) -> float | None:
    """`logging: {sample_rate: r}` with 0 < r <= 1, or None when the service is not logged."""
    logging = doc.get("logging")
    if logging is None:
        return None
    where = f"feature service '{doc['name']}': logging"
    if not isinstance(logging, dict):
        ctx.errs.add(
            f"{where} must be a mapping",
            display,
            line_of(doc),
            hint="e.g. logging: {sample_rate: 0.1}",
        )
        return None
    ctx.errs.unknown_keys(logging, ("sample_rate",), where, display, line_of(doc))
    rate = logging.get("sample_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        ctx.errs.add(
            f"{where}: sample_rate must be a number in (0, 1], not {rate!r}",
            display,
            line_of(doc),
            hint="the share of served rows to log, e.g. 0.1",
        )
        return None
    return float(rate)


def parse_on_demand(ctx: ParseContext, views: dict[str, FeatureView]) -> dict[str, OnDemandFeature]:
    """The on-demand features declared: expression, request columns and inputs checked."""
    out: dict[str, OnDemandFeature] = {}
    for doc, display in ctx.declared.odf_docs:
        name, line = doc["name"], line_of(doc)
        text = doc.get("expression")
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)  # a constant: YAML read it as a number
        if not isinstance(text, str) or not text.strip():
            ctx.errs.add(
                f"on-demand feature '{name}' needs expression: a SQL expression",
                display,
                line,
                hint="e.g. expression: amount / nullif(lifetime_value, 0)",
            )
            continue
        try:
            ftype = FeatureType.parse(doc.get("type"))
            if ftype.composite:
                raise ValueError(f"type must be a scalar type, not {ftype.value}")
            expression = parse_expression(text, ctx.config.dialect)
        except (ValueError, ParseError, TokenError) as err:
            first = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
            ctx.errs.add(f"on-demand feature '{name}': {first}", display, line)
            continue
        except RecursionError:
            ctx.errs.add(
                f"on-demand feature '{name}': expression nested too deeply to parse",
                display,
                line,
            )
            continue
        if ctx.config.dialect == "duckdb":
            problem = duckdb_syntax_error(expression_statement(text))
            if problem is not None:
                ctx.errs.add(
                    f"on-demand feature '{name}': expression: {problem.message} (DuckDB's parser)",
                    display,
                    line,
                    hint="fix the expression",
                )
                continue
        cols = []
        for col in _list(doc.get("request_columns")):
            try:
                if not isinstance(col["name"], str) or not IDENT.match(col["name"]):
                    raise ValueError(col["name"])
                cols.append(RequestColumn(col["name"], FeatureType.parse(col["type"])))
            except (KeyError, TypeError, ValueError):
                ctx.errs.add(
                    f"on-demand feature '{name}': request_columns entries need name and type",
                    display,
                    line,
                    hint="e.g. request_columns: [{name: amount, type: float64}]",
                )
        inputs = []
        for item in _list(doc.get("inputs")):
            try:
                ref = FeatureRef.parse(str(item))
            except ValueError as err:
                ctx.errs.add(f"on-demand feature '{name}': {err}", display, line)
                continue
            unknown = feature_ref_problem(ctx, ref, views)
            if unknown:
                ctx.errs.add(f"on-demand feature '{name}': {unknown}", display, line)
            inputs.append(ref)
        if name in out:
            ctx.errs.add(
                f"duplicate on-demand feature '{name}'",
                display,
                line,
                hint="on-demand feature names must be unique",
            )
            continue
        out[name] = OnDemandFeature(
            name, ftype, expression, tuple(cols), tuple(inputs), display, line, text
        )
    return out


def _list(value: object) -> list:
    """A list setting's entries; a lone value counts as a list of one (reported by the
    entry checks when it is not a valid entry)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

"""Parsing one FeatureView: metadata checks, Jinja rendering, parsing, output columns,
and the content hash of its normalised SQL and metadata.

The SQL itself is parsed in `model_sql`; its output columns are checked in `outputs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlglot import exp

from fsql.config.yaml_lines import LineDict, line_of, read_text
from fsql.definitions.durations import parse_duration
from fsql.definitions.models import GLOBAL_KEY, Feature, FeatureView, content_hash
from fsql.definitions.types import FeatureType
from fsql.errors import ProjectError
from fsql.project.aggregations import read_aggregations
from fsql.project.context import ParseContext
from fsql.project.jinja import ModelRenderer, read_macros, ref_placeholder, source_placeholder
from fsql.project.model_sql import normalized_tokens, parse_model, reserved_table
from fsql.project.names import IDENT, hint_names, reserved_column
from fsql.project.outputs import check_outputs, output_columns
from fsql.project.timestamps import view_timestamps, visible_at_of

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
    "aggregations",
    "aggregation_interval",
    "visible_at",
}


def open_renderer(ctx: ParseContext) -> ModelRenderer | None:
    """The project's model renderer with its macros read, or None (error collected)."""
    try:
        macros = read_macros(list(ctx.files.macros), ctx.files.rel)
        return ModelRenderer(ctx.config.vars, macros)
    except ProjectError as err:
        ctx.errs.errors.append(err)
        return None


def parse_view(
    ctx: ParseContext, doc: LineDict, display: str, sql_path: Path
) -> FeatureView | None:
    """The view `doc` declares with its model at `sql_path`, or None when it has errors
    (each one collected). Needs `ctx.renderer`."""
    renderer = ctx.renderer
    if renderer is None:
        return None
    errs = ctx.errs
    name, line = doc["name"], line_of(doc)
    before = len(errs.errors)
    errs.unknown_keys(doc, VIEW_KEYS, f"feature view '{name}'", display, line)
    ents, join_keys = _entities(ctx, doc, display)
    timestamp, created = view_timestamps(ctx, doc, display, join_keys)
    visible_at = visible_at_of(ctx, doc, display, created)
    ttl = _duration(ctx, doc, "ttl", display)
    schedule = _duration(ctx, doc, "schedule", display)
    lookback = _duration(ctx, doc, "lookback", display)
    materialized = str(doc.get("materialized", "table"))
    if materialized not in ("view", "table", "incremental"):
        errs.add(
            f"feature view '{name}': materialized must be view, table or incremental",
            display,
            line,
        )
    online = doc.get("online", False)
    if not isinstance(online, bool):
        errs.add(f"feature view '{name}': online must be true or false", display, line)
    tags = doc.get("tags") or []
    tags = [tags] if isinstance(tags, str) else tags
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        errs.add(
            f"feature view '{name}': tags must be a list of words",
            display,
            line,
            hint="e.g. tags: [core]",
        )
        tags = []
    columns = (*join_keys, timestamp, created)  # no feature may be named like these
    aggregations, interval = read_aggregations(ctx, doc, display, columns, ttl)
    if "aggregations" in doc:
        features = [Feature(a.name, a.type) for a in aggregations]
    else:
        features = _features(ctx, doc, display, set(columns))
    view_values = [f.name for f in features]
    rel = ctx.files.rel(sql_path)
    try:
        text = read_text(sql_path, rel)
        rendered, record = renderer.render(text, rel, name, incremental=False)
        rendered_inc, record_inc = renderer.render(text, rel, name, incremental=True)
    except ProjectError as err:
        errs.errors.append(err)
        return None
    ctx.reads[name] = {
        "vars": sorted({*record.vars, *record_inc.vars}),
        "env": sorted({*record.env, *record_inc.env}),
    }
    query = parse_model(ctx, rendered, rel, text)
    inc_query = parse_model(ctx, rendered_inc, rel, text) if rendered_inc != rendered else query
    if query is None or inc_query is None or len(errs.errors) > before:
        return None
    placeholders = {
        record.this,
        *(ref_placeholder(r) for r in (*record.refs, *record_inc.refs)),
        *(source_placeholder(*k) for k in (*record.sources, *record_inc.sources)),
    }
    smuggled = reserved_table(query, inc_query, {p.casefold() for p in placeholders})
    if smuggled:
        errs.add(
            f"feature view '{name}': table '{smuggled}': names beginning with __fsql are "
            "reserved for fsql",
            rel,
            hint="read views with {{ ref('view') }} and sources with {{ source('s', 't') }}",
        )
        return None
    outputs = output_columns(query)
    values = [a.column for a in aggregations if a.column] if aggregations else view_values
    keys = [k for k in join_keys if k != GLOBAL_KEY]
    wanted = [*keys, timestamp, *([created] if created else []), *dict.fromkeys(values)]
    for tree in (query,) if inc_query is query else (query, inc_query):
        listed = outputs if tree is query else output_columns(tree)
        check_outputs(ctx, name, rel, display, wanted, listed)
    if join_keys == [GLOBAL_KEY]:
        query, inc_query = _with_global_key(query, inc_query)
        outputs = None if outputs is None else [*outputs, GLOBAL_KEY]
    meta_view = FeatureView(
        name=name,
        entities=tuple(ents),
        join_keys=tuple(join_keys),
        timestamp=timestamp,
        features=tuple(features),
        query=query,
        incremental_query=inc_query,
        rendered_sql=rendered,
        sql_path=rel,
        yml_path=display,
        yml_line=line,
        created_timestamp=created,
        ttl=ttl,
        online=bool(online),
        schedule=schedule,
        materialized=materialized,
        lookback=lookback,
        tags=tuple(str(t) for t in tags),
        description=str(doc.get("description", "")),
        # Both renderings count: a ref() only inside {% if is_incremental() %} is
        # still an edge of the DAG and an input to check.
        refs=tuple(dict.fromkeys([*record.refs, *record_inc.refs])),
        sources=tuple(dict.fromkeys([*record.sources, *record_inc.sources])),
        output_columns=tuple(outputs) if outputs else None,
        aggregations=tuple(aggregations),
        aggregation_interval=interval if aggregations else None,
        visible_at=visible_at,
    )
    normalized = normalized_tokens(ctx.tokens.pop(rendered, []))
    if inc_query is not query:
        normalized += "\n" + normalized_tokens(ctx.tokens.pop(rendered_inc, []))
    digest = content_hash(normalized, meta_view.metadata())
    return FeatureView(**{**meta_view.__dict__, "content_hash": digest})


def _with_global_key(query: exp.Query, inc_query: exp.Query) -> tuple[exp.Query, exp.Query]:
    """A global view's model as its table is built: every row with the constant join key
    (fsql.definitions.models.GLOBAL_KEY)."""

    def wrap(tree: exp.Query) -> exp.Query:
        return exp.select(exp.Star(), exp.alias_(exp.Literal.number(0), GLOBAL_KEY)).from_(
            tree.subquery("__fsql_global_rows")
        )

    wrapped = wrap(query)
    return wrapped, (wrapped if inc_query is query else wrap(inc_query))


def _entities(ctx: ParseContext, doc: LineDict, display: str) -> tuple[Any, list[str]]:
    """The view's `entities:` as written (a list when valid) and their join keys."""
    entities = ctx.declared.entities
    name, line = doc["name"], line_of(doc)
    ents = doc.get("entities")
    if isinstance(ents, str):
        ents = [ents]
    join_keys: list[str] = []
    if ents == []:  # a global view: joined to every entity row by time alone
        return ents, [GLOBAL_KEY]
    if not ents or not isinstance(ents, list):
        ctx.errs.add(
            f"feature view '{name}' needs entities: [...]",
            display,
            line,
            hint="name its entities, or entities: [] for one row per time joined to every "
            "entity row",
        )
        ents = []
    elif not all(isinstance(e, str) for e in ents):
        ctx.errs.add(
            f"feature view '{name}': entities must be a list of entity names",
            display,
            line,
            hint=f"e.g. entities: [{next(iter(entities), 'user')}]",
        )
        ents = []
    for ent in ents if isinstance(ents, list) else []:
        if ent not in entities:
            ctx.errs.add(
                f"feature view '{name}': unknown entity '{ent}'",
                display,
                line,
                hint=hint_names(str(ent), entities),
            )
        else:  # one column however its entities spell it (engines fold case)
            for key in entities[ent].join_keys:
                if key.casefold() not in {k.casefold() for k in join_keys}:
                    join_keys.append(key)
    return ents, join_keys


def _duration(ctx: ParseContext, doc: LineDict, key: str, display: str) -> Any:
    if doc.get(key) is None:
        return None
    try:
        return parse_duration(doc[key])
    except ValueError as err:
        ctx.errs.add(f"feature view '{doc['name']}': {key}: {err}", display, line_of(doc))
        return None


def _features(
    ctx: ParseContext, doc: LineDict, display: str, reserved: set[str | None]
) -> list[Feature]:
    errs = ctx.errs
    raw = doc.get("features") or []
    out: list[Feature] = []
    if not isinstance(raw, list) or not raw:
        errs.add(
            f"feature view '{doc['name']}' declares no features",
            display,
            line_of(doc),
            hint="add features: [{name: ..., type: ...}]",
        )
        return out
    seen: set[str] = set()
    for item in raw:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not IDENT.match(item["name"])
        ):
            errs.add(
                f"feature view '{doc['name']}': every feature needs a name (letters, digits and _)",
                display,
                line_of(item) or line_of(doc),
            )
            continue
        fname = item["name"]
        try:
            ftype = FeatureType.parse(item.get("type"))
        except ValueError as err:
            errs.add(f"feature '{doc['name']}:{fname}': {err}", display, line_of(item))
            continue
        folded = fname.casefold()
        if folded in seen or folded in {r.casefold() for r in reserved if r is not None}:
            errs.add(
                f"feature '{doc['name']}:{fname}' is declared twice or is a key or "
                "timestamp column (names are unique regardless of case)",
                display,
                line_of(item),
            )
            continue
        if reserved_column(fname):
            errs.add(
                f"feature '{doc['name']}:{fname}': the name is reserved for fsql's own columns",
                display,
                line_of(item),
                hint="rename the feature",
            )
            continue
        seen.add(folded)
        out.append(Feature(fname, ftype, str(item.get("description", ""))))
    return out

"""Compile every view of a project for one dialect into SQL trees (no connection)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlglot import exp

from fsql.compile.lint import check_dialect
from fsql.compile.on_demand import (
    OnDemandItem,
    bind_on_demand,
    hidden_input,
    on_demand_outer_query,
)
from fsql.compile.pit import PitItem, point_in_time_query
from fsql.compile.relations import Relations
from fsql.compile.views import create_table, latest_per_key, merge_into
from fsql.compile.window_rows import PUSHED_KEYS, window_rows
from fsql.definitions.models import FeatureRef, FeatureView, OnDemandFeature, Project
from fsql.definitions.types import FeatureType
from fsql.dialects.base import EngineDialect
from fsql.dialects.statement import Statement, read_upload
from fsql.errors import ProjectError
from fsql.project.load import check_ref


@dataclass(frozen=True)
class ViewPlan:
    """Everything the runner executes for one view, and its SQL text, generated once.

    The trees are built for this plan alone, so they are generated without sqlglot's
    defensive deep copy (the largest cost of compiling a big project) and the text is
    kept: running a plan twice never regenerates it.
    """

    view: FeatureView
    dialect: EngineDialect
    create: exp.Create
    # `incremental` views only: the MERGE of the model's incremental rendering into the table.
    merge: exp.Merge | None
    latest_full: exp.Query
    latest_range: exp.Query
    # Views with a created timestamp: rows created since `$start` (incremental runs).
    latest_since: exp.Query | None = None
    relations: Relations | None = field(default=None, compare=False, repr=False)
    _text: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    _statements: dict[str, Statement] = field(default_factory=dict, compare=False, repr=False)

    def latest_statement(self, part: str, push_log: bool) -> Statement:
        """`latest_full`, `latest_range` or `latest_since` ready for the engine (it binds
        `end`, and `start` unless full), reading the view's push log too when it has one
        (that tree is built on first use: only views that were pushed to need it)."""
        key = f"{part}+push_log" if push_log else part
        statement = self._statements.get(key)
        if statement is None:
            if push_log:
                assert self.relations is not None
                tree: exp.Query = latest_per_key(
                    self.view,
                    self.relations,
                    with_start=part != "latest_full",
                    start_on_created=part == "latest_since",
                    push_log=True,
                )
            else:
                tree = getattr(self, part)
            statement = self._statements[key] = self.dialect.statement(tree, pretty=True)
        return statement

    def window_rows_statement(self, push_log: bool) -> Statement:
        """A view with aggregations: its rows from `$start` on, by key, for the online
        store (fsql.compile.window_rows), reading the push log too when it has one."""
        key = "window_rows+push_log" if push_log else "window_rows"
        statement = self._statements.get(key)
        if statement is None:
            assert self.relations is not None
            tree = window_rows(self.view, self.relations, push_log)
            statement = self._statements[key] = self.dialect.statement(tree, pretty=True)
        return statement

    def pushed_window_rows(self, uploaded: exp.Table) -> Statement:
        """The rows of the pushed keys (registered as `uploaded`), table and push log."""
        assert self.relations is not None
        tree = window_rows(self.view, self.relations, push_log=True, only_pushed=True)
        return self.dialect.statement(read_upload(tree, PUSHED_KEYS, uploaded))

    def sql(self, part: str) -> str:
        """SQL text of `create`, `merge`, `latest_full`, `latest_range` or `latest_since`."""
        text = self._text.get(part)
        if text is None:
            tree = getattr(self, part)
            text = self._text[part] = tree.sql(
                dialect=self.dialect.sqlglot_dialect, pretty=True, copy=False
            )
        return text


class _LazyPlans(Mapping[str, ViewPlan]):
    """Plans compiled on first use: a serving process that reads two views of a
    thousand-view project compiles two."""

    def __init__(self, project: Project, dialect: EngineDialect, relations: Relations) -> None:
        self._project = project
        self._dialect = dialect
        self._relations = relations
        self._done: dict[str, ViewPlan] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> ViewPlan:
        plan = self._done.get(name)
        if plan is None:
            view = self._project.views[name]  # KeyError for unknown names, as a dict would
            with self._lock:
                plan = self._done.get(name) or _plan(view, self._dialect, self._relations)
                self._done[name] = plan
        return plan

    def __iter__(self) -> Iterator[str]:
        return iter(self._project.views)

    def __len__(self) -> int:
        return len(self._project.views)


def _plan(view: FeatureView, dialect: EngineDialect, relations: Relations) -> ViewPlan:
    plan = ViewPlan(
        view=view,
        dialect=dialect,
        create=create_table(view, relations),
        merge=merge_into(view, relations) if view.materialized == "incremental" else None,
        latest_full=latest_per_key(view, relations, with_start=False),
        latest_range=latest_per_key(view, relations, with_start=True),
        latest_since=(
            latest_per_key(view, relations, with_start=True, start_on_created=True)
            if view.created_timestamp
            else None
        ),
        relations=relations,
    )
    for part in ("create", "merge", "latest_full", "latest_range", "latest_since"):
        tree = getattr(plan, part)
        if tree is not None:  # SQL the engine would reject fails here, at compile time
            check_dialect(tree, dialect, f"view '{view.name}' ({part})", file=view.sql_path)
    return plan


@dataclass(frozen=True)
class CompiledProject:
    project: Project
    dialect: EngineDialect
    relations: Relations
    plans: Mapping[str, ViewPlan]

    def sql(self, expression: exp.Expression, pretty: bool = False) -> str:
        return self.dialect.sql(expression, pretty=pretty)

    def select_features(
        self, refs: Sequence[str | FeatureRef], full_feature_names: bool
    ) -> FeatureSelection:
        return resolve_features(self.project, refs, full_feature_names)

    def training_query(
        self, items: Sequence[PitItem], selection: FeatureSelection | None = None
    ) -> exp.Select:
        """The point-in-time join; with on-demand features in `selection`, wrapped in the
        outer SELECT that computes them (SPEC `on_demand_features`)."""
        if selection is None or not selection.on_demand:
            return point_in_time_query(items, self.relations)
        requests = [bound.column for item in selection.on_demand for bound in item.requests]
        pit = point_in_time_query(items, self.relations, list(dict.fromkeys(requests)))
        return on_demand_outer_query(
            pit, selection.columns, selection.on_demand, self.relations.dialect
        )


def compile_project(
    project: Project,
    dialect: EngineDialect,
    schema: str | None = None,
    catalog: str | None = None,
    file_root: Path | None = None,
) -> CompiledProject:
    """A compiled project whose view plans are built on first use.

    `schema` (and `catalog`) qualify the view tables: BigQuery's `project.dataset`;
    engines whose connection sets a default schema leave them unqualified."""
    relations = Relations(
        dialect, project.sources, schema, project.dialect, catalog=catalog, file_root=file_root
    )
    return CompiledProject(project, dialect, relations, _LazyPlans(project, dialect, relations))


@dataclass(frozen=True)
class FeatureSelection:
    """Requested features grouped per view (one join each), and the output column order.

    `on_demand` holds the requested on-demand features; their inputs are among `items`
    (under a hidden output name when they were not requested themselves), and their
    output names are among `columns`, in requested order.
    """

    items: tuple[PitItem, ...]
    columns: tuple[str, ...]
    refs: tuple[str, ...]
    on_demand: tuple[OnDemandItem, ...] = ()


def resolve_features(
    project: Project, refs: Sequence[str | FeatureRef], full_feature_names: bool
) -> FeatureSelection:
    """Turn `view:feature` / `view` references into per-view items, in requested order.

    Features of one view are grouped into one join (first appearance decides the
    view's position); output columns keep the requested order. A reference with an
    alias (a service entry `{view, as, join_keys}`) is a join of its own, its columns
    named `<alias>__<feature>`. Raises on unknown references and on two outputs with
    the same name.
    """
    if not refs:
        raise ProjectError("no features requested", hint="pass --features view:feature,...")
    per_group: dict[str, list[tuple[str, str]]] = {}
    group_refs: dict[str, FeatureRef] = {}
    seen: dict[str, str] = {}
    on_demand: list[tuple[OnDemandFeature, str]] = []
    for given in refs:
        ref = _parsed(given)
        odf = _on_demand_ref(project, ref)
        if odf is not None:
            out = odf.name
            if out in seen:
                if seen[out] == f"{ON_DEMAND}:{odf.name}":
                    continue
                raise ProjectError(
                    f"two requested features are both named '{out}' ({seen[out]} and "
                    f"{ON_DEMAND}:{odf.name})",
                    hint="drop one, or use --full-feature-names for the view feature",
                )
            seen[out] = f"{ON_DEMAND}:{odf.name}"
            on_demand.append((odf, out))
            continue
        problem = check_ref(ref, project.views, set())
        if problem:
            raise ProjectError(problem)
        view = project.views[ref.view]
        if ref.alias is not None and ref.alias in project.views:
            raise ProjectError(
                f"'{ref}': the alias '{ref.alias}' is the name of a feature view",
                hint="choose another `as:` name",
            )
        group_refs.setdefault(ref.group, ref)
        names = [ref.feature] if ref.feature else list(view.feature_names)
        for feature in names:
            if ref.alias is not None:
                out = f"{ref.alias}__{feature}"
            else:
                out = f"{view.name}__{feature}" if full_feature_names else feature
            source = f"{view.name}:{feature}" + (f" as {ref.alias}" if ref.alias else "")
            if out in seen:
                if seen[out] == source:
                    continue  # the same feature asked for twice: one column
                raise ProjectError(
                    f"two requested features are both named '{out}' ({seen[out]} and {source})",
                    hint="use --full-feature-names (full_feature_names=True) or drop one",
                )
            seen[out] = source
            per_group.setdefault(ref.group, []).append((feature, out))
    bound = tuple(_bind(project, odf, out, per_group) for odf, out in on_demand)
    items = tuple(
        _item(project, group_refs.get(group, FeatureRef(group)), pairs)
        for group, pairs in per_group.items()
    )
    return FeatureSelection(items, tuple(seen), tuple(str(r) for r in refs), bound)


def _parsed(given: str | FeatureRef) -> FeatureRef:
    if isinstance(given, FeatureRef):
        return given
    try:
        return FeatureRef.parse(given)
    except ValueError as err:
        raise ProjectError(str(err), hint="write view:feature or a view name") from None


def _item(project: Project, ref: FeatureRef, pairs: list[tuple[str, str]]) -> PitItem:
    """One join: the view's features `pairs` (feature, output name); a view joined
    through other entity columns is given those columns as its join keys."""
    view = project.views[ref.view]
    features = tuple(f for f, _ in pairs)
    outputs = tuple(o for _, o in pairs)
    if not ref.key_map:
        return PitItem(view, features, outputs)
    mapping = dict(ref.key_map)
    keys = tuple(mapping.get(k, k) for k in view.join_keys)
    return PitItem(replace(view, join_keys=keys), features, outputs, stored_keys=view.join_keys)


# `on_demand:name` names an on-demand feature explicitly; a bare `name` does too when no
# view is called that.
ON_DEMAND = "on_demand"


def _on_demand_ref(project: Project, ref: FeatureRef) -> OnDemandFeature | None:
    if ref.view in project.views:
        return None
    if ref.feature is None:
        return project.on_demand.get(ref.view)
    if ref.view == ON_DEMAND:
        odf = project.on_demand.get(ref.feature)
        if odf is None:
            known = ", ".join(sorted(project.on_demand)) or "none"
            raise ProjectError(
                f"no on-demand feature named '{ref.feature}'", hint=f"on-demand features: {known}"
            )
        return odf
    return None


def _bind(
    project: Project,
    odf: OnDemandFeature,
    output_name: str,
    per_group: dict[str, list[tuple[str, str]]],
) -> OnDemandItem:
    """Bind `odf`'s inputs to the output columns of their view features, adding a hidden
    column to the join for each input that was not requested itself."""
    columns: dict[tuple[str, str], str] = {}
    types: dict[tuple[str, str], FeatureType] = {}
    for ref in odf.inputs:
        view = project.views[ref.view]
        names = [ref.feature] if ref.feature else list(view.feature_names)
        for name in names:
            pairs = per_group.setdefault(view.name, [])
            column = next((o for f, o in pairs if f == name), None)
            if column is None:
                column = hidden_input(view.name, name)
                pairs.append((name, column))
            declared = view.feature(name)
            assert declared is not None  # inputs were checked when the project loaded
            columns[(view.name, name)] = column
            types[(view.name, name)] = declared.type
    return bind_on_demand(odf, output_name, columns, types)

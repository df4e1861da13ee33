"""Compile every view of a project for one dialect into SQL trees (no connection)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlglot import exp

from fsql.compile.lint import check_dialect
from fsql.compile.on_demand import on_demand_outer_query
from fsql.compile.pit import PitItem, point_in_time_query
from fsql.compile.relations import Relations
from fsql.compile.selection import FeatureSelection, resolve_features
from fsql.compile.statements import row_count
from fsql.compile.views import (
    create_table,
    key_estimate,
    latest_per_key,
    merge_into,
    view_rows_as,
)
from fsql.compile.window_rows import PUSHED_KEYS, window_rows
from fsql.definitions.models import FeatureRef, FeatureView, Project
from fsql.dialects.base import EngineDialect
from fsql.dialects.statement import Statement, read_upload


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

    def latest_statement(self, part: str, push_log: bool, partitioned: bool = False) -> Statement:
        """`latest_full`, `latest_range` or `latest_since` ready for the engine (it binds
        `end`, and `start` unless full), reading the view's push log too when it has one,
        and with `partitioned` only the keys of hash partition `$part` of `$parts` (these
        trees are built on first use: only views that need them pay for them)."""
        key = part + ("+push_log" if push_log else "") + ("+parts" if partitioned else "")
        statement = self._statements.get(key)
        if statement is None:
            if push_log or partitioned:
                assert self.relations is not None
                tree: exp.Query = latest_per_key(
                    self.view,
                    self.relations,
                    with_start=part != "latest_full",
                    start_on_created=part == "latest_since",
                    push_log=push_log,
                    partitioned=partitioned,
                )
            else:
                tree = getattr(self, part)
            statement = self._statements[key] = self.dialect.statement(tree, pretty=True)
        return statement

    def key_estimate_statement(self, with_start: bool, push_log: bool) -> Statement:
        """About how many keys a latest-per-key read yields (`key_estimate`)."""
        key = "key_estimate" + ("+start" if with_start else "") + ("+push_log" if push_log else "")
        statement = self._statements.get(key)
        if statement is None:
            assert self.relations is not None
            tree = key_estimate(self.view, self.relations, with_start, push_log)
            statement = self._statements[key] = self.dialect.statement(tree)
        return statement

    def row_count_statement(self, push_log: bool) -> Statement:
        """The rows of the view's table, and of its push log with `push_log`: a cheap
        upper bound on its keys, asked before the estimate (metadata on most engines)."""
        key = "row_count+push_log" if push_log else "row_count"
        statement = self._statements.get(key)
        if statement is None:
            assert self.relations is not None
            tree = row_count(view_rows_as(self.view, self.relations, push_log, "__fsql_rows"))
            self.dialect.finish(tree)
            statement = self._statements[key] = self.dialect.statement(tree)
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
                plan = self._done.get(name) or view_plan(view, self._dialect, self._relations)
                self._done[name] = plan
        return plan

    def __iter__(self) -> Iterator[str]:
        return iter(self._project.views)

    def __len__(self) -> int:
        return len(self._project.views)


def view_plan(view: FeatureView, dialect: EngineDialect, relations: Relations) -> ViewPlan:
    """One view's statements for `dialect` (compile workers build them one view at a
    time, fsql.compile.parallel)."""
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
    *,
    consume_models: bool = False,
) -> CompiledProject:
    """A compiled project whose view plans are built on first use.

    `schema` (and `catalog`) qualify the view tables: BigQuery's `project.dataset`;
    engines whose connection sets a default schema leave them unqualified.
    `consume_models`: the project is compiled once and dropped (`fsql compile`), so its
    model trees are resolved in place (see Relations)."""
    relations = Relations(
        dialect,
        project.sources,
        schema,
        project.dialect,
        catalog=catalog,
        file_root=file_root,
        consume_models=consume_models,
    )
    return CompiledProject(project, dialect, relations, _LazyPlans(project, dialect, relations))

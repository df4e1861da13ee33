"""Compile every view of a project for one dialect into SQL trees (no connection)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from fsql.compile.lint import check_dialect
from fsql.compile.pit import PitItem, point_in_time_query
from fsql.compile.relations import Relations
from fsql.compile.views import create_table, latest_per_key, merge_into
from fsql.definitions.models import FeatureRef, FeatureView, Project
from fsql.dialects.base import EngineDialect
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
    _text: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

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

    def select_features(self, refs: Sequence[str], full_feature_names: bool) -> FeatureSelection:
        return resolve_features(self.project, refs, full_feature_names)

    def training_query(self, items: Sequence[PitItem]) -> exp.Select:
        return point_in_time_query(items, self.relations)


def compile_project(
    project: Project,
    dialect: EngineDialect,
    schema: str | None = None,
    catalog: str | None = None,
) -> CompiledProject:
    """A compiled project whose view plans are built on first use.

    `schema` (and `catalog`) qualify the view tables: BigQuery's `project.dataset`;
    engines whose connection sets a default schema leave them unqualified."""
    relations = Relations(dialect, project.sources, schema, project.dialect, catalog=catalog)
    return CompiledProject(project, dialect, relations, _LazyPlans(project, dialect, relations))


@dataclass(frozen=True)
class FeatureSelection:
    """Requested features grouped per view (one join each), and the output column order."""

    items: tuple[PitItem, ...]
    columns: tuple[str, ...]
    refs: tuple[str, ...]


def resolve_features(
    project: Project, refs: Sequence[str], full_feature_names: bool
) -> FeatureSelection:
    """Turn `view:feature` / `view` strings into per-view items, in requested order.

    Features of one view are grouped into one join (first appearance decides the
    view's position); output columns keep the requested order. Raises on unknown
    references and on two outputs with the same name.
    """
    if not refs:
        raise ProjectError("no features requested", hint="pass --features view:feature,...")
    per_view: dict[str, list[tuple[str, str]]] = {}
    seen: dict[str, str] = {}
    for text in refs:
        try:
            ref = FeatureRef.parse(text)
        except ValueError as err:
            raise ProjectError(str(err), hint="write view:feature or a view name") from None
        problem = check_ref(ref, project.views, set())
        if problem:
            raise ProjectError(problem)
        view = project.views[ref.view]
        names = [ref.feature] if ref.feature else list(view.feature_names)
        for feature in names:
            out = f"{view.name}__{feature}" if full_feature_names else feature
            if out in seen:
                if seen[out] == f"{view.name}:{feature}":
                    continue  # the same feature asked for twice: one column
                raise ProjectError(
                    f"two requested features are both named '{out}' ({seen[out]} and "
                    f"{view.name}:{feature})",
                    hint="use --full-feature-names (full_feature_names=True) or drop one",
                )
            seen[out] = f"{view.name}:{feature}"
            per_view.setdefault(view.name, []).append((feature, out))
    items = tuple(
        PitItem(project.views[name], tuple(f for f, _ in pairs), tuple(o for _, o in pairs))
        for name, pairs in per_view.items()
    )
    return FeatureSelection(items, tuple(seen), tuple(str(r) for r in refs))

"""Parse a project into a validated `Project`, collecting every error in one pass.

Each problem becomes a ProjectError with its file and line; all of them are
raised together at the end, so a user fixes a project in one round, not ten.
The steps are plain functions sharing one `ParseContext`: metadata files first,
then each view's model, then the references between them, the DAG, and the
feature services and on-demand features over the views that parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fsql.config.project_file import load_project_config
from fsql.config.yaml_lines import line_of
from fsql.definitions.models import FeatureView, Project
from fsql.errors import ProjectError, raise_collected
from fsql.gc_pause import gc_paused
from fsql.graph.dag import Dag
from fsql.project.cached_views import CachedViews
from fsql.project.context import ParseContext
from fsql.project.files import ProjectFiles, discover
from fsql.project.metadata import read_metadata
from fsql.project.outputs import check_star_outputs, output_columns
from fsql.project.parse_cache import ParseCache
from fsql.project.refs import check_model_refs, check_ref
from fsql.project.services import parse_on_demand, parse_services
from fsql.project.views import open_renderer, parse_view

__all__ = ["check_ref", "load_project", "output_columns"]


@gc_paused()
def load_project(
    project_dir: str | Path = ".",
    cli_vars: dict[str, Any] | None = None,
    cache: ParseCache | None = None,
    files: ProjectFiles | None = None,
) -> Project:
    """Read, render, parse and validate a project; raise every problem at once.

    With `cache` (`fsql compile` only), views whose inputs are unchanged since the cache
    was written come from it, with placeholder trees (fsql.project.parse_cache).
    `files`: the project's files when the caller has just found them."""
    config = load_project_config(Path(project_dir), cli_vars)
    ctx = ParseContext(config, files or discover(config))
    if cache is not None:
        ctx.yaml_cache = cache.yaml
    metadata_read = read_metadata(ctx)
    if cache is not None:
        cache.fresh_yaml = ctx.yaml_seen
    if not metadata_read:
        # A file that cannot be read or parsed hides what it declares: checking the
        # rest now would only report consequences. Fix the YAML first.
        raise_collected(ctx.errs.errors)
    sql_files = _model_files(ctx)
    ctx.renderer = open_renderer(ctx)
    views = _parse_views(ctx, sql_files, cache)
    check_model_refs(ctx, views)
    order: tuple[str, ...] = tuple(sorted(views))
    dag = Dag({})
    if not ctx.errs.errors:
        try:
            dag = Dag(
                {v.name: v.refs for v in views.values()},
                {v.name: v.sql_path for v in views.values()},
            )
            order = dag.order
        except ProjectError as err:
            ctx.errs.errors.append(err)
        else:
            check_star_outputs(ctx, views, order)
    services = parse_services(ctx, views)
    on_demand = parse_on_demand(ctx, views)
    raise_collected(ctx.errs.errors)
    return Project(
        name=config.name,
        root=config.root,
        dialect=config.dialect,
        profile=config.profile,
        vars=dict(config.vars),
        entities=ctx.declared.entities,
        sources=ctx.declared.sources,
        views={n: views[n] for n in order},
        services=services,
        on_demand=on_demand,
        dag=dag,
        target_path=config.root / config.target_path,
        env_read=_env_read(ctx, cache),
    )


def _env_read(ctx: ParseContext, cache: ParseCache | None) -> tuple[str, ...]:
    """The environment variables the models' rendering read: this parse's, and those
    recorded for the views that came from the cache."""
    names = {n for reads in ctx.reads.values() for n in reads["env"]}
    if cache is not None:
        names.update(n for e in cache.fresh.values() for n in e.reads.get("env", []))
    return tuple(sorted(names))


def _model_files(ctx: ParseContext) -> dict[str, Path]:
    """Each model's file by model name; two files of one name are reported."""
    sql_files: dict[str, Path] = {}
    for path in ctx.files.sql:
        if path.stem in sql_files:
            ctx.errs.add(
                f"two models named '{path.stem}' (also {ctx.files.rel(sql_files[path.stem])})",
                ctx.files.rel(path),
                hint="model file names must be unique",
            )
        sql_files[path.stem] = path
    return sql_files


def _parse_views(
    ctx: ParseContext, sql_files: dict[str, Path], cache: ParseCache | None = None
) -> dict[str, FeatureView]:
    """Every declared view that parses; a view without a model, or a model without a
    view, is reported."""
    declared = ctx.declared
    views: dict[str, FeatureView] = {}
    cached = CachedViews(ctx, sql_files, cache) if cache is not None else None
    for name, (doc, display) in declared.view_docs.items():
        if name in declared.duplicates:
            continue  # reported once; checking either copy would only add noise
        if name not in sql_files:
            ctx.errs.add(
                f"feature view '{name}' has no SQL file",
                display,
                line_of(doc),
                hint=f"create {ctx.config.model_paths[0]}/{name}.sql",
            )
            continue
        if ctx.renderer is None:
            continue  # the macros could not be read: reported
        view = cached.view(name) if cached is not None else None
        if view is None:
            view = parse_view(ctx, doc, display, sql_files[name])
        if view is not None:
            views[name] = view
    if cached is not None:
        cached.record(views)
    for stem, path in sql_files.items():
        if stem not in declared.view_docs:
            ctx.errs.add(
                f"model '{stem}' has no feature_views entry",
                ctx.files.rel(path),
                hint=f"add '- name: {stem}' under feature_views in a .yml file",
            )
    return views

"""Assemble a validated `Project` from files, collecting every error in one pass.

Each problem becomes a ProjectError with its file and line; all of them are
raised together at the end, so a user fixes a project in one round, not ten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fsql.config.project_file import ProjectConfig, load_project_config
from fsql.config.yaml_lines import LineDict, line_of
from fsql.definitions.models import Entity, FeatureView, Project, Source
from fsql.errors import ProjectError, raise_collected
from fsql.graph.dag import Dag
from fsql.project.collect import ErrorCollector, check_ref
from fsql.project.files import ProjectFiles, discover
from fsql.project.metadata import MetadataMixin
from fsql.project.services import ServicesMixin
from fsql.project.views import ViewsMixin, output_columns

__all__ = ["check_ref", "load_project", "output_columns"]


def load_project(project_dir: str | Path = ".", cli_vars: dict[str, Any] | None = None) -> Project:
    """Read, render, parse and validate a project; raise every problem at once."""
    config = load_project_config(Path(project_dir), cli_vars)
    files = discover(config)
    return _Builder(config, files).build()


class _Builder(MetadataMixin, ViewsMixin, ServicesMixin):
    def __init__(self, config: ProjectConfig, files: ProjectFiles) -> None:
        self.config = config
        self.files = files
        self.errs = ErrorCollector()
        self.entities: dict[str, Entity] = {}
        self.sources: dict[tuple[str, str], Source] = {}
        self.view_docs: dict[str, tuple[LineDict, str]] = {}
        self._tokens: dict[str, list] = {}
        self.duplicates: set[str] = set()
        self.bad_sources: set[tuple[str, str]] = set()
        self.unread_yml = False
        self.service_docs: list[tuple[LineDict, str]] = []
        self.odf_docs: list[tuple[LineDict, str]] = []

    def build(self) -> Project:
        for path in self.files.yml:
            self._read_yml(path)
        if self.unread_yml:
            # A file that cannot be read or parsed hides what it declares: checking the
            # rest now would only report consequences. Fix the YAML first.
            raise_collected(self.errs.errors)
        sql_files: dict[str, Path] = {}
        for path in self.files.sql:
            if path.stem in sql_files:
                self.errs.add(
                    f"two models named '{path.stem}' (also {self.files.rel(sql_files[path.stem])})",
                    self.files.rel(path),
                    hint="model file names must be unique",
                )
            sql_files[path.stem] = path
        renderer = self._renderer()
        views: dict[str, FeatureView] = {}
        for name, (doc, display) in self.view_docs.items():
            if name in self.duplicates:
                continue  # reported once; checking either copy would only add noise
            if name not in sql_files:
                self.errs.add(
                    f"feature view '{name}' has no SQL file",
                    display,
                    line_of(doc),
                    hint=f"create {self.config.model_paths[0]}/{name}.sql",
                )
                continue
            if renderer is None:
                continue
            view = self._view(doc, display, sql_files[name], renderer)
            if view is not None:
                views[name] = view
        for stem, path in sql_files.items():
            if stem not in self.view_docs:
                self.errs.add(
                    f"model '{stem}' has no feature_views entry",
                    self.files.rel(path),
                    hint=f"add '- name: {stem}' under feature_views in a .yml file",
                )
        self._check_refs(views)
        order: tuple[str, ...] = tuple(sorted(views))
        dag = Dag({})
        if not self.errs.errors:
            try:
                dag = Dag(
                    {v.name: v.refs for v in views.values()},
                    {v.name: v.sql_path for v in views.values()},
                )
                order = dag.order
            except ProjectError as err:
                self.errs.errors.append(err)
            else:
                self._check_star_outputs(views, order)
        services = self._services(views)
        on_demand = self._on_demand(views)
        raise_collected(self.errs.errors)
        return Project(
            name=self.config.name,
            root=self.config.root,
            dialect=self.config.dialect,
            profile=self.config.profile,
            vars=dict(self.config.vars),
            entities=self.entities,
            sources=self.sources,
            views={n: views[n] for n in order},
            services=services,
            on_demand=on_demand,
            dag=dag,
            target_path=self.config.root / self.config.target_path,
        )

    # -- YAML ---------------------------------------------------------------------------------

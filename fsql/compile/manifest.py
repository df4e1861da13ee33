"""target/manifest.json: every view with its content hash, columns, types and lineage."""

from __future__ import annotations

from typing import Any

from fsql.definitions.models import Project
from fsql.version import __version__


def build_manifest(project: Project, target_name: str, engine: str) -> dict[str, Any]:
    """A JSON-ready description of the project; holds no connection settings or secrets."""
    children: dict[str, list[str]] = {name: [] for name in project.views}
    for view in project.views.values():
        for parent in view.refs:
            children.setdefault(parent, []).append(view.name)
    views = {}
    for name, view in project.views.items():
        entry = view.metadata()
        entry.update(
            content_hash=view.content_hash,
            sql_path=view.sql_path,
            yml_path=view.yml_path,
            description=view.description,
            columns=list(view.output_columns) if view.output_columns else None,
            depends_on={
                "views": list(view.refs),
                "sources": [f"{s}.{t}" for s, t in view.sources],
            },
            children=sorted(children.get(name, [])),
        )
        views[name] = entry
    return {
        "metadata": {
            "fsql_version": __version__,
            "project": project.name,
            "target": target_name,
            "engine": engine,
            "dialect": project.dialect,
        },
        "entities": {
            e.name: {"join_keys": list(e.join_keys), "description": e.description}
            for e in project.entities.values()
        },
        "sources": {
            f"{s.source_name}.{s.name}": {
                "path": s.path.as_posix() if s.path else None,
                "identifier": s.identifier,
            }
            for s in project.sources.values()
        },
        "views": views,
        "feature_services": {
            s.name: [str(r) for r in s.features] for s in project.services.values()
        },
        "on_demand_features": {
            o.name: {
                "type": o.type.value,
                "expression": o.expression.sql(dialect=project.dialect),
                "inputs": [str(r) for r in o.inputs],
            }
            for o in project.on_demand.values()
        },
        "dag": {"order": list(project.views)},
    }

"""Discovering the project's model, metadata and macro files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fsql.config.project_file import ProjectConfig


@dataclass(frozen=True)
class ProjectFiles:
    """Paths are absolute; `rel()` gives the project-relative form used in messages."""

    root: Path
    sql: tuple[Path, ...]
    yml: tuple[Path, ...]
    macros: tuple[Path, ...]

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def _walk(root: Path, folders: tuple[str, ...], suffixes: tuple[str, ...]) -> tuple[Path, ...]:
    found: list[Path] = []
    for folder in folders:
        base = (root / folder).resolve()
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_file() and path.suffix.lower() in suffixes and not path.name.startswith("."):
                found.append(path)
    return tuple(sorted(set(found)))


def discover(config: ProjectConfig) -> ProjectFiles:
    """Every `.sql` and `.yml`/`.yaml` under model-paths and `.sql` under macro-paths."""
    root = config.root
    return ProjectFiles(
        root=root,
        sql=_walk(root, config.model_paths, (".sql",)),
        yml=_walk(root, config.model_paths, (".yml", ".yaml")),
        macros=_walk(root, config.macro_paths, (".sql",)),
    )

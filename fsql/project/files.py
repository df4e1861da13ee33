"""Discovering the project's model, metadata and macro files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fsql.config.project_file import PROJECT_FILE, ProjectConfig
from fsql.errors import ProjectError


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


def _is_dir(path: Path) -> bool:
    """Like `Path.is_dir`, but False for a path the system cannot even look up."""
    try:
        return path.is_dir()
    except OSError:  # a name too long, a loop of links, ...
        return False


def _walk(root: Path, folders: tuple[str, ...], suffixes: tuple[str, ...]) -> tuple[Path, ...]:
    found: list[Path] = []
    real_root = root.resolve()
    for folder in folders:
        if not _is_dir(root / folder):
            continue
        base = (root / folder).resolve()
        for path in base.rglob("*"):
            if path.suffix.lower() in suffixes and not path.name.startswith(".") and path.is_file():
                _check_inside(path, base, root, real_root)
                found.append(path)
    return tuple(sorted(set(found)))


def _check_inside(path: Path, base: Path, root: Path, real_root: Path) -> None:
    """A file found under a project folder must not be a link to a file outside it.

    Compile copies each rendered model into target/ (often kept as a CI artifact) and
    quotes the SQL in its errors: a model linked to `~/.ssh/id_rsa` would publish it.
    A linked folder (a model path shared between projects) is fine: its files are
    checked against the folder they were found in.
    """
    real = path.resolve()
    if not (real.is_relative_to(base) or real.is_relative_to(real_root)):
        try:
            shown = path.relative_to(root).as_posix()
        except ValueError:
            shown = str(path)
        raise ProjectError(
            f"links to a file outside the project ({real})",
            file=shown,
            hint="copy the file into the project instead of linking to it",
        )


def discover(config: ProjectConfig) -> ProjectFiles:
    """Every `.sql` and `.yml`/`.yaml` under model-paths and `.sql` under macro-paths.

    A model path that is not a folder is an error: a misspelt one would otherwise
    compile an empty project and report success. Macro paths may be absent.
    """
    root = config.root
    missing = [f for f in config.model_paths if not _is_dir(root / f)]
    if missing:
        raise ProjectError(
            f"model-paths: no folder '{missing[0]}' in the project",
            file=PROJECT_FILE,
            hint="create it, or list the folders that hold the models under model-paths",
        )
    return ProjectFiles(
        root=root,
        sql=_walk(root, config.model_paths, (".sql",)),
        yml=_walk(root, config.model_paths, (".yml", ".yaml")),
        macros=_walk(root, config.macro_paths, (".sql",)),
    )

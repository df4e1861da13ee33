"""YAML loading that keeps line numbers, so errors can point at `file:line`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fsql.errors import ProjectError


class LineDict(dict):
    """A mapping that remembers the 1-based line it started on."""

    line: int | None = None


# libyaml's parser when available (several times faster on large projects); the Python
# constructor on top of it still sees every node's start mark, so lines are kept.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ProjectError(
                "a mapping key must be a plain name",
                file=getattr(loader, "fsql_file", None),
                line=key_node.start_mark.line + 1,
                hint="write keys as plain strings",
            )
        if key in out:
            raise ProjectError(
                f"duplicate key {key!r}",
                file=getattr(loader, "fsql_file", None),
                line=key_node.start_mark.line + 1,
                hint="each key may appear once in a mapping",
            )
        out[key] = loader.construct_object(value_node, deep=True)
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_text(text: str, file: str | Path) -> Any:
    """Parse YAML text; a syntax error becomes a ProjectError at the right line."""
    loader = _Loader(text)
    loader.fsql_file = str(file)  # type: ignore[attr-defined]
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = err.problem or err.context or "invalid YAML"
        raise ProjectError(
            f"invalid YAML: {problem}",
            file=file,
            line=line,
            column=column,
            hint="fix the YAML syntax",
        ) from None
    except yaml.YAMLError as err:
        raise ProjectError(f"invalid YAML: {err}", file=file, hint="fix the YAML syntax") from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path, display: str | None = None) -> Any:
    """Read and parse a YAML file, reporting it as `display` (usually project-relative)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ProjectError(f"cannot read: {err.strerror}", file=display or str(path)) from None
    return load_yaml_text(text, display or str(path))


def line_of(value: Any) -> int | None:
    return getattr(value, "line", None)

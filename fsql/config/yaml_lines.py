"""YAML loading that keeps line numbers, so errors can point at `file:line`."""

from __future__ import annotations

import math
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
    loader.fsql_file = str(file)
    try:
        data = loader.get_single_data()
        _check_expansion(data, file)
        return data
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
    except RecursionError:
        # PyYAML composes nested nodes recursively: thousands of `[` or `{` exhaust the
        # stack long before any real project would.
        raise ProjectError(
            "invalid YAML: nested too deeply",
            file=file,
            hint="metadata needs a few levels of nesting; remove the runaway brackets",
        ) from None
    finally:
        loader.dispose()


def _check_expansion(data: Any, file: str | Path) -> None:
    """Refuse YAML whose aliases multiply it far beyond what is written, or that
    contains itself.

    An alias shares the anchored value rather than copying it, so nine lines of
    anchors can stand for a billion values (the "billion laughs"): harmless until
    something walks or prints them, when it takes forever. A real project's aliases
    (`<<: *defaults`) repeat a few keys per entry, so the limit is generous.
    """
    sizes: dict[int, int] = {}  # id of a list or mapping -> values it stands for
    unique = 0
    started: set[int] = set()  # mappings and lists being walked: the current path
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, finished = stack.pop()
        if not isinstance(node, (dict, list)):
            continue  # a scalar document
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if finished:
            started.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            continue
        if key in sizes:
            continue
        if key in started:
            raise ProjectError(
                "invalid YAML: a value contains itself (a recursive alias)",
                file=file,
                hint="anchors (&name) may only be used after they end",
            )
        started.add(key)
        unique += 1
        stack.append((node, True))
        stack.extend((c, False) for c in children if isinstance(c, (dict, list)))
    if isinstance(data, (dict, list)) and sizes[id(data)] > 10 * unique + 10_000:
        raise ProjectError(
            f"invalid YAML: aliases expand {unique} lists and mappings to "
            f"{sizes[id(data)]:,} values",
            file=file,
            hint="repeat values with fewer nested aliases (*name)",
        )


def read_text(path: Path, display: str | None = None) -> str:
    """A project file's text, or a ProjectError naming the file when it cannot be read.

    Project files are UTF-8 (a leading byte-order mark, as some editors write, is
    dropped). Bytes that are not UTF-8 are reported with the line they are on, since
    the decoder's byte offset means nothing to someone looking at the file.
    """
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ProjectError(f"cannot read: {err.strerror or err}", file=shown) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ProjectError(
            f"not UTF-8 text: byte 0x{data[err.start]:02x} cannot be decoded",
            file=shown,
            line=line,
            hint="save the file as UTF-8",
        ) from None


def load_yaml_file(path: Path, display: str | None = None) -> Any:
    """Read and parse a YAML file, reporting it as `display` (usually project-relative)."""
    return load_yaml_text(read_text(path, display), display or str(path))


def line_of(value: Any) -> int | None:
    return getattr(value, "line", None)


_LINE = "\0line"
_ITEMS = "\0items"


def encode_lines(value: Any) -> Any:
    """A parsed document as JSON values that keep each mapping's line (a mapping becomes
    `{"\\0line": n, "\\0items": [[key, value], ...]}`), or None when it holds a value
    JSON cannot (a date: such a file is parsed again next time)."""
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            encoded = encode_lines(item)
            if encoded is None and item is not None:
                return None
            items.append([key, encoded])
        return {_LINE: getattr(value, "line", None), _ITEMS: items}
    if isinstance(value, list):
        out = []
        for item in value:
            encoded = encode_lines(item)
            if encoded is None and item is not None:
                return None
            out.append(encoded)
        return out
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return None


def decode_lines(value: Any) -> Any:
    """The document `encode_lines` made, with LineDicts again."""
    if isinstance(value, dict):
        out = LineDict((key, decode_lines(item)) for key, item in value[_ITEMS])
        out.line = value[_LINE]
        return out
    if isinstance(value, list):
        return [decode_lines(item) for item in value]
    return value

"""`--select` / `--exclude`: dbt's node-selection grammar over the ref() graph.

Users already know dbt's syntax, so fsql accepts the same forms rather than inventing
its own:

    name        the view `name`
    tag:x       every view tagged `x`
    +name       `name` and everything it reads from (ancestors)
    name+       `name` and everything that reads from it (descendants)
    +name+      both; the `+` operators work on `tag:x` too

One `--select`/`--exclude` value may hold several selectors separated by spaces or
commas; all selectors are unioned. The result is (union of select, or every view when
nothing is selected) minus (union of exclude), in the DAG's topological order so that
callers can run it as-is.

Unknown names and tags are errors rather than empty selections: a typo that silently
selects nothing (or excludes nothing) is worse than a failed command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fsql.errors import ProjectError, raise_collected
from fsql.graph.dag import Dag, did_you_mean

__all__ = ["Selector", "parse_selector", "select_views"]

_SEPARATORS = re.compile(r"[\s,]+")
# Optional leading '+', an optional `method:` prefix, a value without '+' or ':', and an
# optional trailing '+'. Anything else (`++a`, `a++`, `a+b`, `tag:a:b`) fails to match.
_SELECTOR = re.compile(r"\+?(?:(?P<method>[^+:]*):)?(?P<value>[^+:]*)\+?")
_METHODS = ("tag",)


@dataclass(frozen=True)
class Selector:
    """One parsed selector, e.g. `+tag:daily+`."""

    text: str
    method: str | None  # None for a plain view name, else "tag"
    value: str
    ancestors: bool
    descendants: bool


def parse_selector(text: str, *, flag: str = "--select") -> Selector:
    """Parse one selector (no separators), raising `ProjectError` when it is malformed."""
    match = _SELECTOR.fullmatch(text)
    if match is None:
        raise ProjectError(
            f"{flag}: invalid selector '{text}'",
            hint="use NAME, tag:NAME, +NAME, NAME+ or +NAME+",
        )
    method, value = match["method"], match["value"]
    if method is not None and method not in _METHODS:
        raise ProjectError(
            f"{flag}: unknown selector method '{method}:' in '{text}'",
            hint="use a view name or tag:NAME",
        )
    if not value:
        what = f"{method}: needs a name" if method else "a '+' needs a view name or tag:NAME"
        raise ProjectError(f"{flag}: invalid selector '{text}'", hint=what)
    return Selector(
        text=text,
        method=method,
        value=value,
        ancestors=text.startswith("+"),
        descendants=text.endswith("+"),
    )


def _parse_all(items: Sequence[str], flag: str) -> list[Selector]:
    """Split every item on spaces/commas and parse each piece.

    Stray separators (`"a,,b"`, trailing commas) are tolerated, but a value with no
    selector at all is an error: `--select ""` most likely means a shell variable was
    empty, and silently selecting every view would be a surprising way to handle it.
    """
    if isinstance(items, str):
        # A bare string would otherwise be split into one-character selectors.
        items = (items,)
    selectors: list[Selector] = []
    for item in items:
        pieces = [p for p in _SEPARATORS.split(item) if p]
        if not pieces:
            raise ProjectError(f"{flag}: empty selector", hint="give a view name or tag:NAME")
        selectors.extend(parse_selector(p, flag=flag) for p in pieces)
    return selectors


def _closure(dag: Dag, starts: Iterable[str], up: bool) -> set[str]:
    """`starts` plus all their ancestors (`up`) or descendants, in one shared walk.

    One multi-source walk instead of one walk per view keeps `+tag:x` linear in the
    graph size even when the tag is on hundreds of views.
    """
    step = dag.parents if up else dag.children
    seen = set(starts)
    stack = list(seen)
    while stack:
        for nxt in step(stack.pop()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _resolve(
    selectors: Iterable[Selector],
    dag: Dag,
    tag_index: Mapping[str, set[str]],
    flag: str,
    errors: list[ProjectError],
) -> set[str]:
    """The union of views the selectors name; unknown names and tags go to `errors`."""
    chosen: set[str] = set()
    up_roots: set[str] = set()
    down_roots: set[str] = set()
    for sel in selectors:
        if sel.method == "tag":
            if sel.value not in tag_index:
                errors.append(
                    ProjectError(
                        f"{flag}: no view has tag '{sel.value}'",
                        hint=did_you_mean(sel.value, tag_index, prefix="tag:"),
                    )
                )
                continue
            roots: Iterable[str] = tag_index[sel.value]
        else:
            if sel.value not in dag:
                errors.append(
                    ProjectError(
                        f"{flag}: no view named '{sel.value}'",
                        hint=did_you_mean(sel.value, dag.order),
                    )
                )
                continue
            roots = (sel.value,)
        chosen.update(roots)
        if sel.ancestors:
            up_roots.update(roots)
        if sel.descendants:
            down_roots.update(roots)
    chosen |= _closure(dag, up_roots, up=True)
    chosen |= _closure(dag, down_roots, up=False)
    return chosen


def select_views(
    dag: Dag,
    tags: Mapping[str, Iterable[str]],
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[str, ...]:
    """Views matching `select` (all when empty) and not `exclude`, in topological order.

    `tags[view]` lists the tags of `view`; views missing from `tags` have none, and
    entries for names that are not views of `dag` are ignored.
    """
    select_sels = _parse_all(select, "--select")
    exclude_sels = _parse_all(exclude, "--exclude")

    tag_index: dict[str, set[str]] = {}
    for view, view_tags in tags.items():
        if view not in dag:
            continue
        for tag in (view_tags,) if isinstance(view_tags, str) else view_tags:
            tag_index.setdefault(tag, set()).add(view)

    # Report every unknown name in --select and --exclude together, not one per run.
    errors: list[ProjectError] = []
    if select_sels:
        chosen = _resolve(select_sels, dag, tag_index, "--select", errors)
    else:
        chosen = set(dag.order)
    dropped = _resolve(exclude_sels, dag, tag_index, "--exclude", errors)
    raise_collected(errors)
    return tuple(view for view in dag.order if view in chosen and view not in dropped)

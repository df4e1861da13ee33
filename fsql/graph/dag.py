"""The ref() graph of a project: which feature view reads which, and in what order to build them.

Views `ref()` each other, so the project forms a directed graph whose edges go from a
view to the views it reads (its parents). Everything that runs views in order, or
selects a view together with its upstream or downstream, asks this module.

Projects can be large (thousands of views, long chains of derived features), so every
walk here is iterative: no recursion, hence no `RecursionError` on a 10k-deep chain.
The order is deterministic (ties broken by name) so that compiled output, logs and
golden tests do not change between runs.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from fsql.errors import ProjectError, raise_collected

__all__ = ["Dag", "did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str], *, prefix: str = "") -> str | None:
    """A "did you mean ...?" hint listing close matches, or None when nothing is close.

    Typos in view names are the most common project error; pointing at the intended
    name saves the user a trip to the file list.
    """
    matches = difflib.get_close_matches(name, sorted(candidates), n=3)
    if not matches:
        return None
    return "did you mean " + " or ".join(f"'{prefix}{m}'" for m in matches) + "?"


class Dag:
    """Immutable DAG of view names; edges go from a view to the views it ref()s.

    Built once per project and then only read, so it can be shared freely (for example
    between the requests one `FeatureStore` serves); attributes cannot be reassigned and
    every accessor returns a tuple or a fresh set.
    """

    __slots__ = ("_children", "_files", "_order", "_parents", "_position")

    _parents: dict[str, tuple[str, ...]]
    _children: dict[str, tuple[str, ...]]
    _files: dict[str, str]
    _order: tuple[str, ...]
    _position: dict[str, int]

    def __init__(
        self, deps: Mapping[str, Iterable[str]], files: Mapping[str, str] | None = None
    ) -> None:
        """Build the graph from `deps[view]` = the views `view` ref()s (its parents).

        Raises `ProjectError` when a view refs a name that is not a view (all such
        refs are reported at once) or when the refs form a cycle.
        """
        file_map = dict(files or {})
        parents: dict[str, tuple[str, ...]] = {}
        for view, refs in deps.items():
            # A bare string is iterable too: "abc" would silently become refs a, b, c.
            if isinstance(refs, str):
                raise TypeError(f"deps[{view!r}] must be an iterable of view names, not a str")
            # A view may ref() the same parent several times; the graph needs it once.
            parents[view] = tuple(sorted(set(refs)))

        errors: list[ProjectError] = []
        for view in sorted(parents):
            for ref in parents[view]:
                if ref not in parents:
                    errors.append(
                        ProjectError(
                            f"view '{view}' refs unknown view '{ref}'",
                            file=file_map.get(view),
                            hint=did_you_mean(ref, parents),
                        )
                    )
        raise_collected(errors)

        children_lists: dict[str, list[str]] = {view: [] for view in parents}
        for view in sorted(parents):
            for ref in parents[view]:
                children_lists[ref].append(view)  # appended in name order: already sorted

        _set = object.__setattr__
        _set(self, "_parents", parents)
        _set(self, "_children", {v: tuple(c) for v, c in children_lists.items()})
        _set(self, "_files", file_map)
        order = self._toposort()
        _set(self, "_order", order)
        _set(self, "_position", {view: i for i, view in enumerate(order)})

    def _toposort(self) -> tuple[str, ...]:
        """Kahn's algorithm with a heap: parents first, ties broken by name.

        O((V + E) log V). A heap rather than a plain queue so that the order depends only
        on the graph, never on the order the project files happened to be read in.
        """
        pending = {view: len(refs) for view, refs in self._parents.items()}
        ready = [view for view, n in pending.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            view = heapq.heappop(ready)
            order.append(view)
            for child in self._children[view]:
                pending[child] -= 1
                if pending[child] == 0:
                    heapq.heappush(ready, child)
        if len(order) != len(pending):
            self._raise_cycle({view for view, n in pending.items() if n > 0})
        return tuple(order)

    def _raise_cycle(self, stuck: set[str]) -> NoReturn:
        """Find one cycle among the views Kahn could not order, and report it as a path.

        Every stuck view has at least one stuck parent (otherwise it would have been
        ordered), so following stuck parents from any stuck view must revisit a view;
        the walk from that view's first visit is a cycle. Always taking the smallest
        name keeps the reported cycle stable between runs.
        """
        seen_at: dict[str, int] = {}
        path: list[str] = []
        view = min(stuck)
        while view not in seen_at:
            seen_at[view] = len(path)
            path.append(view)
            view = min(ref for ref in self._parents[view] if ref in stuck)
        cycle = path[seen_at[view] :]
        # Start the message at the smallest name so the same cycle always reads the same.
        start = cycle.index(min(cycle))
        cycle = cycle[start:] + cycle[:start]
        shown = " -> ".join([*cycle, cycle[0]])
        raise ProjectError(
            f"ref() cycle: {shown}",
            file=self._files.get(cycle[0]),
            hint="remove one of these ref() calls",
        )

    # -- read-only access -------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Dag is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Dag is immutable; cannot delete {name!r}")

    @property
    def order(self) -> tuple[str, ...]:
        """Every view in topological order: parents before children, ties broken by name."""
        return self._order

    def __contains__(self, view: object) -> bool:
        return view in self._parents

    def __len__(self) -> int:
        return len(self._parents)

    def __iter__(self) -> Iterator[str]:
        """Views in topological order."""
        return iter(self._order)

    def __repr__(self) -> str:
        return f"Dag({len(self)} views)"

    def position(self, view: str) -> int:
        """Index of `view` in `order`; O(1), for sorting subsets topologically."""
        self._check(view)
        return self._position[view]

    def file(self, view: str) -> str | None:
        """The file that defines `view`, when the caller supplied one."""
        self._check(view)
        return self._files.get(view)

    def parents(self, view: str) -> tuple[str, ...]:
        """The views `view` ref()s directly, sorted by name."""
        self._check(view)
        return self._parents[view]

    def children(self, view: str) -> tuple[str, ...]:
        """The views that ref() `view` directly, sorted by name."""
        self._check(view)
        return self._children[view]

    def ancestors(self, view: str) -> set[str]:
        """Every view `view` reads from, directly or transitively (excluding itself)."""
        self._check(view)
        return self._reach(view, self._parents)

    def descendants(self, view: str) -> set[str]:
        """Every view that reads from `view`, directly or transitively (excluding itself)."""
        self._check(view)
        return self._reach(view, self._children)

    @staticmethod
    def _reach(start: str, edges: Mapping[str, tuple[str, ...]]) -> set[str]:
        """Iterative traversal (explicit stack), so depth is bounded by memory, not recursion."""
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            view = stack.pop()
            if view not in seen:
                seen.add(view)
                stack.extend(edges[view])
        return seen

    def _check(self, view: str) -> None:
        if view not in self._parents:
            raise ProjectError(f"no view named '{view}'", hint=did_you_mean(view, self._parents))

"""Rules for the names a project declares: their spelling, fsql's reserved names, and
the "did you mean" hint for a name that matches nothing."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Names fsql gives its own tables and columns; a project's names never begin with it.
RESERVED_PREFIX = "__fsql"
# The columns online stores keep beside the features (fsql.online.base).
STORE_COLUMNS = frozenset({"__event_ts", "__created_ts", "__version"})


def reserved_column(name: str) -> bool:
    """A column name fsql's own SQL or the online stores use (`__fsql...`, `__version`)."""
    folded = name.casefold()
    return folded.startswith(RESERVED_PREFIX) or folded in STORE_COLUMNS


def hint_names(name: str, known: Iterable[str]) -> str:
    """The known names close to `name`, or all of them when none is close."""
    close = difflib.get_close_matches(name, list(known), n=3)
    return (
        f"did you mean {', '.join(close)}?"
        if close
        else f"known: {', '.join(sorted(known)) or 'none'}"
    )

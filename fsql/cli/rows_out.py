"""Online values printed for people and for programs: `get-online --format`.

`json`: one object for a single `--entity` row (as before), a list of objects for an
entity file; `table`: aligned columns; `csv`: a header and one line per entity row, lists
and maps as JSON text, NULL as an empty field.
"""

from __future__ import annotations

import csv
import io
import json as _json
from collections.abc import Mapping, Sequence, Set
from typing import Any


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return _json.dumps(value, default=str)
    return str(value)


def render(
    columns: Mapping[str, Sequence[Any]], fmt: str, single: bool, json: Set[str] = frozenset()
) -> str:
    """The rows in `fmt`; in JSON output, the columns named in `json` (features of type
    json, held as JSON text) are nested as the values they spell."""
    names = list(columns)
    count = len(next(iter(columns.values()), ()))
    rows = [{name: columns[name][i] for name in names} for i in range(count)]
    if fmt == "json":
        for row in rows:
            for name in json & set(names):
                if row[name] is not None:
                    row[name] = _json.loads(row[name])
        return _json.dumps(rows[0] if single and rows else rows, default=str, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_text(row[n]) for n in names] for row in rows])
        return out.getvalue().rstrip("\n")
    cells = [names] + [
        [_text(row[n]) if row[n] is not None else "-" for n in names] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in cells
    )

"""Mapping a line of a rendered model back to the line of its template.

Jinja keeps no source map, so sqlglot's positions refer to the rendered text.
Most lines of a model contain no template code and appear verbatim in both: the
rendered line is looked up among the template's lines, nearest first, so an error
points at the line the user wrote rather than at the rendered copy.
"""

from __future__ import annotations


def template_line(template: str, rendered: str, line: int) -> tuple[int, bool]:
    """(line in the template, exact?) for 1-based `line` of `rendered`.

    Not exact when the rendered line came from template code (a macro call, a
    substituted variable): then the rendered line number is returned unchanged.
    """
    rendered_lines = rendered.splitlines()
    template_lines = template.splitlines()
    if not 1 <= line <= len(rendered_lines):
        return line, False
    wanted = rendered_lines[line - 1].strip()
    if wanted:
        matches = [i + 1 for i, text in enumerate(template_lines) if text.strip() == wanted]
        if matches:
            return min(matches, key=lambda candidate: abs(candidate - line)), True
    if len(rendered_lines) == len(template_lines):
        return line, True
    return line, False

"""Jinja rendering of models: source(), ref(), var(), env_var(), is_incremental(), macros.

`ref()` and `source()` render placeholder table names (`__fsql_ref__view`,
`__fsql_src__source__table`) rather than real relations: the compiler swaps them
for each target's relation on the parsed tree, so one rendering serves every
engine, and identifiers never travel as pasted text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fsql.config.secrets import is_secret
from fsql.config.yaml_lines import read_text
from fsql.errors import ProjectError
from fsql.project.jinja_direct import DirectFailed, Program, program_of, run

REF_PREFIX = "__fsql_ref__"
SRC_PREFIX = "__fsql_src__"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_ENV_PREFIX = "FSQL_SECRET_"


def ref_placeholder(view: str) -> str:
    return f"{REF_PREFIX}{view}"


def source_placeholder(source: str, table: str) -> str:
    return f"{SRC_PREFIX}{source}__{table}"


@dataclass
class RenderRecord:
    """What one rendering of a model used: its DAG edges and inputs."""

    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    incremental: bool = False
    this: str = ""
    # The vars and environment variables it read (the partial-parse cache's inputs).
    vars: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)


class _Undefined(jinja2.StrictUndefined):
    pass


class ModelRenderer:
    """Renders model templates; one instance per project load (macros parsed once)."""

    def __init__(
        self, vars_: dict[str, Any], macro_files: dict[str, str], direct: bool = True
    ) -> None:
        """`direct`: run simple templates without compiling them (False: Jinja renders
        every template, the reference the direct rendering is tested against)."""
        self._vars = vars_
        self._direct = direct
        self._current = RenderRecord()
        self._templates: dict[str, jinja2.Template] = {}
        # A model file comes from a pull request and renders where warehouse credentials
        # live: the sandbox keeps it from reaching Python (attributes such as __globals__
        # or __subclasses__, methods that mutate), so it can call only what is below.
        # No compile-time optimizer: it folds constant expressions, which models hardly
        # have, and costs a third of compiling a template (each model is compiled once).
        self.env = ImmutableSandboxedEnvironment(
            undefined=_Undefined,
            autoescape=False,
            keep_trailing_newline=True,
            optimized=False,
        )
        functions: dict[str, Callable[..., Any]] = {
            "ref": self._ref,
            "source": self._source,
            "var": self._var,
            "env_var": self._env_var,
            "is_incremental": self._is_incremental,
        }
        # What a direct rendering may call (besides macros).
        self._functions: tuple[Callable[..., Any], ...] = tuple(functions.values())
        self._programs: dict[str, Program | None] = {}
        self.env.globals.update(functions)
        for display, text in macro_files.items():
            template: jinja2.Template | None = None
            try:
                template = self.env.from_string(text)
                # shared=True: macros resolve names in the live globals, so a macro may call
                # one defined in a file that sorts after its own.
                module = template.make_module(vars=self.env.globals, shared=True)
            except jinja2.TemplateSyntaxError as err:
                raise ProjectError(
                    f"macro syntax error: {err.message}",
                    file=display,
                    line=err.lineno,
                    hint="fix the Jinja in this macro file",
                ) from None
            except ProjectError as err:
                raise ProjectError(err.message, file=display, hint=err.hint) from None
            except SecurityError as err:
                raise ProjectError(
                    f"the macro file reaches outside its sandbox: {err}",
                    file=display,
                    line=_module_line(template, err),
                    hint="macros may use ref, source, var, env_var, is_incremental and macros",
                ) from None
            except Exception as err:  # top-level code of the file failed (1/0, deep nesting)
                raise ProjectError(
                    f"macro file error: {type(err).__name__}: {_first_line(err)}",
                    file=display,
                    line=_module_line(template, err),
                    hint="a macro file should hold only {% macro %} blocks",
                ) from None
            for name in dir(module):
                if not name.startswith("_"):
                    value = getattr(module, name)
                    if isinstance(value, jinja2.runtime.Macro):
                        self.env.globals[name] = value

    def _ref(self, view: str) -> str:
        if not isinstance(view, str) or not _IDENT.match(view):
            raise ProjectError(f"ref({view!r}): view names are letters, digits and _")
        if view not in self._current.refs:
            self._current.refs.append(view)
        return ref_placeholder(view)

    def _source(self, source: str, table: str) -> str:
        for part in (source, table):
            if not isinstance(part, str) or not _IDENT.match(part):
                raise ProjectError(
                    f"source({source!r}, {table!r}): names are letters, digits and _"
                )
        key = (source, table)
        if key not in self._current.sources:
            self._current.sources.append(key)
        return source_placeholder(source, table)

    def _var(self, name: str, default: Any = jinja2.Undefined) -> Any:
        if isinstance(name, str) and name not in self._current.vars:
            self._current.vars.append(name)
        if name in self._vars:
            return self._vars[name]
        if default is not jinja2.Undefined and not isinstance(default, jinja2.Undefined):
            return default
        raise ProjectError(
            f"var('{name}') is not defined",
            hint=f"set it under vars in fsql_project.yml, pass --vars '{{{name}: ...}}', "
            "or give a default",
        )

    def _env_var(self, name: str, default: Any = None) -> str:
        if name.startswith(SECRET_ENV_PREFIX):
            raise ProjectError(
                f"env_var('{name}') is a secret and cannot be used in model SQL",
                hint="secrets belong in profiles.yml only",
            )
        if isinstance(name, str) and name not in self._current.env:
            self._current.env.append(name)
        if name in os.environ:
            value = os.environ[name]
        elif default is not None:
            value = str(default)
        else:
            raise ProjectError(
                f"env_var('{name}') is not set and has no default",
                hint=f"export {name}=... or give a default",
            )
        if is_secret(value):
            raise ProjectError(
                f"env_var('{name}') holds a value used as a secret in profiles.yml",
                hint="secrets cannot be used in model SQL",
            )
        return value

    def _is_incremental(self) -> bool:
        return self._current.incremental

    def render(
        self, text: str, display: str, view: str, incremental: bool
    ) -> tuple[str, RenderRecord]:
        """Render one model; errors carry the model file and the template line. A
        template that only outputs calls and tests them is run without being compiled
        (fsql.project.jinja_direct); the others, and any run that fails, go to Jinja."""
        if text not in self._programs:
            self._programs[text] = program_of(self.env, text) if self._direct else None
        program = self._programs[text]
        if program is not None:
            record = RenderRecord(incremental=incremental, this=ref_placeholder(view))
            self._current = record
            try:
                rendered = run(program, {"this": record.this}, self.env.globals, self._functions)
                return rendered, record
            except DirectFailed:
                pass  # rendered again by Jinja below, which reports the error its own way
            finally:
                self._current = RenderRecord()
        record = RenderRecord(incremental=incremental, this=ref_placeholder(view))
        self._current = record
        try:
            template = self._templates.get(text)
            if template is None:  # each model renders twice (full, incremental): compile once
                template = self._templates[text] = self.env.from_string(text)
            rendered = template.render(this=record.this)
        except jinja2.TemplateSyntaxError as err:
            raise ProjectError(
                f"Jinja syntax error: {err.message}",
                file=display,
                line=err.lineno,
                hint="literal {{ or {# in SQL needs {% raw %}...{% endraw %}",
            ) from None
        except jinja2.UndefinedError as err:
            raise ProjectError(
                f"undefined in template: {err.message}",
                file=display,
                line=_template_line(err),
                hint="check the spelling of the variable or macro",
            ) from None
        except ProjectError as err:
            raise ProjectError(
                err.message, file=display, line=err.location.line, hint=err.hint
            ) from None
        except SecurityError as err:
            raise ProjectError(
                f"the template reaches outside its sandbox: {err}",
                file=display,
                line=_template_line(err),
                hint="models may use ref, source, var, env_var, is_incremental, this and macros",
            ) from None
        except jinja2.TemplateError as err:
            raise ProjectError(f"template error: {_first_line(err)}", file=display) from None
        except Exception as err:  # a template computing something impossible (1/0, ...)
            raise ProjectError(
                f"template error: {type(err).__name__}: {_first_line(err)}",
                file=display,
                line=_template_line(err),
            ) from None
        finally:
            self._current = RenderRecord()
        return rendered, record


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _module_line(template: jinja2.Template | None, err: BaseException) -> int | None:
    """The template line of an error raised while a macro file's module was made.

    Rendering rewrites a traceback to template lines; making a module does not, so the
    line of the compiled code is mapped back through the template's debug info.
    """
    line = _template_line(err)
    if template is None or line is None:
        return None
    return template.get_corresponding_lineno(line)


def _template_line(err: BaseException) -> int | None:
    tb = err.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def read_macros(paths: list[Path], rel: Any) -> dict[str, str]:
    """Macro file text by project-relative name; an unreadable file is a ProjectError."""
    return {rel(p): read_text(p, rel(p)) for p in paths}

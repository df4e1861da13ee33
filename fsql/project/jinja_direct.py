"""Rendering simple model templates without compiling them.

Compiling a template (Jinja's parser, its code generator, then Python's `compile`) costs
about 0.9 ms; a 1,000-view project spent a sixth of its cold compile there, though
nearly every model uses Jinja only to output calls with literal arguments
(`{{ ref('orders') }}`, `{{ day_end('event_ts') }}`), `{{ this }}`, and to test
`is_incremental()`. Such a template is read from Jinja's own token stream (its lexer
applies whitespace control, comments, raw blocks and newline normalization exactly as
for a compiled template) into a small program of text, outputs and branches, run for
each rendering.

Anything else (filters, operators, attributes, keyword arguments, loops, assignments,
macros defined in the model) makes `program_of` return None, and the template is
compiled as before. A call may only reach a macro or one of the renderer's own
functions (what the sandbox would let a template call); a run that raises, for any
reason, is abandoned and the template rendered again by Jinja (`DirectFailed`), so an
error reads exactly as it always did.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.lexer import Token

# Literal argument tokens, as Jinja's lexer gives them (strings unescaped, numbers parsed).
_LITERALS = frozenset({"string", "integer", "float"})


@dataclass(frozen=True)
class Output:
    """`{{ name }}` (args None) or `{{ name(literal, ...) }}`."""

    name: str
    args: tuple[Any, ...] | None


@dataclass(frozen=True)
class Branch:
    """`{% if %}` with its `{% elif %}`s: (negated, test, body) in order, then `else`."""

    tests: tuple[tuple[bool, Output, Program], ...]
    otherwise: Program


Piece = str | Output | Branch
Program = tuple[Piece, ...]


class DirectFailed(Exception):
    """A direct rendering could not finish: the caller renders with Jinja instead."""


class _Unsupported(Exception):
    """The template uses something a program cannot hold."""


def program_of(env: jinja2.Environment, source: str) -> Program | None:
    """`source` as a program, or None when it uses anything else (or is not valid
    Jinja: compiling it reports the error)."""
    try:
        tokens = list(env.lexer.tokenize(source))
        reader = _Reader(tokens)
        program, end = reader.body(())
        if end is not None:
            return None
    except (jinja2.TemplateSyntaxError, _Unsupported):
        return None
    return program


def run(
    program: Program,
    variables: Mapping[str, Any],
    names: Mapping[str, Any],
    callables: Collection[Callable[..., Any]],
) -> str:
    """The text `program` renders to. Names resolve as in a template: render variables
    first, then the environment's globals (`names`). Only macros and `callables` may be
    called. Raises DirectFailed (chained to the cause) when anything goes wrong."""
    out: list[str] = []
    try:
        _Run(variables, names, callables, out).pieces(program)
    except Exception as err:
        raise DirectFailed(str(err)) from err
    return "".join(out)


@dataclass(frozen=True)
class _Run:
    """One rendering: where names resolve, what may be called, the text so far."""

    variables: Mapping[str, Any]
    names: Mapping[str, Any]
    callables: Collection[Callable[..., Any]]
    out: list[str]

    def pieces(self, program: Program) -> None:
        for piece in program:
            if isinstance(piece, str):
                self.out.append(piece)
            elif isinstance(piece, Output):
                self.out.append(str(self.value(piece)))
            else:
                body = piece.otherwise
                for negated, test, then in piece.tests:
                    if bool(self.value(test)) != negated:
                        body = then
                        break
                self.pieces(body)

    def value(self, output: Output) -> Any:
        if output.name in self.variables:
            value = self.variables[output.name]
        elif output.name in self.names:
            value = self.names[output.name]
        else:
            raise KeyError(output.name)  # undefined: Jinja says so in its own words
        if isinstance(value, jinja2.Undefined):
            raise KeyError(output.name)
        if output.args is None:
            return value
        if not isinstance(value, jinja2.runtime.Macro) and value not in self.callables:
            raise TypeError(f"{output.name} is not callable here")
        return value(*output.args)


class _Reader:
    """Recursive descent over one template's tokens."""

    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._at = 0

    def _peek(self) -> str:
        return self._tokens[self._at].type if self._at < len(self._tokens) else "eof"

    def _next(self) -> Token:
        if self._at >= len(self._tokens):
            raise _Unsupported("unexpected end")
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _expect(self, kind: str) -> Token:
        token = self._next()
        if token.type != kind:
            raise _Unsupported(kind)
        return token

    def body(self, ends: tuple[str, ...]) -> tuple[Program, str | None]:
        """Pieces up to a block tag named in `ends` (returned, its name read) or the end
        of the template (None)."""
        pieces: list[Piece] = []
        while self._at < len(self._tokens):
            token = self._next()
            if token.type == "data":
                pieces.append(token.value)
            elif token.type == "variable_begin":
                pieces.append(self._output())
                self._expect("variable_end")
            elif token.type == "block_begin":
                word = self._expect("name").value
                if word in ends:
                    return tuple(pieces), word
                if word != "if":
                    raise _Unsupported(word)
                pieces.append(self._branch())
            else:
                raise _Unsupported(token.type)
        return tuple(pieces), None

    def _output(self) -> Output:
        name = self._expect("name").value
        if self._peek() != "lparen":
            return Output(name, None)
        self._at += 1
        args: list[Any] = []
        token = self._next()
        while token.type != "rparen":
            if token.type not in _LITERALS:
                raise _Unsupported(token.type)
            args.append(token.value)
            token = self._next()
            if token.type == "comma":
                token = self._next()
                if token.type == "rparen":
                    raise _Unsupported("trailing comma")
            elif token.type != "rparen":
                raise _Unsupported(token.type)
        return Output(name, tuple(args))

    def _test(self) -> tuple[bool, Output]:
        negated = False
        if self._peek() == "name" and self._tokens[self._at].value == "not":
            negated = True
            self._at += 1
        test = self._output()
        self._expect("block_end")
        return negated, test

    def _branch(self) -> Branch:
        tests: list[tuple[bool, Output, Program]] = []
        word: str | None = "elif"
        while word == "elif":
            negated, test = self._test()
            then, word = self.body(("elif", "else", "endif"))
            tests.append((negated, test, then))
        otherwise: Program = ()
        if word == "else":
            self._expect("block_end")
            otherwise, word = self.body(("endif",))
        if word != "endif":
            raise _Unsupported("if without endif")
        self._expect("block_end")
        return Branch(tuple(tests), otherwise)

"""The package's one-way flow, checked from the source: every import (module-level or
inside a function) of every module goes to an earlier layer or within its own package,
and no set of modules imports itself in a cycle. ARCHITECTURE.md describes the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "fsql"

# Earlier layers first; a module may import its own package and any earlier layer.
LAYERS: list[set[str]] = [
    {"errors", "version", "arrow_buffers", "defaults", "gc_pause"},
    {"plugins"},
    {"config", "graph"},
    {"definitions"},
    {"dialects"},
    {"project"},
    {"compile"},
    {"adapters"},
    {"execute", "online", "monitor"},
    {"store"},
    {"server"},
    {"cli", "__init__"},
]
LAYER_OF = {package: n for n, layer in enumerate(LAYERS) for package in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """Every fsql module `path` imports, with the line, resolving relative imports."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fsql" or alias.name.startswith("fsql."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name == "fsql" or name.startswith("fsql."):
                plain = False  # `from fsql.online import sqlite` imports a module
                for alias in node.names:
                    sub = f"{name}.{alias.name}"
                    if (ROOT.parent / Path(*sub.split("."))).with_suffix(".py").exists():
                        yield sub, node.lineno
                    else:
                        plain = True
                if plain or name != "fsql":  # the root package only for its own names
                    yield name, node.lineno


def graph() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path)
        out[module] = {}
        for name, line in imports(path, module):
            while name not in {module_name(p) for p in ROOT.rglob("*.py")} and "." in name:
                name = name.rsplit(".", 1)[0]  # `from fsql.x import thing`: module fsql.x
            if name != module:
                out[module].setdefault(name, line)
    return out


GRAPH = graph()


def test_every_package_has_a_layer() -> None:
    assert {package_of(m) for m in GRAPH} <= set(LAYER_OF)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_to_earlier_layers(module: str) -> None:
    own = package_of(module)
    bad = [
        f"{module} imports {target} (line {line})"
        for target, line in GRAPH[module].items()
        if package_of(target) != own
        and LAYER_OF[package_of(target)] >= LAYER_OF[own]
        and not (own == "__init__" and target.startswith("fsql."))
    ]
    assert not bad, "; ".join(bad)


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over the module graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, {}):
            if target not in GRAPH:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not cycles, "import cycles: " + " | ".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "fsql" / "execute" / "thing.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from fsql.online import base\n    from ..store import x\n")
    found = {name for name, _ in imports(source, "fsql.execute.thing")}
    assert {"fsql.online", "fsql.store"} <= found


TESTS = ROOT.parent / "tests"


def test_no_test_module_imports_another_test_module() -> None:
    """Shared test code lives in tests/support or a conftest.py, never in a test module
    that others import (its tests would run twice, or be patched from outside)."""
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                    bad.append(f"{path.relative_to(TESTS.parent)}:{node.lineno} imports {name}")
    assert not bad, "; ".join(bad)


LONG = 320  # lines; "about 300" with room for a docstring


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: module_name(p))
def test_a_long_module_says_why(path: Path) -> None:
    """Small modules with one job each: one that grows past ~300 lines says in its
    docstring (a `Size:` paragraph) why it is still one module."""
    text = path.read_text(encoding="utf-8")
    if text.count("\n") <= LONG:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "Size:" in doc, f"{path.relative_to(ROOT.parent)} has {text.count(chr(10))} lines"

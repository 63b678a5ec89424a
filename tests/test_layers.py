"""
The package's shape, drawn from its imports: data flows one way, and nothing rots it.

Layers, lowest first:

* ``syncscope._core``: global state, the primitive and the typed event, sites, the one
  hold/wait model, the one output writer. Standard library only.
* ``syncscope._intercept``: what replaces the primitives. Knows the core, never a sink.
* ``syncscope._sinks``: what listens (lines, statistics, diagnosis, spans). Knows the core and
  other sinks' public names, never the interception.
* the faces: everything else (``syncscope``, ``_api``, ``_cli``, ``testing``...).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import syncscope


PACKAGE = Path(syncscope.__file__).parent
MAX_LINES = 700

#: What each layer may import from the package.
ALLOWED = {
    "core": {"core"},
    "intercept": {"core", "intercept"},
    "sinks": {"core", "sinks"},
    "faces": {"core", "intercept", "sinks", "faces"},
}


def module_name(path: Path) -> str:
    parts = ["syncscope", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    for name in ("core", "intercept", "sinks"):
        if module == f"syncscope._{name}" or module.startswith(f"syncscope._{name}."):
            return name
    return "faces"


def imports(module: str) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, name taken from it or None, line) for every import, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:  # `from . import x`: the module x itself
                    yield submodule, None, node.lineno
                else:
                    yield source, alias.name, node.lineno


def own_imports(module: str) -> Iterator[tuple[str, str | None, int]]:
    for target, name, line in imports(module):
        if target == "syncscope" or target.startswith("syncscope."):
            yield target, name, line


def sink_of(module: str) -> str:
    """The sink a module of ``_sinks`` belongs to: a module, or the spans package."""
    parts = module.split(".")
    return ".".join(parts[:3])


class TestLayers:
    def test_every_module_is_looked_at(self) -> None:
        """The walk finds the layers (a broken walk would pass every other test)."""
        assert {"core", "intercept", "sinks", "faces"} == {layer(m) for m in MODULES}
        assert len(MODULES) > 30

    @pytest.mark.parametrize("module", sorted(MODULES))
    def test_imports_go_down_only(self, module: str) -> None:
        """The core knows nothing above it; interception and sinks never know each other."""
        wrong = [
            f"line {line}: {target}"
            for target, _name, line in own_imports(module)
            if layer(target) not in ALLOWED[layer(module)]
        ]
        assert [] == wrong

    @pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "core"))
    def test_the_core_needs_only_the_standard_library(self, module: str) -> None:
        """The core is loaded into every traced process: no third-party import, even lazily."""
        foreign = [
            f"line {line}: {target}"
            for target, _name, line in imports(module)
            if target.split(".")[0] not in sys.stdlib_module_names
            and target.split(".")[0] != "syncscope"
            and target != "__future__"
        ]
        assert [] == foreign

    @pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "sinks"))
    def test_a_sink_uses_only_public_names_of_another(self, module: str) -> None:
        """A sink may read another sink's public names, never its private ones."""
        private = [
            f"line {line}: {target}.{name}"
            for target, name, line in own_imports(module)
            if layer(target) == "sinks"
            and sink_of(target) != sink_of(module)
            and name is not None
            and name.startswith("_")
        ]
        assert [] == private

    def test_no_import_cycle(self) -> None:
        """No module imports, directly or not, one that imports it (lazy imports included)."""
        graph = {m: {t for t, _n, _l in own_imports(m) if t in MODULES} for m in MODULES}
        # A package's __init__ is imported with each of its modules: not a cycle of theirs.
        for module, targets in graph.items():
            targets.discard(module)
            targets -= {p for p in MODULES if module.startswith(p + ".")}
        cycles = []
        done: set[str] = set()

        def visit(module: str, path: list[str]) -> None:
            if module in path:
                cycles.append(" -> ".join([*path[path.index(module) :], module]))
                return
            if module in done:
                return
            for target in sorted(graph[module]):
                visit(target, [*path, module])
            done.add(module)

        for module in sorted(graph):
            visit(module, [])
        assert [] == cycles

    @pytest.mark.parametrize("module", sorted(MODULES))
    def test_modules_stay_small(self, module: str) -> None:
        """One concern per module: none grows past 700 lines."""
        lines = MODULES[module].read_text(encoding="utf-8").count("\n")
        assert lines < MAX_LINES, f"{module} has {lines} lines"

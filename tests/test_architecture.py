"""Package layering of ``customs_risk``: no import cycles between packages, layers respected.

Every module under src/ is parsed with ``ast``; every import counts, also those inside functions
(the lazy ones that keep the CLI fast), and relative imports are resolved. A module belongs to its
top-level package (``src/models/train.py`` -> ``models``, ``src/cli.py`` -> ``cli``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "customs_risk"

# package -> packages it must not import (docs/DESIGN.md "Layout")
FORBIDDEN: dict[str, set[str]] = {
    "selection": {"models", "serving", "evaluation"},
    "features": {"models", "serving", "evaluation", "selection"},
    "models": {"serving", "evaluation"},
}
BOTTOM = "data"  # imported by all, imports no other package
ONLY_IMPORTED_BY = {"jobs": {"cli"}, "cli": set(), "platform": {"jobs"}}
# what cli.py may import at module level (everything else inside the commands: fast --help)
CLI_TOP_LEVEL = {"__future__", "pathlib", "typing", "typer"}


@dataclass(frozen=True)
class Import:
    """One import of another package: where it is and what it names."""

    source: str  # package importing
    target: str  # package imported
    file: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.module}"


def module_name(path: Path, src: Path = SRC) -> str:
    """The dotted name of a file under src/ (src is the package ``customs_risk``)."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([ROOT, *parts])


def package_of(module: str) -> str | None:
    """Top-level package of a ``customs_risk`` module (None for the root or other libraries)."""
    parts = module.split(".")
    if parts[0] != ROOT or len(parts) < 2:
        return None
    return parts[1]


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterable[tuple[str, int]]:
    """(module, line) of every import in ``tree``, anywhere in it, relative ones resolved."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            yield prefix, node.lineno
            for alias in node.names:  # from customs_risk import models
                yield f"{prefix}.{alias.name}", node.lineno


def package_imports(src: Path = SRC) -> list[Import]:
    """Every import of one package by another under ``src``."""
    found: list[Import] = []
    for path in sorted(src.rglob("*.py")):
        module = module_name(path, src)
        source = package_of(module)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        seen: set[tuple[str, int]] = set()
        for name, line in imported_modules(tree, module, path.name == "__init__.py"):
            target = package_of(name)
            if target is None or target == source or (target, line) in seen:
                continue
            seen.add((target, line))
            found.append(Import(source, target, str(path.relative_to(src.parent)), line, name))
    return found


def graph_of(imports: Iterable[Import]) -> dict[str, set[str]]:
    """package -> packages it imports."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as a path ``[a, b, ..., a]``, or None when the graph is acyclic."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            state = colour.get(nxt, white)
            if state == grey:
                return stack[stack.index(nxt) :] + [nxt]
            if state == white:
                cycle = visit(nxt)
                if cycle is not None:
                    return cycle
        stack.pop()
        colour[node] = black
        return None

    for node in sorted(graph):
        if colour[node] == white:
            cycle = visit(node)
            if cycle is not None:
                return cycle
    return None


def layer_violations(imports: Iterable[Import]) -> list[str]:
    """The imports that break a layering rule, with the rule."""
    bad = []
    for imp in imports:
        if imp.source == BOTTOM:
            bad.append(f"{BOTTOM} imports no other package: {imp}")
        if imp.target in FORBIDDEN.get(imp.source, set()):
            bad.append(f"{imp.source} must not import {imp.target}: {imp}")
        allowed = ONLY_IMPORTED_BY.get(imp.target)
        if allowed is not None and imp.source not in allowed:
            who = ", ".join(sorted(allowed)) or "nothing"
            bad.append(f"{imp.target} is imported only by {who}: {imp}")
    return bad


def _imp(source: str, target: str) -> Import:
    return Import(source, target, f"src/{source}/x.py", 1, f"{ROOT}.{target}.y")


# --- the checkers can fail ---------------------------------------------------------------------
def test_find_cycle_on_hand_made_graphs() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"a"}, "a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) is None  # diamond
    assert find_cycle({}) is None


def test_layer_rules_catch_hand_made_violations() -> None:
    assert layer_violations([_imp("models", "features"), _imp("cli", "jobs")]) == []
    bad = layer_violations(
        [
            _imp("models", "evaluation"),
            _imp("data", "features"),
            _imp("serving", "jobs"),
            _imp("jobs", "cli"),
        ]
    )
    assert len(bad) == 4
    assert bad[0].startswith("models must not import evaluation: src/models/x.py:1")


def test_imports_are_read_everywhere(tmp_path: Path) -> None:
    pkg = tmp_path / "src"
    (pkg / "models").mkdir(parents=True)
    (pkg / "models" / "__init__.py").write_text("from . import a\n")
    (pkg / "models" / "a.py").write_text(
        "def f():\n"
        "    from customs_risk.evaluation import report\n"
        "    from ..serving.store import Store\n"
        "    import customs_risk.data.contracts\n"
        "    from customs_risk import selection\n"
    )
    (pkg / "cli.py").write_text("from customs_risk.jobs import decide\n")
    found = {(i.source, i.target) for i in package_imports(pkg)}
    assert found == {
        ("models", "evaluation"),
        ("models", "serving"),
        ("models", "data"),
        ("models", "selection"),
        ("cli", "jobs"),
    }


# --- the code ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def imports() -> list[Import]:
    found = package_imports()
    packages = set(graph_of(found))
    assert {"data", "features", "models", "selection", "serving", "cli", "jobs"} <= packages
    return found


def test_no_cycles_between_packages(imports: list[Import]) -> None:
    cycle = find_cycle(graph_of(imports))
    if cycle is not None:
        edges = zip(cycle, cycle[1:], strict=False)
        evidence = [str(next(i for i in imports if (i.source, i.target) == e)) for e in edges]
        pytest.fail("package cycle " + " -> ".join(cycle) + "\n" + "\n".join(evidence))


def test_layers(imports: list[Import]) -> None:
    bad = layer_violations(imports)
    assert not bad, "\n".join(bad)


def test_cli_imports_only_typer_at_module_level() -> None:
    tree = ast.parse((SRC / "cli.py").read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add((node.module or "").split(".")[0])
    assert top <= CLI_TOP_LEVEL, top - CLI_TOP_LEVEL

"""The package's layering, read from the code's own imports (every `import`, also those inside
functions and under TYPE_CHECKING): data flows one way through the stages below, no module imports one
from a later stage, no modules import each other in a cycle, and no package `__init__` holds names its own
modules import."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.paths import REPO

PACKAGE = REPO / "study"

# The stages, earliest first; a module may import from its own stage and from earlier ones only.
STAGES = [
    {"errors", "version"},
    {"spec"},
    {"plan"},
    {"runtime"},
    {"data"},
    {"engine"},
    {"check"},
    {"store"},
    {"execution"},
    {"analysis"},
    {"reporting"},
    {"ui"},
    {"results", "api"},
    {"cli"},
    {""},  # study/__init__.py: the lazy API names
]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(STAGES) if part in names)


def imports_of(path: Path) -> set[str]:
    """The package's modules (or packages) that a file imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "study":
                found.update(f"study.{a.name}" for a in node.names)
            elif node.module.startswith("study."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("study."))
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_module_belongs_to_a_declared_stage():
    for name in MODULES:
        stage_of(name)  # StopIteration names a module outside every stage


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_runs_back_up(name):
    later = sorted(m for m in GRAPH[name] if stage_of(m) > stage_of(name))
    assert not later, f"{name} (stage {stage_of(name)}) imports from a later stage: {later}"


def test_no_import_cycles_between_modules():
    edges: dict[str, set[str]] = defaultdict(set)
    for name, targets in GRAPH.items():
        edges[name] = {t for t in targets if t in MODULES and t != name}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("package", sorted(n for n, p in MODULES.items() if p.name == "__init__.py" and n != "study"))
def test_no_module_imports_from_its_own_package_init(package):
    inside = [n for n in MODULES if n.startswith(package + ".")]
    offenders = []
    for name in inside:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == package:
                names = [a.name for a in node.names if f"{package}.{a.name}" not in MODULES]
                if names:
                    offenders.append(f"{name}: from {package} import {', '.join(names)}")
    assert not offenders, offenders


def test_no_file_name_is_shared_by_three_modules():
    names: dict[str, list[str]] = defaultdict(list)
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            names[path.name].append(name)
    assert not {k: v for k, v in names.items() if len(v) >= 3}

"""study/data's modules import each name from the module that defines it, never from the package
(`from study.data import ...` in a module the package's __init__ loads is an import cycle), and the
package's __init__ is its docstring alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import study.data

PACKAGE = Path(study.data.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imports_from_the_package(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module == "study.data" or (node.level and not node.module)):
            found.append(
                f"{path.name}:{node.lineno}: from {node.module or '.'} import {', '.join(a.name for a in node.names)}"
            )
    return found


@pytest.mark.parametrize("module", MODULES)
def test_no_module_of_the_package_imports_from_the_package(module):
    assert imports_from_the_package(PACKAGE / f"{module}.py") == []


def test_the_package_init_defines_and_imports_nothing():
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)  # the docstring alone

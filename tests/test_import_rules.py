"""The arrows point one way: catalog/ imports only the standard library, trainers/ neither Ray nor
MLflow, reports/ no torch; checked on the source (every import statement) and, for the light
packages, on what importing every module actually loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"catalog": None, "trainers": {"ray", "mlflow"}, "reports": {"torch", "torchvision", "timm", "ray"}}


def imported(package: str) -> dict[str, set[str]]:
    """Top-level module names each file of `package` imports (relative imports are the package itself)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(package if node.level else str(node.module).split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_import_statement(package: str) -> None:
    for path, names in imported(package).items():
        if FORBIDDEN[package] is None:  # the standard library and the package itself only
            assert names <= set(sys.stdlib_module_names) | {"__future__", package}, path
        else:
            assert not names & FORBIDDEN[package], path


@pytest.mark.parametrize("package, heavy", [("catalog", ("torch", "ray", "mlflow", "pandas", "yaml", "numpy")),
                                            ("reports", ("torch", "ray", "timm"))])
def test_importing_every_module_loads_no_heavy_library(package: str, heavy: tuple[str, ...]) -> None:
    code = (f"import sys, pkgutil, importlib, {package}\n"
            f"for m in pkgutil.iter_modules({package}.__path__):\n"
            f"    importlib.import_module('{package}.' + m.name)\n"
            f"print(sorted(n for n in {heavy!r} if n in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"

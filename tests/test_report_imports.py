"""The report layer must stay light: no torch, no ray (the report layer imports no torch)."""

from __future__ import annotations

import subprocess
import sys


def test_reports_import_neither_torch_nor_ray() -> None:
    code = (
        "import sys, pkgutil, importlib, reports\n"
        "for m in pkgutil.iter_modules(reports.__path__):\n"
        "    importlib.import_module('reports.' + m.name)\n"
        "print(sorted(n for n in ('torch', 'ray', 'timm') if n in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

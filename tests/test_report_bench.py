"""The report benchmark runs end to end on a small store and ends with its JSON line."""

from __future__ import annotations

import json
import pathlib

import pytest

from bench.report import main


def test_bench_report_prints_runs_and_seconds(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--runs", "40", "--keep", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["runs"] == 40 and result["seconds"] > 0
    assert (tmp_path / "report" / "table1.tex").exists()

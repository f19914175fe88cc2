"""The command that resumes a stopped sweep: `zfsweep run` as typed, rebuilt from click's parameters
(orchestrator/cmdline.py), and the line a Ctrl-C outside Ray Tune's own handling ends with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator import commands
from orchestrator.cli import main
from orchestrator.cmdline import command_line

TYPED = ["grids/smoke.yaml", "--set", "profile=corrected", "--max-concurrent", "2", "--set", "seed=3",
         "--tracking-uri", "sqlite:///my runs/mlflow.db", "--retries", "0"]


def test_the_command_is_rebuilt_with_only_the_options_given() -> None:
    run = main.get_command(main.make_context("zfsweep", ["run", "--help"], resilient_parsing=True), "run")
    ctx = run.make_context("run", list(TYPED))
    assert command_line(ctx) == ("zfsweep run grids/smoke.yaml --tracking-uri 'sqlite:///my runs/mlflow.db' "
                                 "--max-concurrent 2 --retries 0 --set profile=corrected --set seed=3")


def test_an_interrupted_run_ends_with_its_resume_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def interrupted(*args: Any, **kwargs: Any) -> bool:
        raise KeyboardInterrupt  # a second Ctrl-C, while the sweep winds down

    monkeypatch.setattr(commands, "run_grid", interrupted)
    result = CliRunner().invoke(main, ["run", "grid.yaml", "--max-concurrent", "10", "--set", "epochs=1"])
    assert result.exit_code == 130
    assert result.output.splitlines()[-1] == (
        "stopped; to resume, run: zfsweep run grid.yaml --max-concurrent 10 --set epochs=1")

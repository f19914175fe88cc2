"""A tracking store that does not answer when a command starts: one line, exit 3, nothing written."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main

GRID = Path(__file__).resolve().parent.parent / "grids" / "table3.yaml"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", [["run", str(GRID)], ["run", str(GRID), "--dry-run"], ["status", str(GRID)]])
def test_a_store_that_does_not_answer_is_one_line_and_exit_3(command: list[str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"http://127.0.0.1:{closed_port()}"
    result = CliRunner().invoke(main, [*command, "--tracking-uri", uri])
    assert result.exit_code == 3, result.output
    assert result.output.count("\n") == 1 and "does not answer" in result.output and uri in result.output
    assert list(tmp_path.iterdir()) == []  # no store, no Ray folder

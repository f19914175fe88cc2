"""Which store a command uses: a garbage URI, a missing store or a taken port is one line and exit 2.

Only `zfsweep run` may create an SQLite store, and only in a folder that exists; `status`, `ui`
and `report` read one, so from the wrong folder they say the store is missing and create nothing.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.store.uri import creatable_store, resolve_tracking_uri

GRID = "fixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1, tasks: 2}\nseeds: [1]\n"


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A valid grid in an otherwise empty working directory without a store (the wrong folder)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "grid.yaml").write_text(GRID)
    return "grid.yaml"


def zfsweep(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI in a child process (`ui` would serve forever if it did not refuse)."""
    try:
        return subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", *args],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"zfsweep {' '.join(args)} did not stop within {timeout} s")


@pytest.mark.parametrize("uri, fragment", [
    ("foo://somewhere", "unknown scheme 'foo'"), ("just/a/folder", "has no scheme"),
    ("http://", "names no host"), ("https:///runs", "names no host"), ("sqlite:/x.db", "names no file"),
    ("postgresql:///mlflow", "names no host"),
])
def test_garbage_tracking_uris_are_one_line_naming_the_variable(grid: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               uri: str, fragment: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = CliRunner().invoke(main, ["run", grid, "--dry-run"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: MLFLOW_TRACKING_URI: {uri!r}") and fragment in result.output
    assert "allowed: " in result.output and len(result.output.strip().splitlines()) == 1
    assert files(tmp_path) == ["grid.yaml"]
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    flagged = CliRunner().invoke(main, ["report", "--tracking-uri", uri])
    assert flagged.exit_code == 2 and flagged.output.startswith(f"error: --tracking-uri: {uri!r}")


@pytest.mark.parametrize("command", [["report"], ["status", "grid.yaml"], ["run", "grid.yaml"],
                                     ["run", "grid.yaml", "--dry-run"]])
def test_an_sqlite_store_in_a_missing_folder_is_not_created(grid: str, tmp_path: Path, command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--tracking-uri", "sqlite:///no/such/dir/mlflow.db"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: no store at {tmp_path}/no/such/dir/mlflow.db")
    assert len(result.output.strip().splitlines()) == 1 and files(tmp_path) == ["grid.yaml"]


@pytest.mark.parametrize("command", [["status", "grid.yaml"], ["status", "grid.yaml", "--failed"], ["report"]])
def test_reading_commands_in_the_wrong_folder_say_the_store_is_missing(grid: str, tmp_path: Path,
                                                                       command: list[str]) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2 and result.output.startswith(f"error: no store at {tmp_path}/mlflow.db"), result.output
    assert files(tmp_path) == ["grid.yaml"]


def test_ui_in_the_wrong_folder_creates_no_store(grid: str, tmp_path: Path) -> None:
    done = zfsweep("ui", "--port", str(_free_port()))
    assert done.returncode == 2 and done.stderr.startswith(f"error: no store at {tmp_path}/mlflow.db"), done.stderr
    assert files(tmp_path) == ["grid.yaml"]


def test_ui_on_a_taken_port_is_one_line_and_exit_2(grid: str, tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").touch()  # exists: the port is what is wrong
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = zfsweep("ui", "--port", str(port))
    assert done.returncode == 2 and done.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is taken (another server listens there); pass another --port"), done.stderr


def test_a_store_may_be_created_only_by_run_and_only_in_a_folder_that_exists(grid: str, tmp_path: Path) -> None:
    default = resolve_tracking_uri(None)
    assert default == f"sqlite:///{tmp_path}/mlflow.db" and creatable_store(default) == default
    dry = CliRunner().invoke(main, ["run", grid, "--dry-run"])  # the plan of a fresh folder: all pending
    assert dry.exit_code == 0, dry.output
    assert files(tmp_path) == ["grid.yaml"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_list_experiments_names_those_of_the_store(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    for name in ("smoke", "table1"):
        client.create_experiment(name)
    result = CliRunner().invoke(main, ["list", "experiments", "--tracking-uri", uri])
    assert result.exit_code == 0 and result.output.splitlines() == ["smoke", "table1"], result.output

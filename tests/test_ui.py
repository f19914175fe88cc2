"""`zfsweep ui` against a real `mlflow ui` it starts: the URL it prints opens the runs table of the
right experiment with zfsweep's columns, the server runs one worker per CPU this process may use,
and SIGTERM to `zfsweep ui` stops that server, workers included."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Iterator

import psutil
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.grid.expand import load_grid
from orchestrator.store.runlog import describe_experiment, grid_axes
from orchestrator.store.runsview import VIEW_TAG, runs_pages
from orchestrator.store.tracking import Tracker
from orchestrator.store.uiserver import MAX_WORKERS
from servers import free_port, http_ok, wait_for

READY = "Ctrl-C stops the UI"


def make_store(folder: Path) -> str:
    """A store with the experiments `zfsweep run` would make: smoke (described) and other."""
    uri = f"sqlite:///{folder / 'store.db'}"
    smoke = Tracker(uri, "smoke")
    describe_experiment(smoke.client, smoke.experiment_id, "grids/smoke.yaml", "",
                        grid_axes(load_grid("grids/smoke.yaml").trials))
    Tracker(uri, "other")
    return uri


class Ui:
    def __init__(self, process: subprocess.Popen, port: int, log: Path, uri: str) -> None:
        self.process, self.port, self.log, self.uri = process, port, log, uri

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    folder = tmp_path_factory.mktemp("ui")
    uri, port, log = make_store(folder), free_port(), folder / "ui.log"
    process = subprocess.Popen([sys.executable, "-c", "from orchestrator.cli import main; main()", "ui",
                                "--port", str(port), "--tracking-uri", uri, "--experiment", "smoke"],
                               stdout=open(log, "w"), stderr=subprocess.DEVNULL)
    started = Ui(process, port, log, uri)

    def running() -> None:
        assert process.poll() is None, f"zfsweep ui exited with {process.returncode}"

    try:
        wait_for(lambda: READY in started.lines(), "zfsweep ui to print its URLs", timeout=180, alive=running)
        yield started
    finally:
        if process.poll() is None:
            process.kill()


def test_the_printed_url_opens_the_runs_table_of_the_experiment_asked_for(ui: Ui) -> None:
    (line,) = [line for line in ui.lines() if line.startswith("runs of ")]  # --experiment smoke: that one only
    found = re.fullmatch(rf"runs of smoke: http://127\.0\.0\.1:{ui.port}/#/experiments/(\d+)/runs"
                         r"\?workflowType=machine_learning&viewStateShareKey=zfsweep", line)
    assert found, line
    # What the UI's page asks its server for, at that id: the experiment, and the view the key names.
    url = f"http://127.0.0.1:{ui.port}/ajax-api/2.0/mlflow/experiments/get?experiment_id={found[1]}"
    with urllib.request.urlopen(url, timeout=30) as response:
        experiment = json.load(response)["experiment"]
    assert experiment["name"] == "smoke"
    view = json.loads({tag["key"]: tag["value"] for tag in experiment["tags"]}[VIEW_TAG])
    assert view["selectedColumns"][:3] == ["params.`method`", "params.`optimizer`", "params.`epochs`"]
    assert {"metrics.`avg_acc`", "metrics.`last_acc`", "metrics.`forgetting`"} <= set(view["selectedColumns"])


def test_every_experiment_gets_its_url_and_an_unknown_one_is_one_line(ui: Ui) -> None:
    client = MlflowClient(ui.uri)
    ids = {name: client.get_experiment_by_name(name).experiment_id for name in ("other", "smoke")}
    assert runs_pages(ui.uri, "http://h:1") == [
        (name, f"http://h:1/#/experiments/{ids[name]}/runs?workflowType=machine_learning&viewStateShareKey=zfsweep")
        for name in ("other", "smoke")]  # MLflow's unused "Default" left out
    result = CliRunner().invoke(main, ["ui", "--tracking-uri", ui.uri, "--port", str(free_port()),
                                       "--experiment", "smok"])
    assert result.exit_code == 2 and result.output == f"error: no experiment 'smok' in {ui.uri}; have: other, smoke\n"


def test_the_ui_server_has_a_worker_per_cpu_and_no_job_runner(ui: Ui) -> None:
    expected = max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))
    processes = psutil.Process(ui.process.pid).children(recursive=True)
    commands = [" ".join(p.cmdline()) for p in processes]
    (server,) = [p for p, command in zip(processes, commands) if " -m uvicorn " in command]
    assert f"--workers {expected} " in " ".join(server.cmdline()) + " "
    workers = [child for child in server.children() if "spawn_main" in " ".join(child.cmdline())]
    assert len(workers) == expected
    assert not any("huey" in command or "_job_runner" in command for command in commands)


def test_sigterm_to_the_ui_leaves_no_server_behind(ui: Ui) -> None:
    server = psutil.Process(ui.process.pid).children(recursive=True)
    assert server, "the UI runs in a child process"
    ui.process.send_signal(signal.SIGTERM)  # to zfsweep only, as a service manager would
    assert ui.process.wait(timeout=30) == 128 + signal.SIGTERM
    _, alive = psutil.wait_procs(server, timeout=15)
    assert alive == [] and not http_ok(f"http://127.0.0.1:{ui.port}/health")

"""SIGTERM to `zfsweep ui` stops the MLflow server it started, workers included."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from mlflow.tracking import MlflowClient

from servers import free_port, http_ok, wait_for


def test_sigterm_to_the_ui_leaves_no_server_behind(tmp_path: Path) -> None:
    port = free_port()
    MlflowClient(f"sqlite:///{tmp_path / 'store.db'}").search_experiments()  # `zfsweep ui` opens existing stores only
    ui = subprocess.Popen([sys.executable, "-c", "from orchestrator.cli import main; main()", "ui", "--port", str(port),
                           "--tracking-uri", f"sqlite:///{tmp_path / 'store.db'}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def running() -> None:
            assert ui.poll() is None, f"zfsweep ui exited with {ui.returncode}"

        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/health"), "the MLflow UI", timeout=180, alive=running)
        server = psutil.Process(ui.pid).children(recursive=True)
        assert server, "the UI runs in a child process"
        ui.send_signal(signal.SIGTERM)  # to zfsweep only, as a service manager would
        assert ui.wait(timeout=30) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(server, timeout=15)
        assert alive == [] and not http_ok(f"http://127.0.0.1:{port}/health")
    finally:
        if ui.poll() is None:
            ui.kill()

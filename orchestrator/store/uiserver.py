"""`zfsweep ui`: the MLflow UI as a child process that never outlives this one.

`mlflow ui` starts a web server that starts workers of its own; killing only the process this
command started (SIGTERM from a service manager, a closed terminal) would leave those serving
the store. The UI therefore runs in a process group of its own, and whatever ends this process
(the UI exiting, Ctrl-C, SIGTERM, SIGHUP) stops that whole group. It gets one worker per CPU this
process may use, up to MAX_WORKERS (MLflow's own default is four, whatever the machine), and
none of the job runner MLflow 3 starts beside them by default (eight more processes, for GenAI
scoring and trace archival, which zfsweep's runs never use; MLFLOW_SERVER_ENABLE_JOB_EXECUTION
set in the environment wins). Once it answers, the lines naming where to open it
(orchestrator/store/runsview.py) are printed below MLflow's start-up output.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from types import FrameType
from typing import Callable, Mapping

MAX_WORKERS = 8  # one person browsing runs; each worker holds its own copy of MLflow in memory
POLL_SECONDS = 0.5
WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # a server on every interface, reached here
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # this machine: no proxy


def ui_workers() -> int:
    """The UI server's workers: the CPUs this process may run on (its affinity), 1 to MAX_WORKERS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS)
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def browse_url(host: str, port: int) -> str:
    """Where a person opens a server listening on host:port (on every interface: at this machine's name)."""
    return _url(socket.gethostname() if host in WILDCARDS else host, port)


def answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port (taken, or no such interface); None if it can."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is taken (another server listens there); pass another --port"
        return f"cannot listen on {host}:{port} ({error.strerror or error}); pass another --host or --port"
    return None


def _stop_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return  # nothing of the group is left
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            try:  # the leader is gone; take any worker it left with it
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return


def serve_ui(tracking_uri: str, host: str, port: int, ready_lines: list[str], echo: Callable[[str], None]) -> int:
    """`mlflow ui` on the store with ui_workers() workers until stopped; `ready_lines` echoed once it answers."""
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", host,
               "--port", str(port), "--workers", str(ui_workers())]
    health = _url(WILDCARDS.get(host, host), port) + "/health"

    def ready() -> None:
        for line in ready_lines:
            echo(line)

    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    return serve(command, health, ready, env)


def serve(command: list[str], health_url: str | None = None, on_ready: Callable[[], None] | None = None,
          env: Mapping[str, str] | None = None) -> int:
    """Run `command` (in `env`) until it exits or this process is told to stop; its exit code (128+N on
    signal N). `on_ready` runs once `health_url` answers."""
    process = subprocess.Popen(command, start_new_session=True, env=env)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while health_url is not None and on_ready is not None and process.poll() is None:
            if answers(health_url):
                on_ready()
                break
            try:
                process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        return process.wait()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    finally:
        _stop_group(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

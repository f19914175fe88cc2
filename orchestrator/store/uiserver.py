"""`zfsweep ui`: the MLflow UI as a child process that never outlives this one.

`mlflow ui` starts a web server that starts workers of its own; killing only the process this
command started (SIGTERM from a service manager, a closed terminal) would leave those serving
the store. The UI therefore runs in a process group of its own, and whatever ends this process
(the UI exiting, Ctrl-C, SIGTERM, SIGHUP) stops that whole group.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
from types import FrameType


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


def serve(command: list[str]) -> int:
    """Run `command` until it exits or this process is told to stop; its exit code (128+N on signal N)."""
    process = subprocess.Popen(command, start_new_session=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    finally:
        _stop_group(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

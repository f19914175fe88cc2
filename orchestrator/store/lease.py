"""One driver per experiment and tracking store: a lease kept in the experiment's tags.

Two drivers of one experiment would run every pending trial twice and record two FINISHED runs
per config hash. MLflow has no compare-and-set, so each driver writes a tag of its own,
`zfsweep.lease.<random id>` (host, pid, start time, last heartbeat, held or not), on SQLite and
on a tracking server alike, and decides by reading all lease tags back:

1. write its tag, not yet held;
2. give way if another live lease is held, or sorts before its own (start time, then id);
3. mark its tag held, read again, and give way if another live lease sorts before its own.

Two drivers never both proceed: if the second to write was not seen by the first's last read,
the first was held by the second's first read; otherwise both last reads see both tags and
the later one gives way. A lease is live while its heartbeat (every HEARTBEAT_SECONDS, from a
thread) is younger than the expiry; on the same host a lease whose process is gone is dead at
once, so a re-run after a killed driver proceeds without waiting.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone

from mlflow.tracking import MlflowClient

from catalog.records import LEASE_PREFIX

HEARTBEAT_SECONDS = 10.0
EXPIRY_SECONDS = 90.0  # a lease on another host outlives its driver by at most this


class LeaseRefused(Exception):
    """Another driver holds the experiment's lease (the message names it)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """One driver's lease tag."""

    key: str
    host: str
    pid: int
    started: float
    heartbeat: float
    held: bool

    def value(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if k != "key"})

    @classmethod
    def parse(cls, key: str, value: str) -> "Holder | None":
        try:
            fields = json.loads(value)
            return cls(key, str(fields["host"]), int(fields["pid"]), float(fields["started"]),
                       float(fields["heartbeat"]), bool(fields["held"]))
        except (ValueError, KeyError, TypeError):
            return None  # not a lease this version wrote: ignored

    def alive(self, now: float, expiry: float) -> bool:
        if self.host == socket.gethostname() and not _pid_alive(self.pid):
            return False
        return now - self.heartbeat < expiry

    def order(self) -> tuple[float, str]:
        return self.started, self.key

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.started, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"host {self.host}, pid {self.pid}, started {started}"


class Lease:
    """The lease of one experiment for this driver: acquire(), then release() when the sweep ends."""

    def __init__(self, tracking_uri: str, experiment_id: str, expiry: float = EXPIRY_SECONDS,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.client = MlflowClient(tracking_uri)
        self.experiment_id, self.expiry, self.interval = experiment_id, expiry, heartbeat
        now = time.time()
        self.mine = Holder(LEASE_PREFIX + secrets.token_hex(8), socket.gethostname(), os.getpid(), now, now, False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holders(self) -> list[Holder]:
        """Every live lease tag of the experiment; dead ones are removed on the way (best effort)."""
        tags = self.client.get_experiment(self.experiment_id).tags
        now, live = time.time(), []
        for key, value in tags.items():
            holder = Holder.parse(key, value) if key.startswith(LEASE_PREFIX) else None
            if holder is None:
                continue
            if holder.alive(now, self.expiry):
                live.append(holder)
            elif key != self.mine.key:
                self._forget(key)
        return live

    def _forget(self, key: str) -> None:
        try:
            self.client.delete_experiment_tag(self.experiment_id, key)
        except Exception:  # noqa: BLE001 - another driver may have removed it first
            pass

    def _write(self) -> None:
        self.client.set_experiment_tag(self.experiment_id, self.mine.key, self.mine.value())

    def _first_rival(self, count_held: bool) -> Holder | None:
        """The live lease this driver must give way to, if any."""
        others = [h for h in self.holders() if h.key != self.mine.key]
        for other in sorted(others, key=Holder.order):
            if (count_held and other.held) or other.order() < self.mine.order():
                return other
        return None

    def acquire(self) -> None:
        """Hold the lease, or raise LeaseRefused naming the driver that holds it."""
        now = time.time()
        self.mine = replace(self.mine, started=now, heartbeat=now)
        self._write()
        for final in (False, True):
            rival = self._first_rival(count_held=not final)
            if rival is not None:
                self._forget(self.mine.key)
                raise LeaseRefused(f"another driver is running this experiment ({rival.describe()}); "
                                   f"its lease ends when it stops, or {self.expiry:.0f} s after its last "
                                   "heartbeat if it was killed on another host")
            if not final:
                self.mine = replace(self.mine, held=True)
                self._write()
        self._thread = threading.Thread(target=self._beat, name="zfsweep-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.mine = replace(self.mine, heartbeat=time.time())
            try:
                self._write()
            except Exception:  # noqa: BLE001 - a tracking outage: the next beat tries again
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._forget(self.mine.key)

    def __enter__(self) -> "Lease":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def live_holders(tracking_uri: str, experiment_id: str, expiry: float = EXPIRY_SECONDS) -> list[Holder]:
    """The drivers holding the experiment's lease now (`zfsweep status` uses it, read-only)."""
    tags = MlflowClient(tracking_uri).get_experiment(experiment_id).tags
    now = time.time()
    holders = [Holder.parse(k, v) for k, v in tags.items() if k.startswith(LEASE_PREFIX)]
    return [h for h in holders if h is not None and h.held and h.alive(now, expiry)]

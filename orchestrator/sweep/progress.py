"""Sweep progress as one line of counts: finished, running, failed, pending, GPU-hours, ETA.

A grid is thousands of trials, so Ray's per-trial table is replaced by one line. On a terminal
the line is redrawn in place (at most once a second, and after every event line); when stdout is
not a terminal (a log file, a CI job) a new line is printed whenever a count changes.
`zfsweep status` prints the same line from MLflow alone.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(frozen=True)
class Counts:
    total: int
    finished: int
    running: int
    failed: int
    gpu_hours: float
    eta_seconds: float | None
    interrupted: int = 0  # started by a driver that is gone (`zfsweep status` only)

    @property
    def pending(self) -> int:
        return self.total - self.finished - self.running - self.failed - self.interrupted

    def line(self) -> str:
        stopped = f"{self.interrupted} interrupted, " if self.interrupted else ""
        return (f"{self.total} trials: {self.finished} finished, {self.running} running, {stopped}"
                f"{self.failed} failed, {self.pending} pending, {self.gpu_hours:.2f} GPU-hours, "
                f"ETA {format_eta(self.eta_seconds)}")


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, _ = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m" if minutes else f"{int(round(seconds))}s"


def eta(remaining: int, mean_trial_seconds: float | None, slots: int) -> float | None:
    """Seconds until `remaining` trials of the mean duration are done `slots` at a time."""
    if remaining == 0:
        return 0.0
    if mean_trial_seconds is None or slots <= 0:
        return None
    return remaining * mean_trial_seconds / slots


@dataclass
class SweepProgress:
    """Counts of one sweep as its trials start and end (fed by orchestrator/sweep/recorder.py).

    Only the running trials are kept one by one; finished and failed ones are counts and sums,
    so the counts of a sweep of any length take the same memory.
    """

    total: int
    finished: int
    prior_mean_seconds: float | None = None
    settled_hours: float = 0.0  # GPU-hours of trials not running now, earlier runs included
    running: set[str] = field(default_factory=set)
    failed: int = 0
    seconds: float = 0.0  # durations of the trials finished by this sweep, summed
    timed: int = 0  # how many durations `seconds` sums
    gpu_hours: dict[str, float] = field(default_factory=dict)  # running trials: hours beyond settled_hours
    most_running: int = 0
    first_start: float | None = None  # time.monotonic() when the first trial started

    def start(self, digest: str) -> None:
        if self.first_start is None:
            self.first_start = time.monotonic()
        self.running.add(digest)
        self.most_running = max(self.most_running, len(self.running))

    def stop(self, digest: str) -> None:
        self.running.discard(digest)

    def finish(self, digest: str, seconds: float) -> None:
        self.stop(digest)
        self.finished += 1
        self.seconds += seconds
        self.timed += 1

    def fail(self, digest: str) -> None:
        self.stop(digest)
        self.failed += 1

    def settle(self, digest: str, hours: float) -> None:
        """A trial that stopped running adds `hours` (beyond its earlier runs') to the settled total."""
        self.gpu_hours.pop(digest, None)
        self.settled_hours += hours

    def counts(self) -> Counts:
        mean = self.seconds / self.timed if self.timed else self.prior_mean_seconds
        remaining = self.total - self.finished - self.failed
        return Counts(self.total, self.finished, len(self.running), self.failed,
                      self.settled_hours + sum(self.gpu_hours.values()),
                      eta(remaining, mean, max(self.most_running, 1)))


class LiveLine:
    """Prints event lines and keeps the counts line current (see module docstring)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 1.0) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.interval = interval
        self.drawn = ""
        self.last_counts: tuple[object, ...] | None = None
        self.last_draw = 0.0

    def show(self, counts: Counts, force: bool = False, note: str = "") -> None:
        """The counts line, with `note` after it (a tracking outage) when there is one."""
        line = f"{counts.line()} | {note}" if note else counts.line()
        if self.tty:
            if force or time.monotonic() - self.last_draw >= self.interval:
                self._draw(line)
            return
        # A note's numbers tick on; a log gets a new line when a count changes or a note comes or goes.
        key = (counts.finished, counts.running, counts.failed, counts.pending, re.sub(r"\d+", "", note))
        if key != self.last_counts:
            self.last_counts = key
            self.stream.write(line + "\n")
            self.stream.flush()

    def _draw(self, line: str) -> None:
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self.drawn = line
        self.last_draw = time.monotonic()

    def echo(self, line: str) -> None:
        """An event line above the counts line."""
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K" + line + "\n")
            self._draw(self.drawn)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = ""

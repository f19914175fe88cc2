"""Sweep progress as one line: the counts (finished, running, failed, pending, GPU-hours, ETA) and
which trials are running, at which task.

A grid is thousands of trials, so Ray's per-trial table is replaced by one line, ending in
`running: <label> (task 3/10), ...`. On a terminal the line is redrawn in place (at most once a
second, and after every event line), clipped to the terminal's width; when stdout is not a
terminal (a log file, a CI job) a new line, clipped to LOG_WIDTH, is printed whenever a count
changes. A sweep on a cluster without GPUs shows no GPU-hours (they would always be 0).
`zfsweep status` prints the counts from MLflow alone.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

LOG_WIDTH = 200  # a progress line in a log file: room for the counts and a few running trials


@dataclass(frozen=True)
class Counts:
    total: int
    finished: int
    running: int
    failed: int
    gpu_hours: float
    eta_seconds: float | None
    interrupted: int = 0  # started by a driver that is gone (`zfsweep status` only)
    with_gpu_hours: bool = True  # False on a cluster without GPUs, where they are always 0

    @property
    def pending(self) -> int:
        return self.total - self.finished - self.running - self.failed - self.interrupted

    def line(self) -> str:
        stopped = f"{self.interrupted} interrupted, " if self.interrupted else ""
        hours = f"{self.gpu_hours:.2f} GPU-hours, " if self.with_gpu_hours else ""
        return (f"{self.total} trials: {self.finished} finished, {self.running} running, {stopped}"
                f"{self.failed} failed, {self.pending} pending, {hours}ETA {format_eta(self.eta_seconds)}")


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
    with_gpu_hours: bool = True  # Counts.with_gpu_hours
    doing: dict[str, str] = field(default_factory=dict)  # running trials: "<label> (task k/n)"

    def start(self, digest: str) -> None:
        if self.first_start is None:
            self.first_start = time.monotonic()
        self.running.add(digest)
        self.most_running = max(self.most_running, len(self.running))

    def stop(self, digest: str) -> None:
        self.running.discard(digest)
        self.doing.pop(digest, None)

    def at_task(self, digest: str, label: str, task: int, tasks: int) -> None:
        """A running trial is at `task` (0-based) of `tasks`."""
        if digest in self.running:
            self.doing[digest] = f"{label} (task {min(task + 1, tasks)}/{tasks})"

    def running_line(self) -> str:
        """`running: <label> (task k/n), ...` in the order the trials started; '' when none runs."""
        return f"running: {', '.join(self.doing.values())}" if self.doing else ""

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
                      eta(remaining, mean, max(self.most_running, 1)), with_gpu_hours=self.with_gpu_hours)


def clip(line: str, width: int) -> str:
    """`line` cut to `width` characters, the cut marked with "..."."""
    return line if len(line) <= width else line[:max(width - 3, 0)] + "..."


class LiveLine:
    """Prints event lines and keeps the counts line current (see module docstring)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 1.0) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.interval = interval
        self.drawn = ""
        self.last_counts: tuple[object, ...] | None = None
        self.last_draw = 0.0

    def show(self, counts: Counts, force: bool = False, note: str = "", running: str = "") -> None:
        """The counts line, then `note` (a tracking outage) and `running` (SweepProgress.running_line)
        where there are any, clipped to the width there is."""
        line = " | ".join(part for part in (counts.line(), note, running) if part)
        if self.tty:
            if force or time.monotonic() - self.last_draw >= self.interval:
                self._draw(clip(line, self.columns() - 1))  # a full-width line would wrap on some terminals
            return
        line = clip(line, LOG_WIDTH)
        # A note's numbers tick on; a log gets a new line when a count changes or a note comes or goes.
        key = (counts.finished, counts.running, counts.failed, counts.pending, re.sub(r"\d+", "", note))
        if key != self.last_counts:
            self.last_counts = key
            self.stream.write(line + "\n")
            self.stream.flush()

    def columns(self) -> int:
        """The terminal's width (COLUMNS, else 80, where the stream has no terminal of its own)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return shutil.get_terminal_size().columns

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

"""Per-trial checkpoints keyed by config hash, so that any driver can resume any trial.

Ray Tune's own checkpoints belong to a Tuner's trial ids, which a new driver (after a crash or a
kill, or a sweep extended with new axis values) does not share. Keyed by config hash, one
checkpoint serves a Ray retry after a fault and a later driver alike: a trial continues after its
last finished task. The folder must be shared storage (NFS or similar, mounted at the same path
on every node) on a multi-node cluster, like Ray's own storage_path. Checkpoints hold plain
tensors and values, written atomically and loaded with `weights_only`.

A checkpoint that cannot be read (a disk fault, a truncated copy, a file that is not ours), or that
reads but is not a trial's state (another structure, a task past the trial's last), would fail its
trial on every attempt of every run, so `restore` checks it, moves a bad one to <root>/set-aside/
and falls back to the previous task's checkpoint (kept beside it), or to a fresh start.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trainers.checkpoint import STATE_FILE, load_state, save_state


@dataclass(frozen=True)
class Saved:
    """A trial's state after its task `task` (0-based)."""

    task: int
    state: dict[str, Any]


@dataclass(frozen=True)
class Restored:
    """What a trial starts from, and the unreadable checkpoints set aside on the way."""

    saved: Saved | None
    set_aside: list[tuple[Path, str]] = field(default_factory=list)  # (new path, why)


PREVIOUS = "previous"  # the checkpoint before the last one, the fallback for a corrupt last one
SET_ASIDE = "set-aside"


def folder_name(experiment: str) -> str:
    """An experiment name made safe as one path component."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", experiment) or "_"


class CheckpointStore:
    """<root>/<config hash>/trial_state.pt for the trials of one experiment."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _folder(self, digest: str) -> Path:
        return self.root / digest

    def save(self, digest: str, task: int, state: dict[str, Any]) -> None:
        """Replace the trial's checkpoint; a reader sees the old one or the new one, never a part."""
        folder = self._folder(digest)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            written = save_state({"task": task, "state": state}, Path(scratch))
            if (folder / STATE_FILE).exists():
                (folder / PREVIOUS).mkdir(exist_ok=True)
                os.replace(folder / STATE_FILE, folder / PREVIOUS / STATE_FILE)
            os.replace(written, folder / STATE_FILE)

    def load(self, digest: str) -> Saved | None:
        """The trial's last checkpoint; raises whatever reading a bad one raises."""
        return _read(self._folder(digest))

    def restore(self, digest: str, tasks: int | None = None) -> Restored:
        """The newest usable checkpoint of a trial of `tasks` tasks; bad ones are moved to <root>/set-aside/."""
        set_aside: list[tuple[Path, str]] = []
        for which, folder in (("last", self._folder(digest)), (PREVIOUS, self._folder(digest) / PREVIOUS)):
            try:
                saved = _read(folder)
                if saved is not None:
                    check_saved(saved, tasks)
            except Exception as error:  # noqa: BLE001 - any reader error means the file is unusable
                set_aside.append((self._set_aside(folder / STATE_FILE, f"{digest}-{which}"), _reason(error)))
                continue
            if saved is not None:
                return Restored(saved, set_aside)
        return Restored(None, set_aside)

    def _set_aside(self, path: Path, name: str) -> Path:
        """Move an unreadable checkpoint out of the way, kept for a look (a finished trial's folder goes)."""
        target = self.root / SET_ASIDE / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return target

    def remove(self, digest: str) -> None:
        shutil.rmtree(self._folder(digest), ignore_errors=True)

    def digests(self) -> set[str]:
        """Hashes that have a checkpoint."""
        if not self.root.is_dir():
            return set()
        return {path.name for path in self.root.iterdir() if (path / STATE_FILE).exists()}


class BadCheckpoint(ValueError):
    """A checkpoint that unpickles but is not the state of this trial after one of its tasks."""


def _read(folder: Path) -> Saved | None:
    if not (folder / STATE_FILE).exists():
        return None
    saved = load_state(folder)
    if not isinstance(saved, dict) or not {"task", "state"} <= saved.keys():
        raise BadCheckpoint("must be a mapping with 'task' and 'state'")
    if not isinstance(saved["task"], int) or isinstance(saved["task"], bool):
        raise BadCheckpoint(f"task must be an integer, got {type(saved['task']).__name__}")
    return Saved(saved["task"], saved["state"])


def check_saved(saved: Saved, tasks: int | None) -> None:
    """BadCheckpoint unless `saved` is what trainers.trial.run_trial resumes from after task `saved.task`."""
    from trainers.trial import Progress  # the trainable imports it anyway; the driver never calls this

    if tasks is not None and not 0 <= saved.task < tasks:
        raise BadCheckpoint(f"claims task {saved.task} of a trial with {tasks} tasks")
    state = saved.state
    if not isinstance(state, dict) or not {"method", "progress"} <= state.keys() or not isinstance(state["method"], dict):
        raise BadCheckpoint("state must be a mapping with 'method' and 'progress'")
    progress = state["progress"]
    if not isinstance(progress, dict):
        raise BadCheckpoint("progress must be a mapping")
    unknown = sorted(set(progress) - {f.name for f in fields(Progress)})
    if unknown:
        raise BadCheckpoint(f"unknown progress field {unknown[0]!r}")
    accuracy = progress.get("accuracy")
    if not isinstance(accuracy, list) or len(accuracy) != saved.task + 1:
        held = len(accuracy) if isinstance(accuracy, list) else "no"
        raise BadCheckpoint(f"holds {held} task accuracies after task {saved.task}")


def _reason(error: Exception) -> str:
    message = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__

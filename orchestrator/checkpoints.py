"""Per-trial checkpoints keyed by config hash, so that any driver can resume any trial.

Ray Tune's own checkpoints belong to a Tuner's trial ids, which a new driver (after a crash or a
kill, or a sweep extended with new axis values) does not share. Keyed by config hash, one
checkpoint serves a Ray retry after a fault and a later driver alike: a trial continues after its
last finished task. The folder must be shared storage (NFS or similar, mounted at the same path
on every node) on a multi-node cluster, like Ray's own storage_path. Checkpoints hold plain
tensors and values, written atomically and loaded with `weights_only`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainers.checkpoint import STATE_FILE, load_state, save_state


@dataclass(frozen=True)
class Saved:
    """A trial's state after its task `task` (0-based)."""

    task: int
    state: dict[str, Any]


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
            os.replace(written, folder / STATE_FILE)

    def load(self, digest: str) -> Saved | None:
        folder = self._folder(digest)
        if not (folder / STATE_FILE).exists():
            return None
        saved = load_state(folder)
        return Saved(int(saved["task"]), saved["state"])

    def remove(self, digest: str) -> None:
        shutil.rmtree(self._folder(digest), ignore_errors=True)

    def digests(self) -> set[str]:
        """Hashes that have a checkpoint."""
        if not self.root.is_dir():
            return set()
        return {path.name for path in self.root.iterdir() if (path / STATE_FILE).exists()}

"""Per-task trial checkpoints on disk: plain tensors and values, loaded with weights_only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trial_state.pt"


def save_state(state: dict[str, Any], folder: Path) -> Path:
    path = Path(folder) / STATE_FILE
    torch.save(state, path)
    return path


def load_state(folder: Path) -> dict[str, Any]:
    # weights_only: a checkpoint is data, never code to run.
    return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)

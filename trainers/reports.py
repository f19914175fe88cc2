"""What a trial hands its caller: a report after every epoch and task, and its result at the end.

Standard library only, so that what runs a trial (orchestrator/sweep/trainable.py in a Ray worker)
and stand-ins for the trainer (`python -m bench scale`) read these without importing torch;
trainers/trial.py makes them. Accuracies and forgetting are in percent, as in the ZeroFlow paper's
tables (arXiv 2501.01045).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class TrialResult:
    """What a trial logs (docs/internals.md, 'What each run logs'); accuracies and forgetting in percent."""

    avg_acc: float
    last_acc: float
    forgetting: float
    acc: list[float]
    peak_memory_gb: float
    epoch_seconds: float
    forward_passes: int
    wall_seconds: float
    trainable_params: int
    # What the report's logging needs beyond the paper's metrics (defaults keep stand-ins short).
    task_matrix: list[list[float]] = field(default_factory=list)  # [after task t][on task j], %
    epoch_losses: list[float] = field(default_factory=list)  # mean training loss, every epoch in order
    device: str = "cpu"  # torch device type the trial ran on: cpu, cuda, mps
    device_name: str = ""  # the GPU model for cuda, the processor otherwise
    val_acc: list[float] = field(default_factory=list)  # held-out accuracy after each task (validation > 0)
    val_avg: float | None = None  # their mean: the score a search ranks trials by

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaskReport:
    task: int
    accuracy: float
    task_accuracies: list[float]
    state: dict[str, Any]
    validation: list[float] = field(default_factory=list)  # held-out accuracy after each task so far

    @property
    def val_avg(self) -> float | None:
        """The running mean of the held-out accuracies (None without a validation split)."""
        return sum(self.validation) / len(self.validation) if self.validation else None


@dataclass(frozen=True)
class EpochReport:
    task: int
    epoch: int  # counted over the whole trial, resumed tasks included (the step `train_loss` is logged at)
    loss: float  # mean training loss; NaN for an epoch without a batch


EpochCallback = Callable[[EpochReport], None]

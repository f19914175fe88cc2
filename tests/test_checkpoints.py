"""A per-trial checkpoint that unpickles but is not a trial's state is set aside like a corrupt one.

Otherwise the trial would fail on every rerun: a wrong structure breaks `run_trial`'s resume, and
a checkpoint claiming task 99 of a 2-task trial would skip the whole trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from orchestrator.sweep.checkpoints import CheckpointStore, Restored
from trainers.checkpoint import STATE_FILE

DIGEST = "0123456789abcdef"


def state(tasks_done: int) -> dict[str, Any]:
    progress = {"accuracy": [50.0] * tasks_done, "task_matrix": [[50.0]] * tasks_done, "forward_passes": 3}
    return {"method": {"weights": torch.zeros(2)}, "progress": progress}


def restored_after_writing(tmp_path: Path, last: Any, tasks: int = 2) -> Restored:
    store = CheckpointStore(tmp_path)
    store.save(DIGEST, 0, state(1))
    store.save(DIGEST, 1, state(2))  # the task-0 checkpoint is now PREVIOUS
    torch.save(last, tmp_path / DIGEST / STATE_FILE)
    return store.restore(DIGEST, tasks=tasks)


def test_a_good_checkpoint_resumes(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save(DIGEST, 0, state(1))
    restored = store.restore(DIGEST, tasks=2)
    assert restored.saved is not None and restored.saved.task == 0 and restored.set_aside == []


@pytest.mark.parametrize("last, reason", [
    ({"task": 1, "state": "junk"}, "state must be a mapping with 'method' and 'progress'"),
    ([1, 2, 3], "must be a mapping with 'task' and 'state'"),
    ({"task": "one", "state": state(2)}, "task must be an integer"),
    ({"task": 99, "state": state(100)}, "claims task 99 of a trial with 2 tasks"),
    ({"task": -1, "state": state(0)}, "claims task -1 of a trial with 2 tasks"),
    ({"task": 1, "state": state(1)}, "holds 1 task accuracies after task 1"),
    ({"task": 1, "state": {**state(2), "progress": {**state(2)["progress"], "colour": 1}}},
     "unknown progress field 'colour'"),
])
def test_a_checkpoint_of_the_wrong_structure_is_set_aside_and_the_trial_resumes_earlier(
        tmp_path: Path, last: Any, reason: str) -> None:
    restored = restored_after_writing(tmp_path, last)
    assert restored.saved is not None and restored.saved.task == 0
    assert len(restored.set_aside) == 1
    path, why = restored.set_aside[0]
    assert path.parent == tmp_path / "set-aside" and path.exists() and reason in why, why

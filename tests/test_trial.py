"""A whole trial on digits with a tiny ViT: it learns, its metrics add up, and resuming is exact."""

from typing import Any

import pytest

from catalog.config import make_config
from trainers.trial import EpochReport, TaskReport, describe_trial, run_trial

FAST = {"dataset": "digits", "method": "aper", "epochs": 1, "device": "cpu"}


@pytest.mark.parametrize("optimizer", ["fo-sgd", "zo-sgd"])
def test_aper_on_digits_is_well_above_chance(optimizer: str) -> None:
    result = run_trial(make_config({**FAST, "optimizer": optimizer}))
    assert len(result.acc) == 5
    assert result.last_acc > 50.0  # chance over 10 classes is 10%
    assert result.avg_acc == pytest.approx(sum(result.acc) / 5)
    assert result.last_acc == result.acc[-1]
    assert result.forward_passes > 0 and result.epoch_seconds > 0 and result.peak_memory_gb > 0
    assert result.trainable_params > 0


def test_resuming_after_a_task_gives_the_uninterrupted_result() -> None:
    config = make_config({**FAST, "optimizer": "zo-sgd"})
    reports: list[TaskReport] = []
    full = run_trial(config, on_task_end=reports.append)
    assert [r.task for r in reports] == [0, 1, 2, 3, 4]
    resumed = run_trial(config, resume=reports[1].state)
    assert resumed.acc == full.acc
    assert resumed.forgetting == full.forgetting
    assert resumed.forward_passes == full.forward_passes


def test_each_epochs_loss_is_handed_on_as_the_epoch_ends() -> None:
    config = make_config({**FAST, "method": "ease", "optimizer": "fo-sgd", "epochs": 2})  # EASE trains every task
    events: list[EpochReport | TaskReport] = []
    full = run_trial(config, on_task_end=events.append, on_epoch_end=events.append)
    epochs = [e for e in events if isinstance(e, EpochReport)]
    assert [(e.task, e.epoch) for e in epochs] == [(t, 2 * t + i) for t in range(5) for i in range(2)]
    assert [e.loss for e in epochs] == full.epoch_losses
    # While the trial runs: a task's epochs come before the end of that task, not with the result.
    assert [type(e).__name__[0] for e in events[:3]] == ["E", "E", "T"]
    task_one = next(e for e in events if isinstance(e, TaskReport) and e.task == 1)
    resumed: list[EpochReport] = []
    run_trial(config, resume=task_one.state, on_epoch_end=resumed.append)
    assert [e.epoch for e in resumed] == list(range(4, 10))  # counted over the whole trial


def test_dry_run_reports_the_trainable_adapters_and_head() -> None:
    info: dict[str, Any] = describe_trial(make_config(FAST))
    assert info["num_classes"] == 10 and info["tasks"] == 5 and info["backbone"] == "test_vit"
    # test_vit: 6 blocks of width 64 -> adapters 6 * (64*64+64 + 64*64+64) plus a 2-class cosine head (2*64 + sigma)
    assert info["trainable_params"] == 6 * (2 * 64 * 64 + 64 + 64) + 2 * 64 + 1

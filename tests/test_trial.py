"""A whole trial on digits with a tiny ViT: it learns, its metrics add up, and resuming is exact."""

from typing import Any

import pytest

from catalog.config import make_config
from trainers.trial import TaskReport, describe_trial, run_trial

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


def test_dry_run_reports_the_trainable_adapters_and_head() -> None:
    info: dict[str, Any] = describe_trial(make_config(FAST))
    assert info["num_classes"] == 10 and info["tasks"] == 5 and info["backbone"] == "test_vit"
    # test_vit: 6 blocks of width 64 -> adapters 6 * (64*64+64 + 64*64+64) plus a 2-class cosine head (2*64 + sigma)
    assert info["trainable_params"] == 6 * (2 * 64 * 64 + 64 + 64) + 2 * 64 + 1

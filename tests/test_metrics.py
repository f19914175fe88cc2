"""Avg, Last and forgetting on an accuracy matrix computed by hand."""

import pytest

from trainers.metrics import forgetting, summarize


def test_metrics_match_hand_computation() -> None:
    # rows: after task k; columns: accuracy on task j's classes (j <= k)
    matrix = [[90.0], [80.0, 70.0], [60.0, 75.0, 50.0]]
    accuracy = [90.0, 75.0, 61.0]
    metrics = summarize(accuracy, matrix)
    assert metrics.avg_acc == pytest.approx((90 + 75 + 61) / 3)
    assert metrics.last_acc == 61.0
    # task 0: max(90, 80, 60) - 60 = 30; task 1: max(70, 75) - 75 = 0
    assert metrics.forgetting == pytest.approx(15.0)


def test_forgetting_uses_the_best_accuracy_after_learning() -> None:
    # accuracy on task 0 rises after task 1 (backward transfer) and then drops
    assert forgetting([[50.0], [70.0, 60.0], [40.0, 60.0, 80.0]]) == pytest.approx((30.0 + 0.0) / 2)


def test_one_task_has_no_forgetting() -> None:
    assert summarize([88.0], [[88.0]]).forgetting == 0.0


def test_mismatched_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        summarize([1.0, 2.0], [[1.0]])

"""The training loop's plan: hybrid FO -> ZO phases, and which settings reach each optimizer."""

import dataclasses

import pytest

from catalog.config import make_config
from trainers.presets import resolve
from trainers.training import optimizer_settings, phases


@pytest.mark.parametrize("optimizer, hybrid, expected", [
    ("zo-sgd", 0.0, [("zo-sgd", 8)]),
    ("zo-sgd", 0.75, [("fo-sgd", 6), ("zo-sgd", 2)]),
    ("zo-adam-sign", 0.5, [("fo-adam", 4), ("zo-adam-sign", 4)]),
    ("fo-sgd", 0.5, [("fo-sgd", 8)]),  # a first-order trial has nothing to switch to
])
def test_hybrid_trains_the_first_fraction_of_epochs_first_order(optimizer: str, hybrid: float,
                                                                 expected: list) -> None:
    config = make_config({"dataset": "digits", "optimizer": optimizer, "epochs": 8, "hybrid": hybrid})
    assert phases(config) == expected


def test_each_optimizer_gets_only_the_settings_it_takes() -> None:
    config = resolve(make_config({"dataset": "digits", "optimizer": "zo-sgd", "q": 4, "historical": 0.4}))
    zo = optimizer_settings("zo-sgd", config, seed=7)
    assert zo["q"] == 4 and zo["historical"] == 0.4 and zo["seed"] == 7 and zo["lr"] == config.lr
    fo = optimizer_settings("fo-sgd", dataclasses.replace(config, optimizer="fo-sgd"), seed=7)
    assert "q" not in fo and "historical" not in fo and fo["momentum"] == config.momentum

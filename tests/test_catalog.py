"""The catalog (catalog/) is the one declaration of every name and knob; each entry must be usable
where the rest of zfsweep looks it up."""

from __future__ import annotations

import dataclasses

import pytest

from catalog.config import ESTIMATOR_FORMS, KNOBS, OPTIMIZER_KNOBS, TrialConfig
from catalog.names import DATASET_NAMES, METHOD_NAMES, PAPER_DATASETS
from catalog.optimizers import OPTIMIZERS, PAPER_OPTIMIZERS
from catalog.paper import DATASETS as PAPER_COLUMNS
from catalog.paper import TABLE1_ROWS
from reports.tables import TABLE1_OPTIMIZERS
from trainers.data import SOURCES
from trainers.methods import METHOD_BUILDERS
from trainers.optim import strategy_class
from trainers.optim.base import Strategy
from trainers.optim.settings import Settings
from trainers.presets import optimizer_family


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_strategy_path_imports_a_strategy(name: str) -> None:
    assert issubclass(strategy_class(OPTIMIZERS[name]), Strategy)


@pytest.mark.parametrize("name", list(KNOBS))
def test_every_knob_default_passes_its_own_rule(name: str) -> None:
    assert KNOBS[name].problem(KNOBS[name].default) is None
    neutral = KNOBS[name].neutral
    if KNOBS[name].rule.optimizer and name != "lr" and neutral is not None:  # None: unset, the knob's default
        assert KNOBS[name].rule.allows(neutral), f"{name}'s neutral value breaks its rule"


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_default_is_an_optimizer_knob_within_its_rule(name: str) -> None:
    for key, value in OPTIMIZERS[name].defaults.items():
        assert key in OPTIMIZER_KNOBS, f"{name}: '{key}' is not declared with optimizer=True in catalog/config.py"
        assert (value is None and KNOBS[key].neutral is None) or KNOBS[key].rule.allows(value), \
            f"{name}: default {key}={value!r}"
    assert optimizer_family(name) in PAPER_OPTIMIZERS


def test_estimator_forms_in_the_table_are_the_neutral_ones() -> None:
    """The table's defaults are `corrected`'s forms, which the hash leaves out; `released` sets the others."""
    for name, spec in OPTIMIZERS.items():
        for key in set(spec.defaults) & set(ESTIMATOR_FORMS):
            assert spec.defaults[key] == KNOBS[key].neutral, f"{name}: {key}"


def test_settings_hold_exactly_the_optimizer_knobs() -> None:
    assert {field.name for field in dataclasses.fields(Settings)} == set(OPTIMIZER_KNOBS)


def test_fo_keys_and_types_are_knobs() -> None:
    for name, knob in KNOBS.items():
        if knob.rule.fo_key:
            assert KNOBS[knob.rule.fo_key].kind is knob.kind, name
    assert set(KNOBS) == {field.name for field in dataclasses.fields(TrialConfig)}


def test_every_dataset_has_a_source_and_every_method_a_builder() -> None:
    assert set(SOURCES) == set(DATASET_NAMES)
    assert set(METHOD_BUILDERS) == set(METHOD_NAMES)


def test_the_paper_tables_follow_the_table() -> None:
    assert set(TABLE1_OPTIMIZERS) == set(PAPER_OPTIMIZERS)  # Table 1 groups them by base optimizer
    assert PAPER_COLUMNS == PAPER_DATASETS
    assert {optimizer for _, optimizer in TABLE1_ROWS} == set(PAPER_OPTIMIZERS)

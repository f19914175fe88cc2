"""Optimizer settings: a strategy's defaults merged with the caller's overrides, checked once.

The fields are the knobs catalog/config.py declares with `optimizer=True`, and each value is
checked by that knob's rule, so the trial config and the optimizers cannot drift apart. A knob
a strategy does not take keeps its neutral value, which the strategy never reads. Every bad
setting fails here, before any model is touched, with a one-line ValueError naming the
optimizer, the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from catalog.config import KNOBS, OPTIMIZER_KNOBS
from catalog.optimizers import OptimizerSpec

# lr has no neutral value: every strategy takes it.
Settings = dataclasses.make_dataclass(
    "Settings",
    [(name, KNOBS[name].kind) if name == "lr" else (name, KNOBS[name].kind, dataclasses.field(default=KNOBS[name].neutral))
     for name in sorted(OPTIMIZER_KNOBS, key=lambda name: name != "lr")],
    frozen=True,
)
Settings.__module__ = __name__
Settings.__doc__ = "Resolved optimizer settings; knobs a strategy does not take keep neutral values it never reads."


def setting_error(key: str, value: Any) -> str | None:
    """What is wrong with `value` for setting `key`, or None if it is allowed (None where the knob's
    neutral value is None: unset)."""
    knob = KNOBS[key]
    if (value is None and knob.rule.optimizer and knob.rule.neutral is None and key != "lr") or knob.rule.allows(value):
        return None
    unset = ", or unset" if knob.rule.neutral is None and key != "lr" else ""
    return f"{value!r} is invalid; allowed: {knob.rule.allowed}{unset}"


def resolve_settings(spec: OptimizerSpec, overrides: dict[str, Any]) -> Any:
    """The spec's defaults updated with `overrides`, as Settings; raises ValueError on the first bad key."""
    for key in overrides:
        if key not in spec.defaults:
            raise ValueError(f"optimizer '{spec.name}': unknown setting '{key}'; allowed: {', '.join(spec.defaults)}")
    values = {**spec.defaults, **overrides}
    for key, value in values.items():
        problem = setting_error(key, value)
        if problem:
            raise ValueError(f"optimizer '{spec.name}': {key}={problem}")
    if spec.conserve and values["q"] != 1:
        raise ValueError(f"optimizer '{spec.name}': q={values['q']!r} is invalid; allowed: 1 "
                         "(Conserve compares candidates of a single estimate)")
    floats = {key: float(value) for key, value in values.items() if KNOBS[key].kind is float and value is not None}
    return Settings(**{**values, **floats})

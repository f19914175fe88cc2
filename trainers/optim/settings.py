"""Optimizer settings: a strategy's defaults merged with the caller's overrides, checked once.

Every bad setting fails here, before any model is touched, with a one-line ValueError naming the
optimizer, the key, the value and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable

from trainers.optim.registry import FORMS, OptimizerSpec

SPARSITY_MODES = ("exact", "released")
CONSERVE_MODES = ("exact", "replay")


@dataclass(frozen=True)
class Settings:
    """Resolved settings; keys a strategy does not accept keep neutral values it never reads."""

    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    q: int = 1
    eps: float = 1e-3
    historical: float = 0.0
    sparsity: float = 0.0
    sparsity_mode: str = "exact"
    seed: int = 0
    conserve: str = "exact"
    adamw: bool = False
    magnitude_ratio: float = 1.0
    rank: int = 1
    period: int = 1
    hessian_smooth: float = 0.0
    ns_steps: int = 5
    # Released vs corrected forms of the estimators beyond the paper (registry.FORMS).
    decay_rule: str = "all"
    lozo_scale: str = "inverse-rank"
    subspace_shape: str = "native"
    hizoo_hessian: str = "old"
    muon_sided: str = "two"
    muon_vector_lr: float | None = None


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# key -> (test the value must pass, what is allowed)
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lr": (lambda v: _real(v) and v >= 0, "a number >= 0"),
    "momentum": (lambda v: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v: _real(v) and v >= 0, "a number >= 0"),
    "q": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "eps": (lambda v: _real(v) and v > 0, "a number > 0"),
    "historical": (lambda v: _real(v) and 0 <= v < 1, "a ratio in [0, 1)"),
    "sparsity": (lambda v: _real(v) and 0 <= v < 1, "a ratio in [0, 1)"),
    "sparsity_mode": (lambda v: v in SPARSITY_MODES, " or ".join(SPARSITY_MODES)),
    "seed": (lambda v: _integer(v) and 0 <= v < 2**63, "an integer in [0, 2**63)"),
    "conserve": (lambda v: v in CONSERVE_MODES, " or ".join(CONSERVE_MODES)),
    "adamw": (lambda v: isinstance(v, bool), "true or false"),
    "magnitude_ratio": (lambda v: _real(v) and 0 < v <= 1, "a ratio in (0, 1]"),
    "rank": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "period": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (steps)"),
    "hessian_smooth": (lambda v: _real(v) and 0 <= v < 1, "a ratio in [0, 1)"),
    "ns_steps": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    **{key: ((lambda v, allowed=allowed: v in allowed), " or ".join(allowed)) for key, allowed in FORMS.items()},
    "muon_vector_lr": (lambda v: v is None or (_real(v) and v >= 0), "a number >= 0, or unset (the trial's lr)"),
}
_FLOAT_KEYS = tuple(f.name for f in fields(Settings) if f.type == "float") + ("muon_vector_lr",)


def setting_error(key: str, value: Any) -> str | None:
    """What is wrong with `value` for setting `key` ('must be ...'), or None if it is allowed."""
    test, meaning = _RULES[key]
    return None if test(value) else f"{value!r} is invalid; allowed: {meaning}"


def resolve_settings(spec: OptimizerSpec, overrides: dict[str, Any]) -> Settings:
    """The spec's defaults updated with `overrides`; raises ValueError on the first bad key."""
    allowed = list(spec.defaults)
    for key in overrides:
        if key not in spec.defaults:
            raise ValueError(f"optimizer '{spec.name}': unknown setting '{key}'; allowed: {', '.join(allowed)}")
    values = {**spec.defaults, **overrides}
    for key, value in values.items():
        test, meaning = _RULES[key]
        if not test(value):
            raise ValueError(f"optimizer '{spec.name}': {key}={value!r} is invalid; allowed: {meaning}")
    if spec.conserve and values["q"] != 1:
        raise ValueError(f"optimizer '{spec.name}': q={values['q']!r} is invalid; allowed: 1 "
                         "(Conserve compares candidates of a single estimate)")
    floats = {key: float(value) for key, value in values.items() if key in _FLOAT_KEYS and value is not None}
    return Settings(**{**values, **floats})

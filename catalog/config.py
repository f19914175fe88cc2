"""The trial configuration: one frozen dataclass whose fields are zfsweep's knobs, each declared once.

A field's type and default are the knob's; `knob(...)` adds its rule (catalog/knobs.py). A field
left as None takes its paper preset (trainers/presets.py) when the config is resolved, so a grid
only states what it varies. The resolved config is what MLflow records and hashes, so the fields,
their names and their defaults are a contract: a test pins the paper grids' hashes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from catalog.errors import ConfigError, did_you_mean
from catalog.knobs import Knob, knob, knobs_of
from catalog.names import DATASET_NAMES, DEFAULT_PROFILE, METHOD_NAMES, PROFILES
from catalog.optimizers import OPTIMIZERS, ZEROTH_ORDER, ZO_EPS, ZO_SEED, takers

SEED_MAX = 2**32 - 1  # numpy's RandomState (the class order) takes seeds in [0, 2**32 - 1]
SCHEDULES = ("cosine", "constant")
SPARSITY_MODES = ("exact", "released")
CONSERVE_MODES = ("exact", "replay")
# Zeroth-order trials take only the precisions whose averaged ZO estimate kept a cosine >= ZO_MIN_COSINE
# with fp32's (`python -m bench precision`); first-order trials take every one (trainers/precision.py).
PRECISIONS = ("fp32", "tf32", "bf16")
ZO_MIN_COSINE = 0.99
ZO_PRECISIONS = ("fp32",)
_RATIO = {"low": 0.0, "high": 1.0, "high_open": True, "ratio": True}
_MOMENTUM = {"low": 0.0, "high": 1.0, "high_open": True}


def _form(neutral: str, *others: str) -> dict[str, Any]:
    return {"choices": (neutral, *others), "optimizer": True, "neutral": neutral, "unhashed_neutral": True}


@dataclass(frozen=True)
class TrialConfig:
    """Everything that determines one trial. None means 'the paper preset for this combination'."""

    profile: str = knob(DEFAULT_PROFILE, choices=PROFILES)
    method: str = knob("aper", choices=METHOD_NAMES)
    optimizer: str = knob("fo-sgd", choices=tuple(OPTIMIZERS))
    dataset: str = knob("digits", choices=DATASET_NAMES)
    data_root: str = knob("data")
    backbone: str | None = knob(None)  # a timm model name, or a bundled test ViT
    weights: str | None = knob(None)  # hub, random, a bundled name, or a file
    image_size: int | None = knob(None, integer=True, low=0, low_open=True)
    tasks: int | None = knob(None, integer=True, low=0, low_open=True)
    epochs: int | None = knob(None, integer=True, low=0, note="(0: no training, the untrained reference)")
    batch_size: int | None = knob(None, integer=True, low=0, low_open=True)
    lr: float | None = knob(None, low=0, optimizer=True, fo_key="fo_lr")
    momentum: float | None = knob(None, **_MOMENTUM, optimizer=True, neutral=0.0, fo_key="fo_momentum")
    weight_decay: float | None = knob(None, low=0, optimizer=True, neutral=0.0, fo_key="fo_weight_decay")
    schedule: str | None = knob(None, choices=SCHEDULES, fo_key="fo_schedule")
    alpha: float | None = knob(None, low=0)
    use_pretrained_branch: bool | None = knob(None, boolean=True)
    q: int = knob(1, integer=True, low=1, optimizer=True)
    eps: float = knob(ZO_EPS, low=0, low_open=True, optimizer=True)
    seed: int = knob(ZO_SEED, integer=True, low=0, high=SEED_MAX, optimizer=True)
    historical: float = knob(0.0, **_RATIO, optimizer=True)
    sparsity: float = knob(0.0, **_RATIO, optimizer=True)
    sparsity_mode: str = knob("exact", choices=SPARSITY_MODES, optimizer=True)
    hybrid: float = knob(0.0, **_RATIO)
    conserve: str | None = knob(None, choices=CONSERVE_MODES, optimizer=True, neutral="exact")
    perturb_test_head: bool | None = knob(None, boolean=True)
    ease_adapters: str | None = knob(None, choices=("per-task", "first-task"))
    adamw: bool | None = knob(None, boolean=True, optimizer=True, neutral=False)
    fo_lr: float | None = knob(None, low=0)
    fo_momentum: float | None = knob(None, **_MOMENTUM)
    fo_weight_decay: float | None = knob(None, low=0)
    fo_schedule: str | None = knob(None, choices=SCHEDULES)
    fo_head: bool = knob(False, boolean=True)
    # The estimators beyond the paper's own settings (None: the estimator's default in catalog/optimizers.py).
    magnitude_ratio: float | None = knob(None, low=0, high=1, low_open=True, ratio=True, optimizer=True,
                                         neutral=1.0)
    rank: int | None = knob(None, integer=True, low=1, optimizer=True, neutral=1)
    period: int | None = knob(None, integer=True, low=1, note="(steps)", optimizer=True, neutral=1)
    hessian_smooth: float | None = knob(None, **_RATIO, optimizer=True, neutral=0.0)
    ns_steps: int | None = knob(None, integer=True, low=1, optimizer=True, neutral=5)
    # Released vs corrected forms of the estimators beyond the paper (docs/fidelity.md; None: the
    # profile's preset). The first choice is `corrected`'s, the neutral form, which the hash leaves out.
    decay_rule: str | None = knob(None, **_form("all", "no-bias"))  # no-bias: MeZO's rule (no decay on biases)
    lozo_scale: str | None = knob(None, **_form("inverse-rank", "unit"))  # LOZO's U Vᵀ estimate / r, or as released
    subspace_shape: str | None = knob(None, **_form("native", "square"))  # SubZero's matrix view
    hizoo_hessian: str | None = knob(None, **_form("old", "new"))  # divide by the perturbation's Hessian, or the updated
    muon_sided: str | None = knob(None, **_form("two", "one"))  # ZO-Muon: 2q forwards, or L(θ) + q (released)
    muon_vector_lr: float | None = knob(None, low=0, optimizer=True, unhashed_neutral=True)  # None: the trial's lr
    input_path: str = knob("device", choices=("device", "per-image"))  # trainers/data/device_loader.py or per image
    precision: str = knob("fp32", choices=PRECISIONS)
    device: str = knob("auto", choices=("auto", "cpu", "cuda"))
    num_workers: int = knob(0, integer=True, low=0)
    # A searched trial's held-out share of each task's training images (0: none; orchestrator/search/).
    validation: float = knob(0.0, low=0.0, high=0.5, ratio=True, neutral=0.0, unhashed_neutral=True)

    def to_dict(self) -> dict[str, Any]:
        # Every field is a scalar: a shallow copy is asdict's answer without its deep copy (grids of 20,000 trials).
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


KNOBS: Mapping[str, Knob] = MappingProxyType(knobs_of(TrialConfig))
# The estimators' released-vs-corrected forms, and the other settings only the estimators beyond the
# paper take (no paper optimizer's defaults name them: catalog/optimizers.py).
ESTIMATOR_FORMS: tuple[str, ...] = tuple(name for name, k in KNOBS.items() if k.rule.unhashed_neutral and k.rule.optimizer)
BEYOND_SETTINGS: tuple[str, ...] = tuple(
    name for name in KNOBS if name not in ESTIMATOR_FORMS and takers(name)
    and not any(OPTIMIZERS[taker].paper for taker in takers(name)))
# The knobs an optimizer's Settings hold, and the first-order phase's key for each knob that has one.
OPTIMIZER_KNOBS: tuple[str, ...] = tuple(name for name, k in KNOBS.items() if k.rule.optimizer)
FIRST_ORDER_PHASE: Mapping[str, str] = MappingProxyType({name: k.rule.fo_key for name, k in KNOBS.items()
                                                         if k.rule.fo_key})


def config_keys() -> tuple[str, ...]:
    return tuple(KNOBS)


def _coerce(key: str, value: Any) -> Any:
    """Accept YAML/CLI values of the knob's type (ints for floats too); reject anything else."""
    spec = KNOBS[key]
    if value is None:
        if spec.nullable:
            return None
        raise ConfigError(key, "must be set")
    wanted = spec.kind
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if wanted is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, wanted) and not (wanted is int and isinstance(value, bool)):
        return value
    raise ConfigError(key, f"expected {wanted.__name__}, got {value!r}")


def make_config(values: dict[str, Any]) -> TrialConfig:
    """Build a validated TrialConfig from plain values (grid entries, CLI flags)."""
    for key in values:
        if key not in KNOBS:
            raise ConfigError(key, f"unknown setting;{did_you_mean(key, tuple(KNOBS))} allowed: {', '.join(KNOBS)}")
    config = TrialConfig(**{key: _coerce(key, value) for key, value in values.items()})
    validate(config)
    return config


def validate(config: TrialConfig) -> None:
    """Raise ConfigError for the first setting that no trial could run with: each knob's own rule,
    then the rules between knobs."""
    for name in KNOBS:
        value = getattr(config, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(name, f"must be a finite number, got {value}")
    for name, spec in KNOBS.items():
        problem = spec.problem(getattr(config, name))
        if problem:
            raise ConfigError(name, problem)
    _validate_across(config)


def _validate_across(config: TrialConfig) -> None:
    spec = OPTIMIZERS[config.optimizer]
    if config.q > 1 and spec.conserve:
        raise ConfigError("q", f"{config.optimizer} supports q = 1 only, got {config.q}")
    if config.method != "ease":
        if config.perturb_test_head:
            raise ConfigError("perturb_test_head", "applies to EASE only (APER has no test head that trains)")
        if config.ease_adapters == "first-task":
            raise ConfigError("ease_adapters", "applies to EASE only; allowed with APER: per-task or unset")
    if spec.family == ZEROTH_ORDER and config.precision not in ZO_PRECISIONS:
        raise ConfigError("precision", f"'{config.precision}' is not allowed with {config.optimizer} (its ZO estimate "
                                       f"drifts from fp32's, see `python -m bench precision`); allowed: "
                                       f"{', '.join(ZO_PRECISIONS)}")
    _validate_beyond(config)


def _validate_beyond(config: TrialConfig) -> None:
    """The beyond-the-paper settings are not given to a zeroth-order optimizer that ignores them.
    First-order and Forward-Grad trials ignore every zeroth-order setting (q, historical, these,
    fo_head), as they always have, so that one value can be checked alone."""
    spec = OPTIMIZERS[config.optimizer]
    if spec.family == ZEROTH_ORDER:
        for key in BEYOND_SETTINGS + ESTIMATOR_FORMS:
            if getattr(config, key) is not None and key not in spec.defaults:
                raise ConfigError(key, f"{config.optimizer} does not take it; allowed with: {', '.join(takers(key))}")
    if not spec.spsa and spec.family == ZEROTH_ORDER and (config.historical or config.sparsity):
        key = "historical" if config.historical else "sparsity"
        raise ConfigError(key, f"{config.optimizer} has its own directions; allowed: 0.0")

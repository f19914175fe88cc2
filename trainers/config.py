"""The trial configuration: one frozen dataclass, parsed and validated once at the edge.

A field left as None takes its paper preset (trainers.presets) when the config is resolved, so
a grid only states what it varies. The resolved config is what MLflow records and hashes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

METHODS = ("ease", "aper")
DATASETS = ("cifar100", "cub", "imagenet-a", "omnibenchmark", "digits", "glyphs")
SPARSITY_MODES = ("exact", "released")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")
PROFILES = ("released", "corrected")
CONSERVE_MODES = ("exact", "replay")
EASE_ADAPTERS = ("per-task", "first-task")
SEED_MAX = 2**32 - 1  # numpy's RandomState (the class order) takes seeds in [0, 2**32 - 1]
INPUT_PATHS = ("device", "per-image")  # trainers/data/device_loader.py vs a DataLoader per image
PRECISIONS = ("fp32", "tf32", "bf16")  # trainers/precision.py
# Zeroth-order trials take only the modes whose averaged ZO estimate kept a cosine >= ZO_MIN_COSINE
# with fp32's (`python -m bench precision`); first-order trials take every mode.
ZO_MIN_COSINE = 0.99
ZO_PRECISIONS = ("fp32",)


class ConfigError(ValueError):
    """A trial setting is unknown or out of range; `key` names the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"'{key}': {message}")
        self.key = key


@dataclass(frozen=True)
class TrialConfig:
    """Everything that determines one trial. None means 'the paper preset for this combination'."""

    profile: str = "corrected"
    method: str = "aper"
    optimizer: str = "fo-sgd"
    dataset: str = "digits"
    data_root: str = "data"
    backbone: str | None = None
    weights: str | None = None
    image_size: int | None = None
    tasks: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    alpha: float | None = None
    use_pretrained_branch: bool | None = None
    q: int = 1
    eps: float = 1e-3
    seed: int = 1993
    historical: float = 0.0
    sparsity: float = 0.0
    sparsity_mode: str = "exact"
    hybrid: float = 0.0
    conserve: str | None = None
    perturb_test_head: bool | None = None
    ease_adapters: str | None = None
    adamw: bool | None = None
    fo_lr: float | None = None
    fo_momentum: float | None = None
    fo_weight_decay: float | None = None
    fo_schedule: str | None = None
    fo_head: bool = False
    magnitude_ratio: float | None = None
    rank: int | None = None
    period: int | None = None
    hessian_smooth: float | None = None
    ns_steps: int | None = None
    input_path: str = "device"
    precision: str = "fp32"
    device: str = "auto"
    num_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        # Every field is a scalar: a shallow copy is asdict's answer, without its deep copy (grids of 20,000 trials).
        return {field.name: getattr(self, field.name) for field in fields(self)}


def config_keys() -> tuple[str, ...]:
    return tuple(field.name for field in fields(TrialConfig))


_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce(key: str, value: Any, annotation: str) -> Any:
    """Accept YAML/CLI values of the field's type (ints for floats too); reject anything else."""
    if value is None:
        if "None" in annotation:
            return None
        raise ConfigError(key, "must be set")
    wanted = _TYPES[annotation.split("|")[0].strip()]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if wanted is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, wanted) and not (wanted is int and isinstance(value, bool)):
        return value
    raise ConfigError(key, f"expected {wanted.__name__}, got {value!r}")


def make_config(values: dict[str, Any]) -> TrialConfig:
    """Build a validated TrialConfig from plain values (grid entries, CLI flags)."""
    allowed = config_keys()
    for key in values:
        if key not in allowed:
            raise ConfigError(key, f"unknown setting; allowed: {', '.join(allowed)}")
    annotations = {field.name: str(field.type) for field in fields(TrialConfig)}
    coerced = {key: _coerce(key, value, annotations[key]) for key, value in values.items()}
    config = TrialConfig(**coerced)
    validate(config)
    return config


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, f"unknown value '{value}'; allowed: {', '.join(allowed)}")


def _check_positive(config: TrialConfig, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = getattr(config, key)
        if value is not None and value <= 0:
            raise ConfigError(key, f"must be > 0, got {value}")


def validate(config: TrialConfig) -> None:
    """Raise ConfigError for the first setting that no trial could run with."""
    from trainers.optim.registry import optimizer_names  # the registry alone: no torch

    for field in fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(field.name, f"must be a finite number, got {value}")
    if not 0 <= config.seed <= SEED_MAX:
        raise ConfigError("seed", f"must be an integer in [0, {SEED_MAX}], got {config.seed}")
    _check_choice("profile", config.profile, PROFILES)
    _check_choice("method", config.method, METHODS)
    _check_choice("optimizer", config.optimizer, tuple(optimizer_names()))
    _check_choice("dataset", config.dataset, DATASETS)
    _check_choice("sparsity_mode", config.sparsity_mode, SPARSITY_MODES)
    _check_choice("device", config.device, DEVICES)
    for key, allowed in (("schedule", SCHEDULES), ("fo_schedule", SCHEDULES), ("conserve", CONSERVE_MODES),
                         ("ease_adapters", EASE_ADAPTERS)):
        value = getattr(config, key)
        if value is not None:
            _check_choice(key, value, allowed)
    _check_positive(config, ("image_size", "tasks", "batch_size", "lr", "fo_lr", "eps", "q"))
    if config.epochs is not None and config.epochs < 0:
        raise ConfigError("epochs", f"must be >= 0 (0: no training, the untrained reference), got {config.epochs}")
    for key in ("historical", "sparsity", "hybrid"):
        value = getattr(config, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(key, f"must be in [0, 1), got {value}")
    if config.q > 1 and config.optimizer.endswith("-conserve"):
        raise ConfigError("q", f"{config.optimizer} supports q = 1 only, got {config.q}")
    for key in ("momentum", "fo_momentum"):
        value = getattr(config, key)
        if value is not None and not 0.0 <= value < 1.0:
            raise ConfigError(key, f"must be in [0, 1), got {value}")
    for key in ("weight_decay", "fo_weight_decay", "alpha"):
        value = getattr(config, key)
        if value is not None and value < 0:
            raise ConfigError(key, f"must be >= 0, got {value}")
    if config.method != "ease":
        if config.perturb_test_head:
            raise ConfigError("perturb_test_head", "applies to EASE only (APER has no test head that trains)")
        if config.ease_adapters == "first-task":
            raise ConfigError("ease_adapters", "applies to EASE only; allowed with APER: per-task or unset")
    _check_choice("input_path", config.input_path, INPUT_PATHS)
    _check_precision(config)
    if config.num_workers < 0:
        raise ConfigError("num_workers", f"must be >= 0, got {config.num_workers}")
    _validate_beyond(config)


# Settings of the estimators beyond the paper (trainers/optim/registry.py); None: the optimizer's default.
BEYOND_SETTINGS = ("magnitude_ratio", "rank", "period", "hessian_smooth", "ns_steps")


def _validate_beyond(config: TrialConfig) -> None:
    """The beyond-the-paper settings: in range, and not given to a zeroth-order optimizer that
    ignores them. First-order and Forward-Grad trials ignore every zeroth-order setting (q,
    historical, these, fo_head), as they always have, so that one value can be checked alone."""
    from trainers.optim import OPTIMIZERS
    from trainers.optim.settings import setting_error

    spec = OPTIMIZERS[config.optimizer]
    zeroth_order = spec.family == "zeroth-order"
    for key in BEYOND_SETTINGS:
        value = getattr(config, key)
        if value is None:
            continue
        problem = setting_error(key, value)
        if problem:
            raise ConfigError(key, problem)
        if zeroth_order and key not in spec.defaults:
            takers = ", ".join(name for name, other in OPTIMIZERS.items() if key in other.defaults)
            raise ConfigError(key, f"{config.optimizer} does not take it; allowed with: {takers}")
    if spec.estimator != "spsa" and (config.historical or config.sparsity):
        key = "historical" if config.historical else "sparsity"
        raise ConfigError(key, f"{config.optimizer} has its own directions; allowed: 0.0")


def _check_precision(config: TrialConfig) -> None:
    """Zeroth-order estimates difference two nearby losses, so ZO trials take only the modes measured safe."""
    _check_choice("precision", config.precision, PRECISIONS)
    if config.optimizer.startswith("zo-") and config.precision not in ZO_PRECISIONS:
        raise ConfigError("precision", f"'{config.precision}' is not allowed with {config.optimizer} (its ZO estimate "
                                       f"drifts from fp32's, see `python -m bench precision`); allowed: "
                                       f"{', '.join(ZO_PRECISIONS)}")

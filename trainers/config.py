"""The trial configuration: one frozen dataclass, parsed and validated once at the edge.

A field left as None takes its paper preset (trainers.presets) when the config is resolved, so
a grid only states what it varies. The resolved config is what MLflow records and hashes.
"""

from __future__ import annotations

import dataclasses
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
    fo_lr: float | None = None
    fo_momentum: float | None = None
    fo_weight_decay: float | None = None
    fo_schedule: str | None = None
    device: str = "auto"
    num_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    from trainers.optim import optimizer_names

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
    if config.num_workers < 0:
        raise ConfigError("num_workers", f"must be >= 0, got {config.num_workers}")

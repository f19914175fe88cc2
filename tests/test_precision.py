"""The `precision` setting: where it applies, which optimizers may use which mode, and its benchmark."""

from __future__ import annotations

import pytest
import torch

from bench.optimizers import Bench
from bench.precision import measure
from orchestrator.grid.expand import config_hash
from catalog.config import ConfigError, make_config
from trainers.precision import ZO_PRECISIONS, with_precision
from trainers.presets import resolve
from trainers.trial import run_trial


@pytest.mark.parametrize("optimizer", ["zo-sgd", "zo-adam-conserve", "zo-sgd-sign"])
@pytest.mark.parametrize("precision", ["bf16", "tf32"])
def test_zo_trials_refuse_unmeasured_or_drifting_modes(optimizer: str, precision: str) -> None:
    assert precision not in ZO_PRECISIONS
    with pytest.raises(ConfigError) as error:
        make_config({"optimizer": optimizer, "precision": precision})
    message = str(error.value)
    assert error.value.key == "precision" and "\n" not in message and "allowed: fp32" in message


@pytest.mark.parametrize("optimizer", ["fo-sgd", "fo-adam", "forward-grad"])
def test_exact_derivative_optimizers_may_use_every_mode(optimizer: str) -> None:
    for precision in ("fp32", "tf32", "bf16"):
        assert make_config({"optimizer": optimizer, "precision": precision}).precision == precision


def test_unknown_modes_and_input_paths_are_refused_with_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="allowed: fp32, tf32, bf16"):
        make_config({"precision": "fp16"})
    with pytest.raises(ConfigError, match="allowed: device, per-image"):
        make_config({"input_path": "gpu"})


def test_precision_and_input_path_are_part_of_the_config_hash() -> None:
    base = resolve(make_config({"optimizer": "fo-sgd"}))
    hashes = {config_hash(resolve(make_config({"optimizer": "fo-sgd", **extra})))
              for extra in ({}, {"precision": "bf16"}, {"input_path": "per-image"})}
    assert len(hashes) == 3 and config_hash(base) in hashes
    assert config_hash(resolve(make_config({"optimizer": "fo-sgd", "device": "cpu"}))) == config_hash(base)


def test_bf16_runs_the_forward_in_bfloat16_and_hands_back_a_float32_loss() -> None:
    layer = torch.nn.Linear(4, 3)
    seen = []
    layer.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    loss = with_precision(lambda: layer(torch.ones(2, 4)).sum(), "bf16", torch.device("cpu"))()
    assert seen == [torch.bfloat16] and loss.dtype == torch.float32
    with_precision(lambda: layer(torch.ones(2, 4)).sum(), "fp32", torch.device("cpu"))()
    assert seen[-1] == torch.float32


@pytest.mark.parametrize("optimizer", ["fo-sgd", "forward-grad"])
def test_a_bf16_trial_runs_end_to_end(optimizer: str) -> None:
    result = run_trial(make_config({"optimizer": optimizer, "precision": "bf16", "epochs": 1, "tasks": 2,
                                    "device": "cpu"}))
    assert len(result.acc) == 2 and all(0.0 <= acc <= 100.0 for acc in result.acc)


def test_precision_benchmark_compares_each_mode_with_fp32() -> None:
    torch.set_num_threads(1)
    model = Bench(2, 32, torch.device("cpu"), backbone="test_vit")
    results = measure(model, torch.device("cpu"), queries=4, steps=1)
    assert results["fp32"]["cosine"] == pytest.approx(1.0, abs=1e-5) and results["fp32"]["zo_ok"]
    assert "not measured" in results["tf32"]["cosine"]
    assert -1.0 <= results["bf16"]["cosine"] < 1.0 and results["bf16"]["zo_step_s"] > 0
    assert abs(results["fp32-independent"]["cosine"]) < 0.9  # independent directions: the estimator's noise

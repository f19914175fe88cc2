"""The optimizer registry and the step contract: names, defaults, validation, modes, counting."""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch
from torch import nn

from trainers.optim import OPTIMIZERS, create_optimizer, fo_counterpart, optimizer_names

NAMES = optimizer_names()
ZO_NAMES = [name for name in NAMES if name.startswith("zo-")]


def _least_squares(seed: int = 0) -> tuple[nn.Module, Callable[[], torch.Tensor]]:
    """A realizable least-squares problem (minimum 0) on a linear model."""
    generator = torch.Generator().manual_seed(seed)
    inputs, truth = torch.randn(32, 6, generator=generator), torch.randn(6, generator=generator)
    targets = inputs @ truth + 0.5
    model = nn.Linear(6, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 6, generator=generator))
        model.bias.zero_()
    return model, lambda: ((model(inputs).squeeze(-1) - targets) ** 2).mean()


def test_the_nine_names_in_canonical_order_then_the_five_beyond_the_paper() -> None:
    assert NAMES[:9] == ["fo-sgd", "fo-adam", "zo-sgd", "zo-sgd-sign", "zo-sgd-conserve", "zo-adam",
                         "zo-adam-sign", "zo-adam-conserve", "forward-grad"]
    assert NAMES[9:] == ["zo-sparse-mezo", "zo-lozo", "zo-subzero", "zo-hizoo", "zo-muon"]
    assert list(OPTIMIZERS) == NAMES


def test_specs_carry_the_released_defaults() -> None:
    assert OPTIMIZERS["fo-sgd"].defaults == {"lr": 1e-2, "momentum": 0.9, "weight_decay": 5e-4}
    assert OPTIMIZERS["zo-sgd"].defaults["lr"] == 1e-4 and OPTIMIZERS["zo-adam"].defaults["lr"] == 1e-3
    assert OPTIMIZERS["zo-sgd-conserve"].defaults["eps"] == 1e-3
    assert OPTIMIZERS["forward-grad"].defaults == {"lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0, "seed": 1993}
    assert "momentum" not in OPTIMIZERS["zo-adam"].defaults  # Adam has no momentum setting
    assert [n for n in NAMES if OPTIMIZERS[n].needs_backward] == ["fo-sgd", "fo-adam"]
    assert [n for n in NAMES if OPTIMIZERS[n].sign] == ["zo-sgd-sign", "zo-adam-sign"]
    with pytest.raises(TypeError):
        OPTIMIZERS["zo-sgd"].defaults["lr"] = 1.0  # type: ignore[index]


def test_fo_counterpart_is_the_hybrid_partner() -> None:
    assert [fo_counterpart(n) for n in NAMES] == ["fo-sgd", "fo-adam"] + ["fo-sgd"] * 3 + ["fo-adam"] * 3 + [
        "forward-grad"] + ["fo-sgd"] * 5
    with pytest.raises(ValueError, match="unknown optimizer 'zo-rmsprop'; allowed: fo-sgd, fo-adam"):
        fo_counterpart("zo-rmsprop")


COUNT_CASES = [(name, 1) for name in NAMES] + [(name, 3) for name in ZO_NAMES if not OPTIMIZERS[name].conserve]


@pytest.mark.parametrize("name, q", COUNT_CASES)
def test_forward_passes_match_the_spec(name: str, q: int) -> None:
    spec = OPTIMIZERS[name]
    model, closure = _least_squares()
    calls = []
    counted = lambda: calls.append(1) or closure()  # noqa: E731
    opt = create_optimizer(name, model, **({"q": q} if "q" in spec.defaults else {}))
    opt.step(counted)
    opt.step(counted)
    assert opt.forward_passes == len(calls) == 2 * spec.forwards_per_step(q)


# The estimators beyond the paper on a 1 x 6 weight: subspaces refreshed often (their defaults keep
# one for 100-1000 steps, and a rank-1 subspace of a 1 x 6 matrix is one direction), ZO-Muon's
# orthogonalised step at its own scale. Sparse-MeZO never moves the largest entries, and this
# problem needs them moved: it only has to halve the loss (tests/test_optim_beyond.py shows it
# converging where its premise holds).
BEYOND_CONVEX = {"zo-sparse-mezo": ({"lr": 0.005, "magnitude_ratio": 0.75}, 0.5),
                 "zo-lozo": ({"lr": 0.005, "period": 5}, 0.1), "zo-subzero": ({"lr": 0.002, "period": 1}, 0.1),
                 "zo-hizoo": ({"lr": 0.005}, 0.1), "zo-muon": ({"lr": 0.05, "period": 5}, 0.1)}


@pytest.mark.parametrize("name", NAMES)
def test_every_strategy_lowers_a_convex_loss(name: str) -> None:
    model, closure = _least_squares()
    # Adam moves each coordinate by about lr; SGD's step scales with the estimate's size.
    lr = 0.1 if "adam" in name else 0.03 if name == "forward-grad" else 0.01 if "sign" in name else 0.005
    settings, bound = BEYOND_CONVEX.get(name, ({"lr": lr}, 0.1))
    opt = create_optimizer(name, model, **settings)
    with torch.no_grad():
        before = float(closure())
    for _ in range(150):
        opt.step(closure)
    with torch.no_grad():
        assert float(closure()) < bound * before


@pytest.mark.parametrize("name", NAMES)
def test_only_parameters_trainable_at_creation_train(name: str) -> None:
    model, closure = _least_squares()
    model.bias.requires_grad_(False)
    bias = model.bias.detach().clone()
    opt = create_optimizer(name, model, lr=0.05)
    model.bias.requires_grad_(True)  # a later change does not enlarge the trainable set
    opt.step(closure)
    assert torch.equal(model.bias, bias) and opt.optimizer.param_groups[0]["params"] == [model.weight]


class _Probe(nn.Module):
    """Records the grad/inference/training state its forward runs under."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(3, 1)
        self.frozen_part = nn.Dropout(0.0)
        self.seen: list[tuple[bool, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return self.inner(x).pow(2).mean()


@pytest.mark.parametrize("name", NAMES)
def test_modes_during_forwards_and_restored_after(name: str) -> None:
    model, x = _Probe(), torch.randn(4, 3)
    model.train()
    model.frozen_part.eval()  # a mixed mode must come back as it was
    opt = create_optimizer(name, model)
    opt.step(lambda: model(x))
    family = OPTIMIZERS[name].family
    expected = {"first-order": (True, True, False), "zeroth-order": (False, False, True),
                "forward-grad": (True, False, False)}[family]
    assert set(model.seen) == {expected}
    assert model.training and model.inner.training and not model.frozen_part.training


@pytest.mark.parametrize("name", NAMES)
def test_steps_leave_the_global_rng_alone_and_repeat_with_the_seed(name: str) -> None:
    runs = []
    for _ in range(2):
        model, closure = _least_squares()
        opt = create_optimizer(name, model)
        state = torch.get_rng_state()
        losses = [opt.step(closure) for _ in range(3)]
        assert torch.equal(torch.get_rng_state(), state)
        runs.append((losses, model.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("name", [n for n in NAMES if "seed" in OPTIMIZERS[n].defaults])
def test_another_seed_gives_another_trajectory(name: str) -> None:
    weights = []
    for seed in (1, 2):
        model, closure = _least_squares()
        create_optimizer(name, model, seed=seed, lr=0.01).step(closure)
        weights.append(model.weight.detach().clone())
    assert not torch.equal(weights[0], weights[1])


@pytest.mark.parametrize("name", NAMES)
def test_a_non_finite_loss_fails_fast_and_leaves_the_parameters(name: str) -> None:
    model, closure = _least_squares()
    before = [p.detach().clone() for p in model.parameters()]
    opt = create_optimizer(name, model)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        opt.step(lambda: closure() * math.inf)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name, overrides, message", [
    ("zo-sgd", {"q": 0}, "optimizer 'zo-sgd': q=0 is invalid; allowed: an integer >= 1"),
    ("zo-sgd", {"q": 2.0}, "q=2.0 is invalid; allowed: an integer >= 1"),
    ("zo-adam", {"eps": 0.0}, "eps=0.0 is invalid; allowed: a number > 0"),
    ("zo-adam", {"eps": -1e-3}, "eps=-0.001 is invalid"),
    ("zo-sgd", {"historical": 1.0}, "historical=1.0 is invalid; allowed: a ratio in [0, 1)"),
    ("zo-sgd", {"sparsity": -0.1}, "sparsity=-0.1 is invalid; allowed: a ratio in [0, 1)"),
    ("zo-sgd", {"sparsity_mode": "topk"}, "sparsity_mode='topk' is invalid; allowed: exact, released"),
    ("zo-sgd-conserve", {"q": 2}, "optimizer 'zo-sgd-conserve': q=2 is invalid; allowed: 1"),
    ("zo-adam-conserve", {"q": 4}, "q=4 is invalid; allowed: 1"),
    ("fo-sgd", {"lr": -0.1}, "lr=-0.1 is invalid; allowed: a number >= 0"),
    ("fo-sgd", {"lr": float("nan")}, "lr=nan is invalid"),
    ("fo-sgd", {"momentum": True}, "momentum=True is invalid"),
    ("zo-sgd", {"seed": -1}, "seed=-1 is invalid"),
    ("fo-adam", {"momentum": 0.9}, "optimizer 'fo-adam': unknown setting 'momentum'; allowed: lr, weight_decay"),
    ("fo-sgd", {"q": 2}, "unknown setting 'q'; allowed: lr, momentum, weight_decay"),
    ("forward-grad", {"historical": 0.2}, "unknown setting 'historical'"),
    ("zo-lozo", {"rank": 0}, "optimizer 'zo-lozo': rank=0 is invalid; allowed: an integer >= 1"),
    ("zo-subzero", {"period": 2.5}, "period=2.5 is invalid; allowed: an integer >= 1 (steps)"),
    ("zo-sparse-mezo", {"magnitude_ratio": 0.0}, "magnitude_ratio=0.0 is invalid; allowed: a ratio in (0, 1]"),
    ("zo-hizoo", {"hessian_smooth": 1.0}, "hessian_smooth=1.0 is invalid; allowed: a ratio in [0, 1)"),
    ("zo-muon", {"ns_steps": 0}, "ns_steps=0 is invalid; allowed: an integer >= 1"),
    ("zo-sgd", {"rank": 4}, "optimizer 'zo-sgd': unknown setting 'rank'"),
    ("zo-lozo", {"historical": 0.2}, "optimizer 'zo-lozo': unknown setting 'historical'"),
])
def test_invalid_settings_raise_one_clear_line(name: str, overrides: dict, message: str) -> None:
    model, _ = _least_squares()
    with pytest.raises(ValueError) as error:
        create_optimizer(name, model, **overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_name_and_empty_trainable_set_are_rejected() -> None:
    model, _ = _least_squares()
    with pytest.raises(ValueError, match="unknown optimizer 'zo-sgdd'; allowed: fo-sgd, .*, forward-grad, .*, zo-muon$"):
        create_optimizer("zo-sgdd", model)
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no parameter with requires_grad"):
        create_optimizer("zo-sgd", model)


def test_integer_values_are_accepted_for_real_settings() -> None:
    model, _ = _least_squares()
    opt = create_optimizer("zo-sgd", model, lr=1, weight_decay=0, historical=0, sparsity=0)
    assert opt.settings.lr == 1.0 and isinstance(opt.settings.lr, float)

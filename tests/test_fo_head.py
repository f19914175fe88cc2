"""fo_head: the head trains by its backprop gradient while the rest trains zeroth-order, with no
graph through the body and no extra forward; the beyond-the-paper settings and fo_head are
checked when a config is made; trials with the new estimators resume exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from catalog.config import ConfigError, make_config
from trainers.optim import FirstOrderHead, create_with_fo_head
from trainers.presets import resolve
from trainers.trial import TaskReport, build_model, run_trial
from trainers.training import build_optimizer

PLAIN = {"momentum": 0.0, "weight_decay": 0.0}


class BodyAndHead(nn.Module):
    """A body (the adapters' stand-in) and a linear head on one fixed batch, in float64."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.body = nn.Linear(6, 4).double()
        self.head = nn.Linear(4, 3).double()
        self.inputs = torch.randn(16, 6, generator=generator, dtype=torch.float64)
        self.labels = torch.randint(0, 3, (16,), generator=generator)
        self.features_required_grad: list[bool] = []

    def forward(self) -> torch.Tensor:
        features = torch.tanh(self.body(self.inputs))
        self.features_required_grad.append(features.requires_grad)
        return nn.functional.cross_entropy(self.head(features), self.labels)


@pytest.mark.parametrize("name, forwards", [("zo-sgd", 2), ("zo-hizoo", 3), ("zo-lozo", 2), ("zo-adam-conserve", 5)])
def test_head_moves_by_its_gradient_and_the_body_zeroth_order(name: str, forwards: int) -> None:
    model = BodyAndHead()
    with torch.enable_grad():
        expected = [g.detach() for g in torch.autograd.grad(model(), list(model.head.parameters()))]
    head_before = [p.detach().clone() for p in model.head.parameters()]
    body_before = [p.detach().clone() for p in model.body.parameters()]
    opt = create_with_fo_head(name, model, model.head, 0.1, 0.0, 0.0, lr=0.01, **({} if "adam" in name else PLAIN))
    assert opt.strategy.params == list(model.body.parameters())  # the head is not perturbed
    model.features_required_grad.clear()
    opt.step(model)
    assert opt.forward_passes == forwards and model.features_required_grad == [False] * forwards
    assert not all(torch.equal(p, b) for p, b in zip(model.body.parameters(), body_before))
    if name != "zo-adam-conserve":  # Conserve's candidates sit at θ ± ηĝ, not at θ ± εz
        for p, before, gradient in zip(model.head.parameters(), head_before, expected):
            assert torch.allclose((before - p.detach()) / 0.1, gradient, rtol=1e-3, atol=1e-4)  # O(ε²) off
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


def test_fo_head_needs_a_zeroth_order_strategy_and_a_trainable_head() -> None:
    model = BodyAndHead()
    with pytest.raises(ValueError, match="fo_head: optimizer 'fo-sgd' is not zeroth-order"):
        create_with_fo_head("fo-sgd", model, model.head, 0.1, 0.0, 0.0)
    model.head.requires_grad_(False)
    with pytest.raises(ValueError, match="head has no trainable parameter"):
        create_with_fo_head("zo-sgd", model, model.head, 0.1, 0.0, 0.0)


def test_a_failed_step_leaves_flags_and_gradients_clean() -> None:
    model = BodyAndHead()
    opt = create_with_fo_head("zo-sgd", model, model.head, 0.1, 0.0, 0.0)
    with pytest.raises(FloatingPointError):
        opt.step(lambda: model() * float("nan"))
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


def test_trial_builds_the_head_optimizer_from_fo_settings_or_the_first_order_preset() -> None:
    # Unset fo_* take the FO-SGD preset of the method and dataset (digits EASE: lr 0.05, momentum 0.9, wd 5e-4).
    for fo, expected in (({}, (0.05, 0.9, 5e-4)), ({"fo_lr": 0.2, "fo_momentum": 0.5, "fo_weight_decay": 0.0},
                                                    (0.2, 0.5, 0.0))):
        config = resolve(make_config({"dataset": "digits", "method": "ease", "optimizer": "zo-lozo", "fo_head": True,
                                      **fo}))
        method = build_model(config, 10, torch.device("cpu"))
        method.begin_task(0, range(0, 2))
        opt = build_optimizer("zo-lozo", method, config, seed=1)
        assert isinstance(opt, FirstOrderHead)
        group = opt.head_optimizer.param_groups[0]
        assert (group["lr"], group["momentum"], group["weight_decay"]) == expected
        assert group["params"] == list(method.head.parameters())
        assert not {id(p) for p in method.head.parameters()} & {id(p) for p in opt.strategy.params}


@pytest.mark.parametrize("values, key, fragment", [
    ({"optimizer": "zo-sgd", "rank": 4}, "rank", "zo-sgd does not take it; allowed with: zo-lozo, zo-subzero, zo-muon"),
    ({"optimizer": "zo-lozo", "ns_steps": 5}, "ns_steps", "allowed with: zo-muon"),
    ({"optimizer": "zo-lozo", "rank": 0}, "rank", "must be an integer >= 1, got 0"),
    ({"optimizer": "zo-sparse-mezo", "magnitude_ratio": 1.5}, "magnitude_ratio", "must be a ratio in (0, 1]"),
    ({"optimizer": "zo-hizoo", "hessian_smooth": 1.0}, "hessian_smooth", "must be a ratio in [0, 1)"),
    ({"optimizer": "zo-subzero", "historical": 0.2}, "historical", "zo-subzero has its own directions"),
    ({"optimizer": "zo-muon", "sparsity": 0.5}, "sparsity", "zo-muon has its own directions"),
])
def test_beyond_settings_are_checked_when_the_config_is_made(values: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        make_config(values)
    assert error.value.key == key and fragment in str(error.value) and "\n" not in str(error.value)


def test_first_order_trials_ignore_zeroth_order_settings_so_a_grid_can_check_one_value_alone() -> None:
    for values in ({"fo_head": True}, {"rank": 4}, {"optimizer": "forward-grad", "ns_steps": 3}):
        make_config(values)  # the grid reader checks each stated value on a default (fo-sgd) config
    with pytest.raises(ConfigError, match="'rank': must be an integer >= 1, got 0"):
        make_config({"rank": 0})


FAST = {"dataset": "digits", "method": "ease", "epochs": 1, "device": "cpu"}


@pytest.mark.parametrize("values", [
    {"optimizer": "zo-sparse-mezo"}, {"optimizer": "zo-lozo", "period": 3},
    {"optimizer": "zo-subzero", "period": 3, "rank": 8}, {"optimizer": "zo-hizoo", "hessian_smooth": 1e-3, "fo_head": True},
    {"optimizer": "zo-muon", "period": 3, "rank": 8}])
def test_resuming_after_a_task_gives_the_uninterrupted_result(values: dict) -> None:
    # Optimizers live for one task (their state, e.g. HiZOO's Hessian or a subspace, starts afresh
    # with every task from the task's seed), so the method's checkpoint is all a resume needs.
    config = make_config({**FAST, **values})
    reports: list[TaskReport] = []
    full = run_trial(config, on_task_end=reports.append)
    resumed = run_trial(config, resume=reports[2].state)
    assert resumed.acc == full.acc and resumed.forward_passes == full.forward_passes
    assert full.last_acc > 30.0  # it learned something (chance is 10 %)

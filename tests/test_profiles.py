"""The `released` and `corrected` profiles: presets per (method, optimizer, data set), the released
Conserve replay against a hand computation of its order of steps, the released parameter set that
puts noise on EASE's stored prototypes, EASE's first-task mode and the hybrid's per-phase presets."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from catalog.config import BEYOND_SETTINGS, ESTIMATOR_FORMS, ConfigError, make_config
from catalog.names import DATASET_NAMES as DATASETS
from catalog.names import METHOD_NAMES as METHODS
from trainers.methods.ease import Ease, FirstTaskEase
from trainers.methods.heads import class_means, cosine_scores
from trainers.optim import create_optimizer, optimizer_names
from catalog.optimizers import BEYOND_OPTIMIZERS as BEYOND_ZO
from trainers.presets import PAPER_BACKBONE, RELEASED_BEYOND, RELEASED_BEYOND_STEP, optimizer_family, resolve
from trainers.training import optimizer_settings, phase_setting, phases
from trainers.trial import build_model

PAPER_DATASETS = ("cifar100", "cub", "imagenet-a", "omnibenchmark")
EASE_ALPHA = {"cifar100": 0.1, "cub": 0.05, "imagenet-a": 0.1, "omnibenchmark": 1.0, "digits": 0.1, "glyphs": 0.1}
FORWARD_ONLY = ("zo-sgd", "zo-adam", "forward-grad")


def resolved(**values: object):
    return resolve(make_config(values))


# --- presets -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, optimizer, dataset", itertools.product(METHODS, optimizer_names(),
                                                                          DATASETS))
def test_each_profile_presets_every_method_optimizer_and_dataset(method: str, optimizer: str,
                                                                  dataset: str) -> None:
    released = resolved(profile="released", method=method, optimizer=optimizer, dataset=dataset)
    corrected = resolved(profile="corrected", method=method, optimizer=optimizer, dataset=dataset)
    family = optimizer_family(optimizer)
    ease_forward = method == "ease" and family in FORWARD_ONLY
    for config in (released, corrected):
        # Every setting has a value; an estimator's own settings only where that estimator runs.
        unset = {key for key, value in config.to_dict().items() if value is None}
        assert unset <= set(BEYOND_SETTINGS + ESTIMATOR_FORMS)
        embedded = {"digits": "test_vit", "glyphs": "glyph_vit"}
        assert config.backbone == (PAPER_BACKBONE if dataset in PAPER_DATASETS else embedded[dataset])
        assert config.ease_adapters == ("first-task" if (method, dataset) == ("ease", "omnibenchmark")
                                        else "per-task")
        assert config.adamw == (method == "aper" and optimizer == "fo-adam")
    # Released side effects, each only where the released scripts had it.
    assert released.alpha == (0.9 if ease_forward else EASE_ALPHA[dataset])
    assert corrected.alpha == EASE_ALPHA[dataset]
    assert released.perturb_test_head == ease_forward and corrected.perturb_test_head is False
    assert (released.conserve, corrected.conserve) == ("replay", "exact")
    if family == "zo-adam" and dataset in PAPER_DATASETS:
        assert (released.lr, corrected.lr) == (1e-4, 1e-3)
    else:
        assert released.lr == corrected.lr
    # Every other setting is the same in both profiles.
    differs = {key for key, value in released.to_dict().items() if getattr(corrected, key) != value}
    # The estimators beyond the paper also run as released: step, forms, defaults (test_optim_released.py).
    beyond = set(RELEASED_BEYOND_STEP) | set(RELEASED_BEYOND[optimizer]) if optimizer in BEYOND_ZO else set()
    assert differs <= {"profile", "alpha", "perturb_test_head", "conserve", "lr"} | beyond


def test_paper_anchor_presets() -> None:
    zo = resolved(profile="released", method="ease", optimizer="zo-sgd", dataset="cifar100")
    assert (zo.lr, zo.epochs, zo.batch_size, zo.momentum, zo.weight_decay, zo.schedule, zo.q, zo.eps) == \
        (1e-4, 100, 48, 0.9, 5e-4, "constant", 1, 1e-3)
    fo = resolved(profile="released", method="ease", optimizer="fo-sgd", dataset="imagenet-a")
    assert (fo.lr, fo.epochs, fo.batch_size, fo.weight_decay, fo.schedule, fo.alpha) == \
        (0.05, 20, 32, 5e-3, "cosine", 0.1)
    assert resolved(method="aper", optimizer="fo-sgd", dataset="cub").lr == 0.01


def test_a_grid_value_beats_the_profile_preset() -> None:
    config = resolved(profile="released", method="ease", optimizer="zo-sgd", dataset="cifar100",
                      alpha=0.1, conserve="exact", perturb_test_head=False)
    assert (config.alpha, config.conserve, config.perturb_test_head) == (0.1, "exact", False)


@pytest.mark.parametrize("key, value", [("profile", "paper"), ("conserve", "undo"),
                                        ("ease_adapters", "all")])
def test_unknown_knob_values_are_refused_with_the_allowed_ones(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'.*allowed"):
        make_config({key: value})


def test_ease_only_knobs_are_refused_for_aper() -> None:
    with pytest.raises(ConfigError, match="perturb_test_head"):
        make_config({"method": "aper", "perturb_test_head": True})
    with pytest.raises(ConfigError, match="ease_adapters"):
        make_config({"method": "aper", "ease_adapters": "first-task"})


# --- Conserve replay against a hand computation ---------------------------------------------------

class Parabola(nn.Module):
    """L(θ) = ½ a (θ − c)², one float64 parameter."""

    def __init__(self, start: float, a: float = 3.0, c: float = 0.5) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([start], dtype=torch.float64))
        self.a, self.c = a, c

    def loss_at(self, theta: float) -> float:
        return 0.5 * self.a * (theta - self.c) ** 2

    def forward(self) -> torch.Tensor:
        return (0.5 * self.a * (self.theta - self.c) ** 2).sum()


class HandSGD:
    """torch.optim.SGD's update written out: d = g + wd·θ; b = μb + d (b = d first); θ −= lr·b."""

    def __init__(self, lr: float, momentum: float, weight_decay: float) -> None:
        self.lr, self.momentum, self.weight_decay, self.buffer = lr, momentum, weight_decay, None

    def step(self, theta: float, gradient: float) -> float:
        d = gradient + self.weight_decay * theta
        self.buffer = d if self.buffer is None else self.momentum * self.buffer + d
        return theta - self.lr * self.buffer


class HandAdam:
    """torch.optim.Adam's update written out (L2 weight decay, bias correction, eps 1e-8)."""

    def __init__(self, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.lr, self.weight_decay, self.betas = lr, weight_decay, betas
        self.m = self.v = 0.0
        self.t = 0

    def step(self, theta: float, gradient: float) -> float:
        d = gradient + self.weight_decay * theta
        b1, b2 = self.betas
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * d
        self.v = b2 * self.v + (1 - b2) * d * d
        m_hat, v_hat = self.m / (1 - b1 ** self.t), self.v / (1 - b2 ** self.t)
        return theta - self.lr * m_hat / (math.sqrt(v_hat) + 1e-8)


def test_the_hand_sgd_reproduces_the_momentum_drift_of_a_reject() -> None:
    # Momentum 0.9, buffer 1, ĝ = 1, lr 1: +ĝ, −2ĝ, +ĝ does not return to 0 but to −2.349.
    hand = HandSGD(lr=1.0, momentum=0.9, weight_decay=0.0)
    hand.buffer = 1.0
    theta = 0.0
    for scale in (1.0, -2.0, 1.0):
        theta = hand.step(theta, scale)
    assert theta == pytest.approx(-2.349)


@pytest.mark.parametrize("name, lr", [("zo-sgd-conserve", 0.3), ("zo-sgd-conserve", 0.9),
                                      ("zo-adam-conserve", 0.2)])
def test_replay_follows_the_released_order_of_steps(name: str, lr: float) -> None:
    model, eps, decay = Parabola(start=2.0), 1e-3, 0.01
    settings = {"lr": lr, "weight_decay": decay, "eps": eps, "conserve": "replay", "seed": 5}
    if "sgd" in name:
        settings["momentum"] = 0.9
    optimizer = create_optimizer(name, model, **settings)
    hand = HandSGD(lr, 0.9, decay) if "sgd" in name else HandAdam(lr, decay)
    points: list[float] = []

    def closure() -> torch.Tensor:
        points.append(float(model.theta.detach()))
        return model()

    theta, branches = 2.0, set()
    for _ in range(12):
        points.clear()
        optimizer.step(closure)
        assert points[0] == pytest.approx(theta, rel=1e-9, abs=1e-12)  # L0 is evaluated at θ
        theta = points[0]
        # The estimate from the two recorded SPSA points: ĝ = (L+ − L−)/2ε · z, z = (θ+ − θ)/ε.
        z = (points[1] - theta) / eps
        estimate = (model.loss_at(points[1]) - model.loss_at(points[2])) / (2 * eps) * z
        loss0 = model.loss_at(theta)
        theta1 = hand.step(theta, estimate)
        theta2 = hand.step(theta1, -2 * estimate)
        assert points[3:] == pytest.approx([theta1, theta2], rel=1e-9, abs=1e-12)
        loss1, loss2 = model.loss_at(theta1), model.loss_at(theta2)
        theta = theta2
        if loss1 > loss0 and loss0 < loss2:
            theta, branch = hand.step(theta2, estimate), "reject"
        elif loss1 <= loss0 and loss1 < loss2:
            theta, branch = hand.step(theta2, 2 * estimate), "keep first"
        else:
            branch = "keep second"
        branches.add(branch)
        assert float(model.theta.detach()) == pytest.approx(theta, rel=1e-9, abs=1e-12)
    assert len(branches) >= 2  # the trajectory exercises more than one branch of the replay


def test_replay_costs_the_same_forwards_as_exact() -> None:
    for mode in ("exact", "replay"):
        model = Parabola(start=1.0)
        optimizer = create_optimizer("zo-sgd-conserve", model, lr=0.1, conserve=mode)
        optimizer.step(lambda: model())
        assert optimizer.forward_passes == optimizer.spec.forwards_per_step() == 5


# --- EASE: the released parameter set and the first-task mode -------------------------------------

def _digits_method(**values: object):
    config = resolved(dataset="digits", method="ease", device="cpu", **values)
    torch.manual_seed(0)
    return config, build_model(config, 10, torch.device("cpu"))


def _batches(classes: range, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor(list(classes)).repeat(4)
    images = torch.rand(len(labels), 3, 32, 32, generator=generator)
    return [(images[i:i + 4], labels[i:i + 4]) for i in range(0, len(labels), 4)]


def _train(method: nn.Module, config, batches) -> None:
    optimizer = create_optimizer(config.optimizer, method, **optimizer_settings(config.optimizer, config, 3))
    for images, labels in batches:
        optimizer.step(lambda: method.loss(images, labels))


@pytest.mark.parametrize("profile, noisy", [("released", True), ("corrected", False)])
def test_released_zo_puts_noise_on_stored_old_prototypes(profile: str, noisy: bool) -> None:
    config, method = _digits_method(profile=profile, optimizer="zo-sgd", lr=0.5)
    assert isinstance(method, Ease) and method.perturb_test_head == noisy
    method.begin_task(0, range(0, 2))
    _train(method, config, _batches(range(0, 2), 0))
    method.end_task(0, range(0, 2), _batches(range(0, 2), 0))
    stored = method.prototypes[0, :2].detach().clone()
    assert stored.abs().sum() > 0
    method.begin_task(1, range(2, 4))
    assert method.prototypes.requires_grad == noisy
    _train(method, config, _batches(range(2, 4), 1))
    changed = not torch.equal(method.prototypes[0, :2], stored)
    assert changed == noisy
    assert (float(method.test_sigma.detach()) != 1.0) == noisy


def test_first_task_trains_only_task_zero_and_classifies_by_concatenated_means() -> None:
    config, method = _digits_method(optimizer="fo-sgd", ease_adapters="first-task")
    assert isinstance(method, FirstTaskEase) and method.name == "ease"
    assert method.begin_task(0, range(0, 2))
    _train(method, config, _batches(range(0, 2), 0))
    method.end_task(0, range(0, 2), _batches(range(0, 2), 0))
    assert not method.begin_task(1, range(2, 4))
    assert method.trainable_parameters() == 0
    method.end_task(1, range(2, 4), _batches(range(2, 4), 1))
    assert len(method.backbone.adapter_sets) == 1

    def concatenated(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([method.backbone(images, None), method.backbone(images, 0)], dim=1)

    means = torch.cat([class_means(concatenated, _batches(range(0, 2), 0), range(0, 2), torch.device("cpu")),
                       class_means(concatenated, _batches(range(2, 4), 1), range(2, 4), torch.device("cpu"))])
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        assert torch.allclose(method.logits(images, 4), cosine_scores(concatenated(images), means), atol=1e-6)


# --- the hybrid's phases ------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["released", "corrected"])
def test_hybrid_phases_get_their_own_presets(profile: str) -> None:
    config = resolved(profile=profile, method="ease", optimizer="zo-sgd", dataset="imagenet-a",
                      hybrid=0.7, epochs=10)
    assert phases(config) == [("fo-sgd", 7), ("zo-sgd", 3)]
    fo, zo = optimizer_settings("fo-sgd", config, 1), optimizer_settings("zo-sgd", config, 1)
    assert (fo["lr"], fo["momentum"], fo["weight_decay"]) == (0.05, 0.9, 5e-3)  # EASE's ImageNet-A FO preset
    assert (zo["lr"], zo["momentum"], zo["weight_decay"]) == (1e-4, 0.9, 5e-4)  # ZeroFlow's ZO preset
    assert (phase_setting(config, "schedule", "fo-sgd"), phase_setting(config, "schedule", "zo-sgd")) == \
        ("cosine", "constant")
    adam = resolved(profile=profile, method="ease", optimizer="zo-adam", dataset="cub", hybrid=0.5)
    assert optimizer_settings("fo-adam", adam, 1)["lr"] == 1e-3 and adam.fo_schedule == "cosine"


def test_hybrid_phase_settings_are_overridable() -> None:
    config = resolved(method="ease", optimizer="zo-sgd", dataset="cifar100", hybrid=0.5, fo_lr=0.2,
                      fo_schedule="constant")
    assert optimizer_settings("fo-sgd", config, 1)["lr"] == 0.2
    assert phase_setting(config, "schedule", "fo-sgd") == "constant"

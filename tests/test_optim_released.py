"""The five estimators beyond the paper against their reference update rules, in both profiles.

Each test takes the trial settings a profile gives the estimator (trainers/presets.py), runs two
steps on a tiny float64 network and replays them with the update rule written from the authors'
code (optsuite/LOZO `lowrank_zo_update`, zimingyy/SubZero `zo_subspace_update`, Yanjun-Zhao/HiZOO
`zo_Hessian_step_update`, OPTML-Group/ZO-Muon `LowDimOptimizer.zo_update`; Sparse-MeZO: the paper's
masked MeZO step) on the same random draws, which the closure captures as the points it is
evaluated at. The parameters must agree to 1e-12, and each step must cost the released forwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from catalog.config import TrialConfig, make_config
from trainers.optim import OPTIMIZERS, create_optimizer
from trainers.optim.base import NO_DECAY_MARKS
from trainers.optim.lowrank import most_square
from trainers.presets import resolve
from trainers.training import optimizer_settings

PROFILES = ("released", "corrected")
Q = 2
EPS = 1e-3
STEPS = 2
SEED = 7


class Tiny(nn.Module):
    """Two linear layers (weights 4 × 9 and 3 × 4, biases) and a 1-D `scale`, float64, on a fixed batch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(9, 4).double()
        self.fc2 = nn.Linear(4, 3).double()
        self.scale = nn.Parameter(torch.ones(1, dtype=torch.float64))
        generator = torch.Generator().manual_seed(1)
        self.register_buffer("x", torch.randn(6, 9, generator=generator, dtype=torch.float64))
        self.register_buffer("y", torch.randint(0, 3, (6,), generator=generator))

    def forward(self) -> torch.Tensor:
        logits = self.fc2(torch.tanh(self.fc1(self.x))) * self.scale
        return nn.functional.cross_entropy(logits, self.y)


@dataclass
class Capture:
    """The closure: records every point (name -> tensor) and loss it is evaluated at."""

    model: Tiny
    points: list[dict[str, torch.Tensor]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def __call__(self) -> torch.Tensor:
        loss = self.model()
        self.points.append({n: p.detach().clone() for n, p in self.model.named_parameters()})
        self.losses.append(float(loss))
        return loss


def trial(name: str, profile: str, **stated: object) -> TrialConfig:
    return resolve(make_config({"profile": profile, "optimizer": name, "dataset": "digits", "q": Q, **stated}))


def run(name: str, config: TrialConfig, **overrides: object) -> tuple[Tiny, Capture, dict[str, torch.Tensor], int]:
    """STEPS steps of the strategy; the model, the closure's record, θ at the start, forwards per step."""
    model = Tiny()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    settings = {**optimizer_settings(name, config, SEED), **overrides}
    optimizer = create_optimizer(name, model, **settings)
    capture = Capture(model)
    for _ in range(STEPS):
        optimizer.step(capture)
    return model, capture, start, optimizer.forward_passes // STEPS


class PlainOrSgd:
    """The step that applies ĝ: torch SGD's rule (momentum, weight decay), per the decay rule and lrs."""

    def __init__(self, config: TrialConfig, vector_lr: float | None = None) -> None:
        self.config = config
        self.vector_lr = vector_lr
        self.buffers: dict[str, torch.Tensor] = {}

    def __call__(self, theta: dict[str, torch.Tensor], estimate: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.config
        out = {}
        for n, g in estimate.items():
            decays = c.decay_rule == "all" or not any(mark in n for mark in NO_DECAY_MARKS)
            d = g + (c.weight_decay if decays else 0.0) * theta[n]
            if c.momentum:
                d = self.buffers[n] = c.momentum * self.buffers[n] + d if n in self.buffers else d
            lr = self.vector_lr if self.vector_lr is not None and theta[n].dim() < 2 else c.lr
            out[n] = theta[n] - lr * d
        return out


def two_point(capture: Capture, step: int, first: int) -> list[tuple[float, dict[str, torch.Tensor]]]:
    """(c_i, Z_i) of the Q two-point queries from the closure's record, starting at call `first`."""
    queries = []
    for i in range(Q):
        plus, minus = first + 2 * i, first + 2 * i + 1
        c = (capture.losses[plus] - capture.losses[minus]) / (2 * EPS)
        z = {n: (capture.points[plus][n] - capture.points[minus][n]) / (2 * EPS) for n in capture.points[plus]}
        queries.append((c, z))
    return queries


def mean(queries: list[tuple[float, dict[str, torch.Tensor]]], scale: dict[str, float] | None = None
         ) -> dict[str, torch.Tensor]:
    names = queries[0][1]
    return {n: sum(c * z[n] for c, z in queries) / len(queries) * (scale or {}).get(n, 1.0) for n in names}


def assert_close(model: Tiny, expected: dict[str, torch.Tensor]) -> None:
    for n, p in model.named_parameters():
        assert torch.allclose(p.detach(), expected[n], rtol=0, atol=1e-12), n


@pytest.mark.parametrize("decay", [{}, {"weight_decay": 0.1}])  # the released decay is 0: state one
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", ["zo-lozo", "zo-sparse-mezo"])
def test_lozo_and_sparse_mezo_follow_their_reference(name: str, profile: str, decay: dict[str, float]) -> None:
    config = trial(name, profile, **decay)
    model, capture, theta, forwards = run(name, config)
    assert forwards == 2 * Q == OPTIMIZERS[name].forwards_per_step(Q)
    inverse_rank = name == "zo-lozo" and config.lozo_scale == "inverse-rank"
    rank = config.rank or OPTIMIZERS[name].defaults.get("rank", 1)
    scale = {n: 1.0 / rank for n, p in theta.items() if p.dim() >= 2} if inverse_rank else None
    apply = PlainOrSgd(config)
    for step in range(STEPS):
        theta = apply(theta, mean(two_point(capture, step, 2 * Q * step), scale))
    assert_close(model, theta)
    if name == "zo-lozo":
        assert config.lozo_scale == ("unit" if profile == "released" else "inverse-rank")


@pytest.mark.parametrize("profile", PROFILES)
def test_subzero_follows_its_reference_in_its_view(profile: str) -> None:
    config = trial("zo-subzero", profile, rank=2)
    model, capture, theta, forwards = run("zo-subzero", config)
    assert forwards == 2 * Q
    apply = PlainOrSgd(config)
    for step in range(STEPS):
        queries = two_point(capture, step, 2 * Q * step)
        theta = apply(theta, mean(queries))
    assert_close(model, theta)
    # The perturbation of fc1.weight (4 × 9) has rank 2 in the view the profile builds it in.
    z = queries[0][1]["fc1.weight"]
    view = most_square(36) if profile == "released" else (4, 9)
    assert view == ((6, 6) if profile == "released" else (4, 9))
    assert torch.linalg.matrix_rank(z.reshape(view), rtol=1e-9) == 2
    other = (4, 9) if profile == "released" else (6, 6)
    assert torch.linalg.matrix_rank(z.reshape(other), rtol=1e-9) > 2


@pytest.mark.parametrize("profile", PROFILES)
def test_hizoo_follows_its_reference(profile: str) -> None:
    config = trial("zo-hizoo", profile, hessian_smooth=0.3)  # a large α, so old and new H differ
    model, capture, theta, forwards = run("zo-hizoo", config)
    assert forwards == 2 * Q + 1 == OPTIMIZERS["zo-hizoo"].forwards_per_step(Q)
    hessian = {n: torch.ones_like(p) for n, p in theta.items()}
    alpha = config.hessian_smooth
    apply = PlainOrSgd(config)
    for step in range(STEPS):
        first = (2 * Q + 1) * step
        loss = capture.losses[first]
        queries = two_point(capture, step, first + 1)
        factor = {n: torch.full_like(h, 1 - alpha) for n, h in hessian.items()}
        for i, (c, z) in enumerate(queries):
            plus, minus = capture.losses[first + 1 + 2 * i], capture.losses[first + 2 + 2 * i]
            curvature = abs(plus + minus - 2 * loss) / (2 * EPS**2)
            for n in factor:  # u = Σ^{-1/2}-scaled z: u² = z² · H
                factor[n] += alpha / Q * curvature * z[n] ** 2 * hessian[n]
        new = {n: hessian[n] * factor[n] for n in hessian}
        used = new if config.hizoo_hessian == "new" else hessian
        estimate = {n: sum(c * z[n] * hessian[n].sqrt() for c, z in queries) / Q / used[n].sqrt() for n in hessian}
        theta, hessian = apply(theta, estimate), new
    assert_close(model, theta)
    assert config.hizoo_hessian == ("new" if profile == "released" else "old")


def newton_schulz64(matrix: torch.Tensor, steps: int) -> torch.Tensor:
    """OPTML-Group/ZO-Muon's `zeropower_via_newtonschulz5`, in float64."""
    a, b, c = (3.4445, -4.7750, 2.0315)
    x = matrix / (matrix.norm() + 1e-7)
    tall = matrix.shape[0] > matrix.shape[1]
    x = x.T if tall else x
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


@pytest.mark.parametrize("decay", [{}, {"weight_decay": 0.1}])
@pytest.mark.parametrize("profile", PROFILES)
def test_zo_muon_follows_its_reference(profile: str, decay: dict[str, float]) -> None:
    config = trial("zo-muon", profile, rank=2, **decay)
    model, capture, theta, forwards = run("zo-muon", config)
    one_sided = config.muon_sided == "one"
    assert one_sided == (profile == "released")
    assert forwards == (1 + Q if one_sided else 2 * Q) == OPTIMIZERS["zo-muon"].forwards_per_step(Q, one_sided)
    apply = PlainOrSgd(config, config.muon_vector_lr)
    for step in range(STEPS):
        if one_sided:
            first = (1 + Q) * step
            base = capture.points[first]
            queries = [((capture.losses[first + 1 + i] - capture.losses[first]) / EPS,
                        {n: (capture.points[first + 1 + i][n] - base[n]) / EPS for n in base}) for i in range(Q)]
            assert all(torch.allclose(base[n], theta[n], rtol=0, atol=1e-12) for n in base)  # L(θ) first
        else:
            queries = two_point(capture, step, 2 * Q * step)
        estimate = mean(queries)  # matrices: P R; P orthonormal, so NS(P R) = P · NS(R)
        estimate = {n: newton_schulz64(g.view(g.shape[0], -1), config.ns_steps or 5).view(g.shape) if g.dim() >= 2
                    else g for n, g in estimate.items()}
        theta = apply(theta, estimate)
    assert_close(model, theta)


@pytest.mark.parametrize("name", ["zo-lozo", "zo-muon", "zo-sparse-mezo"])
def test_no_bias_decay_rule_spares_biases(name: str) -> None:
    """MeZO's rule: with weight decay on, tensors named *bias* do not decay, `scale` does."""
    stated = {"weight_decay": 0.1, **({} if name == "zo-sparse-mezo" else {"rank": 2})}
    config = trial(name, "released", **stated)
    assert config.decay_rule == "no-bias"
    model = run(name, config)[0]
    ran_all = run(name, trial(name, "released", decay_rule="all", **stated))[0]
    assert not torch.allclose(model.fc1.bias, ran_all.fc1.bias, rtol=0, atol=1e-9)


def test_released_and_corrected_steps_differ() -> None:
    """The tests above can fail: each profile's update is far (> 1e-6) from the other's."""
    for name in ("zo-lozo", "zo-subzero", "zo-hizoo", "zo-muon"):  # Sparse-MeZO's forms differ only in the step
        stated = {"hessian_smooth": 0.3} if name == "zo-hizoo" else {}
        released, corrected = (run(name, trial(name, p, **stated), momentum=0.0, weight_decay=0.0)[0]
                               for p in PROFILES)
        gaps = [float((a - b).detach().abs().max()) for a, b in zip(released.parameters(), corrected.parameters())]
        assert max(gaps) > 1e-6, name


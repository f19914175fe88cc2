"""The estimators against autograd and torch.optim on tiny problems, plus the exactness properties:
unbiased SPSA and Forward-Grad, the update is the stock optimizer fed ĝ, bit-exact restore,
Conserve never raises the batch loss, no stored direction during a step."""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from trainers.optim import create_optimizer

PLAIN = {"momentum": 0.0, "weight_decay": 0.0}


class Quadratic(nn.Module):
    """L(θ) = ½ θᵀAθ + bᵀθ over two parameter tensors (float64), gradient Aθ + b."""

    def __init__(self, seed: int = 0, dim: int = 8) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        root = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        self.register_buffer("A", root @ root.T / dim + torch.eye(dim, dtype=torch.float64))
        self.register_buffer("b", torch.randn(dim, generator=generator, dtype=torch.float64))
        theta = torch.randn(dim, generator=generator, dtype=torch.float64)
        self.first = nn.Parameter(theta[:3].clone())
        self.second = nn.Parameter(theta[3:].clone())

    def theta(self) -> torch.Tensor:
        return torch.cat([self.first, self.second])

    def forward(self) -> torch.Tensor:
        theta = self.theta()
        return 0.5 * theta @ self.A @ theta + self.b @ theta

    def gradient(self) -> torch.Tensor:
        with torch.no_grad():
            return self.A @ self.theta() + self.b


class Recorder:
    """A closure that also records the parameters and loss of every call."""

    def __init__(self, model: Quadratic) -> None:
        self.model = model
        self.points: list[torch.Tensor] = []
        self.losses: list[float] = []

    def __call__(self) -> torch.Tensor:
        loss = self.model()
        self.points.append(self.model.theta().detach().clone())
        self.losses.append(float(loss))
        return loss


def _mean_estimate(name: str, draws: int, **settings: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ĝ = θ − θ' over `draws` steps with lr 1 from the same θ, and the true gradient."""
    model = Quadratic()
    start = model.theta().detach().clone()
    opt = create_optimizer(name, model, lr=1.0, **PLAIN, **settings)
    total = torch.zeros_like(start)
    for _ in range(draws):
        opt.step(model)
        total += start - model.theta().detach()
        with torch.no_grad():
            model.first.copy_(start[:3])
            model.second.copy_(start[3:])
    return total / draws, model.gradient()


@pytest.mark.parametrize("name, draws", [("zo-sgd", 4000), ("forward-grad", 1500)])
def test_mean_direction_is_the_autograd_gradient(name: str, draws: int) -> None:
    mean, gradient = _mean_estimate(name, draws)
    # Each estimate has standard deviation about |∇L|·sqrt(d+1) per draw.
    assert torch.linalg.norm(mean - gradient) < 4 * math.sqrt(9 / draws) * torch.linalg.norm(gradient)


def test_mean_sign_direction_is_the_normalised_gradient() -> None:
    mean, gradient = _mean_estimate("zo-sgd-sign", 4000)
    # E[sign(∇L·z) z] = sqrt(2/π) ∇L / |∇L| for Gaussian z.
    expected = math.sqrt(2 / math.pi) * gradient / torch.linalg.norm(gradient)
    assert torch.linalg.norm(mean - expected) < 0.1


def _replayed_estimate(record: Recorder, start: torch.Tensor, eps: float, queries: int,
                       sign: bool) -> torch.Tensor:
    """ĝ rebuilt from what the closure saw: z_i = (θ+εz_i − θ)/ε and the two losses of each query."""
    estimate = torch.zeros_like(start)
    for i in range(queries):
        plus, minus = record.points[2 * i], record.points[2 * i + 1]
        assert torch.allclose(plus - start, start - minus, rtol=1e-9, atol=1e-12)  # ±εz, same z
        difference = (record.losses[2 * i] - record.losses[2 * i + 1]) / (2 * eps)
        coefficient = math.copysign(1.0, difference) if sign else difference
        estimate += coefficient * (plus - start) / eps / queries
    return estimate


@pytest.mark.parametrize("name", ["zo-sgd", "zo-sgd-sign", "zo-adam", "zo-adam-sign"])
@pytest.mark.parametrize("q", [1, 4])
def test_the_step_is_the_torch_optimizer_fed_the_estimate(name: str, q: int) -> None:
    model = Quadratic()
    reference = Quadratic()
    torch_opt = (torch.optim.Adam(reference.parameters(), lr=0.05, weight_decay=5e-4) if "adam" in name
                 else torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4))
    opt = create_optimizer(name, model, lr=0.05, weight_decay=5e-4, q=q, seed=7)
    for _ in range(3):
        record, start = Recorder(model), model.theta().detach().clone()
        loss = opt.step(record)
        estimate = _replayed_estimate(record, start, 1e-3, q, name.endswith("sign"))
        assert loss == pytest.approx(sum(record.losses) / (2 * q), rel=1e-12)
        reference.first.grad, reference.second.grad = estimate[:3].clone(), estimate[3:].clone()
        torch_opt.step()
        assert torch.allclose(model.theta(), reference.theta(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["zo-sgd", "zo-adam-sign", "zo-sgd-conserve"])
def test_perturb_and_restore_is_bit_exact_in_float32(name: str) -> None:
    generator = torch.Generator().manual_seed(3)
    values = torch.randn(4096, generator=generator) * 10 ** torch.empty(4096).uniform_(-4, 2, generator=generator)
    z = torch.randn(4096, generator=generator)
    # These values expose MeZO's in-place walk: +εz, −2εz, +εz does not come back to θ.
    assert not torch.equal(values.clone().add_(z, alpha=1e-3).add_(z, alpha=-2e-3).add_(z, alpha=1e-3), values)
    model = nn.Linear(4096, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(values)
    x = torch.randn(2, 4096, generator=generator)
    settings = {"lr": 0.0, "weight_decay": 0.0, **({"momentum": 0.0} if "sgd" in name else {})}
    opt = create_optimizer(name, model, **settings, **({"q": 3} if name == "zo-sgd" else {}))
    opt.step(lambda: model(x).square().mean())
    assert torch.equal(model.weight.detach().view(-1), values)


def test_sgd_conserve_candidates_are_theta_minus_and_plus_lr_times_the_estimate() -> None:
    model = Quadratic()
    record, start = Recorder(model), model.theta().detach().clone()
    create_optimizer("zo-sgd-conserve", model, lr=0.05, **PLAIN).step(record)
    assert len(record.points) == 5 and torch.equal(record.points[0], start)
    estimate = (record.losses[1] - record.losses[2]) / 2e-3 * (record.points[1] - start) / 1e-3
    assert torch.allclose(record.points[3], start - 0.05 * estimate, rtol=1e-8, atol=1e-10)
    assert torch.allclose(record.points[4], start + 0.05 * estimate, rtol=1e-8, atol=1e-10)


class Wavy(Quadratic):
    """A non-convex landscape where a large-ε estimate often points the wrong way."""

    def forward(self) -> torch.Tensor:
        theta = self.theta()
        return torch.sin(3 * theta).sum() + 0.1 * theta @ theta


@dataclass
class Step:
    """What one step of `_wavy_steps` saw and did."""

    record: Recorder
    before: float
    returned: float
    after: float
    same_state: bool


def _wavy_steps(name: str, steps: int = 40) -> list[Step]:
    """One step from each of `steps` random points of Wavy, with a step size that often overshoots."""
    model, generator = Wavy(), torch.Generator().manual_seed(0)
    opt = create_optimizer(name, model, lr=0.3 if "adam" in name else 0.1, eps=0.3)
    runs = []
    for _ in range(steps):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(2 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
            before = float(model())
        state = {key: value.clone() for key, value in opt.optimizer.state[model.first].items()}
        record = Recorder(model)
        returned = opt.step(record)
        with torch.no_grad():
            after = float(model())
        now = opt.optimizer.state[model.first]
        same_state = now.keys() == state.keys() and all(torch.equal(now[k], state[k]) for k in state)
        runs.append(Step(record, before, returned, after, same_state))
    return runs


@pytest.mark.parametrize("name", ["zo-sgd-conserve", "zo-adam-conserve"])
def test_conserve_never_raises_the_batch_loss_and_keeps_the_best_candidate(name: str) -> None:
    outcomes = set()
    for step in _wavy_steps(name):
        losses = step.record.losses
        assert step.after <= step.before == step.returned == losses[0]
        # The kept parameters give exactly the best evaluated loss (the re-run step is exact).
        candidates = [losses[0], losses[3], losses[4]]
        assert step.after == min(candidates)
        outcomes.add(candidates.index(step.after))
        if candidates.index(step.after) == 0:
            assert step.same_state  # θ kept: the optimizer state is restored too
    assert outcomes == {0, 1, 2}  # θ, the step and the reverse step were each chosen


def test_plain_zo_in_the_same_setting_does_raise_the_loss() -> None:
    assert any(step.after > step.before for step in _wavy_steps("zo-sgd"))  # what Conserve prevents


def _full_size_storages(numel: int) -> int:
    storages = set()
    for obj in gc.get_objects():
        if type(obj) in (torch.Tensor, nn.Parameter) and obj.numel() == numel:
            storages.add(obj.untyped_storage().data_ptr())
    return len(storages)


@pytest.mark.parametrize("name, kept", [("zo-sgd", 3), ("zo-sgd-sign", 3), ("zo-adam", 4)])
def test_a_zo_step_keeps_no_copy_beyond_the_optimizer_buffers(name: str, kept: int) -> None:
    numel = 7919  # a size no other tensor here has
    model = nn.Linear(numel, 1, bias=False)
    x = torch.randn(2, numel)
    live: list[int] = []

    def closure() -> torch.Tensor:
        live.append(_full_size_storages(numel))
        return model(x).square().mean()

    opt = create_optimizer(name, model, q=2)
    for _ in range(3):
        opt.step(closure)
    # During forwards: the parameter, its .grad (holding θ) and the optimizer's state; no z.
    assert max(live) == kept and len(live) == 12
    assert _full_size_storages(numel) == kept - 1  # between steps the .grad is released


@pytest.mark.parametrize("name", ["fo-sgd", "fo-adam"])
def test_first_order_matches_torch_optim(name: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    reference = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    reference.load_state_dict(model.state_dict())
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    opt = create_optimizer(name, model, lr=0.05)
    torch_opt = (torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
                 if name == "fo-sgd" else torch.optim.Adam(reference.parameters(), lr=0.05, weight_decay=5e-4))
    for _ in range(5):
        loss = opt.step(lambda: nn.functional.cross_entropy(model(x), y))
        torch_opt.zero_grad()
        expected = nn.functional.cross_entropy(reference(x), y)
        expected.backward()
        torch_opt.step()
        assert loss == expected.item()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))


def test_the_lr_scheduler_attaches_to_the_torch_optimizer() -> None:
    model = Quadratic()
    opt = create_optimizer("zo-adam", model, lr=0.1)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt.optimizer, T_max=4)
    for _ in range(2):
        opt.step(model)
        schedule.step()
    assert opt.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)

"""The direction enhancements (ZeroFlow section 6): sparsity masks and historical mixing.

Directions are read back from what the closure sees (θ+εz − θ = εz, exactly zero where masked)
and updates from the parameters after a step with momentum 0 and weight decay 0, so these tests
check the documented behaviour without knowing how directions are drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from trainers.optim import Strategy, create_optimizer

EPS, LR = 1e-3, 0.01
SIZES = [(4, 25), (40,), (3,)]


class Tensors(nn.Module):
    """A smooth non-quadratic loss over several float64 tensors of the sizes above."""

    def __init__(self, sizes: list[tuple[int, ...]] = SIZES, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.tensors = nn.ParameterList(
            nn.Parameter(torch.randn(size, generator=generator, dtype=torch.float64)) for size in sizes)

    def forward(self) -> torch.Tensor:
        return sum((p * 1.7).sin().sum() + 0.5 * p.square().sum() for p in self.tensors)

    def snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.tensors]


@dataclass
class Query:
    z: list[torch.Tensor]  # recovered perturbation direction per tensor
    coefficient: float


@dataclass
class Step:
    queries: list[Query]
    update: list[torch.Tensor]  # (θ − θ') / lr per tensor, i.e. ĝ


def _step(opt: Strategy, model: Tensors) -> Step:
    start, seen = model.snapshot(), []

    def closure() -> torch.Tensor:
        loss = model()
        seen.append((model.snapshot(), float(loss)))
        return loss

    opt.step(closure)
    queries = []
    for (plus, loss_plus), (_, loss_minus) in zip(seen[0::2], seen[1::2]):
        queries.append(Query([(p - s) / EPS for p, s in zip(plus, start)], (loss_plus - loss_minus) / (2 * EPS)))
    return Step(queries, [(s - p) / LR for s, p in zip(start, model.snapshot())])


def _zo(model: nn.Module, **settings: object) -> Strategy:
    return create_optimizer("zo-sgd", model, lr=LR, eps=EPS, momentum=0.0, weight_decay=0.0, **settings)


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.9])
def test_exact_mask_zeroes_exactly_the_fraction_one_mask_per_task(sparsity: float) -> None:
    model = Tensors()
    opt = _zo(model, sparsity=sparsity, sparsity_mode="exact")
    masks = []
    for task in range(2):
        for _ in range(3):
            step = _step(opt, model)
            zeros = [z == 0 for z in step.queries[0].z]
            assert [int(m.sum()) for m in zeros] == [round(sparsity * math.prod(size)) for size in SIZES]
            assert all(torch.equal(u == 0, m) for u, m in zip(step.update, zeros))  # same mask in the update
            masks.append(zeros)
        opt.start_task()
    same = [all(torch.equal(a, b) for a, b in zip(masks[i], masks[i + 1])) for i in range(5)]
    assert same == [True, True, False, True, True]  # constant within a task, redrawn for the next


@pytest.mark.parametrize("sparsity", [0.2, 0.5])
def test_released_mask_zeroes_where_a_normal_draw_is_below_s(sparsity: float) -> None:
    model = Tensors(sizes=[(200_000,)])
    zeros = float((_step(_zo(model, sparsity=sparsity, sparsity_mode="released"), model).queries[0].z[0] == 0)
                  .double().mean())
    phi = 0.5 * (1 + math.erf(sparsity / math.sqrt(2)))  # Φ(0.5) = 0.69: not the nominal 50%
    assert zeros == pytest.approx(phi, abs=0.005)


def _trajectory(**settings: object) -> list[torch.Tensor]:
    model = Tensors()
    opt = _zo(model, **settings)
    for _ in range(3):
        opt.step(model)
    return model.snapshot()


@pytest.mark.parametrize("settings", [{"sparsity": 0.0, "sparsity_mode": "released"},
                                      {"sparsity": 0.0, "sparsity_mode": "exact"}, {"historical": 0.0}])
def test_zero_ratios_are_exactly_plain_zo(settings: dict[str, object]) -> None:
    # Released masking at s = 0 would still zero the half of z below 0; ratio 0 means no mask.
    plain = _trajectory()
    assert all(torch.equal(a, b) for a, b in zip(_trajectory(**settings), plain))
    assert not any(torch.equal(a, b) for a, b in zip(_trajectory(sparsity=0.1), plain))


def _mix(history: list[torch.Tensor] | None, z: list[torch.Tensor], ratio: float) -> list[torch.Tensor]:
    if history is None:
        return z
    return [ratio * h + (1 - ratio) * zi for h, zi in zip(history, z)]


@pytest.mark.parametrize("q", [1, 2])
def test_historical_update_is_the_ema_of_directions_reset_per_task(q: int) -> None:
    model, ratio = Tensors(), 0.6
    opt = _zo(model, historical=ratio, q=q)
    history = None
    for index in range(5):
        if index == 3:
            opt.start_task()
            history = None
        step = _step(opt, model)
        expected = [torch.zeros_like(u) for u in step.update]
        for query in step.queries:
            history = _mix(history, query.z, ratio)  # h starts at z, then one EMA update per query
            expected = [e + query.coefficient * h / q for e, h in zip(expected, history)]
        assert all(torch.allclose(u, e, rtol=1e-6, atol=1e-9) for u, e in zip(step.update, expected))
        # The perturbation itself stays plain z: Gaussian, not shrunk towards the history.
        assert all(bool((z != 0).all()) for z in step.queries[0].z)


def test_historical_and_sparsity_combine_with_sign() -> None:
    model = Tensors()
    opt = create_optimizer("zo-sgd-sign", model, lr=LR, eps=EPS, momentum=0.0, weight_decay=0.0,
                           historical=0.5, sparsity=0.5)
    first, second = _step(opt, model), _step(opt, model)
    history = _mix(first.queries[0].z, second.queries[0].z, 0.5)
    sign = math.copysign(1.0, second.queries[0].coefficient)
    assert all(torch.allclose(u, sign * h, rtol=1e-6, atol=1e-9) for u, h in zip(second.update, history))
    assert all(torch.equal(u == 0, z == 0) for u, z in zip(second.update, second.queries[0].z))


def test_plain_zo_stores_no_direction_state() -> None:
    model = Tensors()
    opt = _zo(model)
    opt.step(model)
    assert opt.directions.history is None and opt.directions.dropped is None
    opt = _zo(model, historical=0.2, sparsity=0.3)
    opt.step(model)
    assert len(opt.directions.history) == len(opt.directions.dropped) == len(SIZES)
    opt.start_task()
    assert opt.directions.history is None

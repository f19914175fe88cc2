"""Zeroth-order strategies (zo-sgd, zo-adam and their Sign and Conserve variants): ZeroFlow's core.

Two-point SPSA (ZeroFlow section 3; Spall 1992; MeZO, Malladi et al. 2023), q queries, eps ε:
    ĝ = (1/q) Σ_i c_i · d_i,   c_i = (L(θ+εz_i) − L(θ−εz_i)) / 2ε   (Sign: c_i = sign of it)
with z_i ~ N(0, I) and d_i the update direction (z_i, or the historical mix, see directions.py).
ĝ is written to `.grad` and one step of the stock torch SGD/Adam applies it. The forwards run in
eval mode (dropout off, so both points see the same function) under torch.inference_mode().
The step returns the mean of (L(θ+εz_i) + L(θ−εz_i)) / 2, the loss at θ up to O(ε²), at no
extra forward; Conserve returns the exact L(θ) it evaluates anyway.

Memory (MeZO's trick): z is regenerated from a per-query seed, never stored. Where MeZO walks
θ → θ+εz → θ−εz → θ by in-place +εz, −2εz, +εz (which restores θ only up to float rounding),
this implementation keeps θ in the `.grad` buffers the base optimizer reads anyway: each perturbed
point is computed once from the exact θ, the restore is a copy and therefore bit-exact, and the
buffers then receive ĝ. A step holds params + grads + base-optimizer state + one z temporary.

Conserve (q = 1), setting `conserve`:
- `exact` (zfsweep's method): L0 = L(θ); estimate ĝ; evaluate the base optimizer's step fed +ĝ
  and fed −ĝ, each from the same parameter and optimizer state (for plain SGD θ1 = θ − ηĝ,
  θ2 = θ + ηĝ), and keep the lowest of L0, L1, L2 on the same batch, so the batch loss never
  rises. The trainable parameters and optimizer state are snapshotted (one extra copy of each,
  only for Conserve) and the chosen candidate is restored exactly.
- `replay` (what the released code runs, THUDM/INFTY `zo_conserv_step`, behind the paper's
  Conserve rows): step with +ĝ, evaluate L1; step with −2ĝ, evaluate L2; then step with +ĝ if
  L1 > L0 and L0 < L2, with +2ĝ if L1 ≤ L0 and L1 < L2, else stay. Every replayed step goes
  through the base optimizer, so weight decay, momentum and Adam's moments act on each one: the
  replays return to θ or θ1 only for plain SGD without weight decay. With historical mixing on,
  each replayed step mixes the direction again, as the released code does.
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager, Iterator

import torch
from torch import nn

from catalog.optimizers import OptimizerSpec
from trainers.optim.base import Closure, Strategy, finite_loss, training_mode
from trainers.optim.directions import Directions
from trainers.optim.settings import Settings

OptimizerState = list[dict[str, Any]]


class ZerothOrder(Strategy):
    """SPSA estimate with q queries; `spec.sign` and `spec.conserve` select the variants."""

    direction_symbol: str = "z"  # how a non-finite loss's message names the perturbation direction

    def __init__(self, spec: OptimizerSpec, settings: Settings, model: nn.Module) -> None:
        super().__init__(spec, settings, model)
        self.directions = self.make_directions()
        # The forwards run under inference mode; the first-order head (fo_head.py) swaps in
        # enable_grad so that only the head, whose parameters alone then require grad, records a graph.
        self.forward_context: Callable[[], ContextManager[Any]] = torch.inference_mode

    def make_directions(self) -> Directions:
        """The direction generator; the estimators beyond the paper substitute their own."""
        settings = self.settings
        return Directions(self.params, settings.seed, settings.historical, settings.sparsity,
                          settings.sparsity_mode)

    def shape_estimate(self) -> None:
        """Called once ĝ is in `.grad` and θ restored, before the base optimizer steps (a no-op here)."""

    def reference_loss(self, closure: Closure) -> float | None:
        """An estimator's extra forward before the q queries (HiZOO's L(θ); declare it as the table's
        `extra_forwards`): its loss becomes the step's loss. None here: plain SPSA runs no extra forward."""
        return None

    def observe_query(self, seed: int, plus: float, minus: float, reference: float | None) -> None:
        """Called with each query's two losses (and the reference loss, if any); a no-op here."""

    def one_sided(self) -> bool:
        """Whether each query evaluates one point, c = (L(θ+εz) − L(θ)) / ε against the reference
        loss (ZO-Muon's released form), instead of two; False here."""
        return False

    def start_task(self) -> None:
        self.directions.start_task()

    def step(self, closure: Closure) -> float:
        with training_mode(self.model, False), torch.no_grad():
            try:
                return self._step(closure)
            finally:
                self.optimizer.zero_grad(set_to_none=True)

    def _step(self, closure: Closure) -> float:
        self.directions.begin_step()
        for p in self.params:  # the .grad buffers hold θ while the perturbed forwards run
            p.grad = p.detach().clone()
        try:
            loss_at_theta = self._forward(closure, "θ") if self.spec.conserve else None
            coefficients, loss = self._queries(closure)
        finally:
            for p in self.params:
                p.copy_(p.grad)
        if loss_at_theta is None:
            self._apply(coefficients)
            return loss
        if self.settings.conserve == "replay":
            self._replay(closure, coefficients, loss_at_theta)
        else:
            self._write_estimate(coefficients)
            self.shape_estimate()
            self._conserve(closure, loss_at_theta)
        return loss_at_theta

    def _forward(self, closure: Closure, where: str) -> float:
        with self.forward_context():
            loss = closure()
            self.forward_passes += 1
            return finite_loss(loss, f"{self.spec.name} forward at {where}")

    def _perturb(self, seed: int, scale: float) -> None:
        """Set every trainable tensor to θ + scale·z, with θ read from its .grad buffer."""
        for p, z in zip(self.params, self.directions.perturbations(seed)):
            p.copy_(p.grad).add_(z, alpha=scale)

    def _two_point(self, closure: Closure) -> Iterator[tuple[int, float, float]]:
        """(seed, L(θ+εz), L(θ−εz)) for each of the q queries, θ left at θ−εz after the last."""
        eps = self.settings.eps
        for _ in range(self.settings.q):
            seed = self.directions.next_seed()
            self._perturb(seed, eps)
            plus = self._forward(closure, f"θ+ε{self.direction_symbol}")
            self._perturb(seed, -eps)
            yield seed, plus, self._forward(closure, f"θ−ε{self.direction_symbol}")

    def _queries(self, closure: Closure) -> tuple[list[tuple[int, float]], float]:
        """(seed, coefficient) per query, and the step's loss: the reference loss, else the mean two-point loss."""
        reference = self.reference_loss(closure)
        if self.one_sided():
            if reference is None:
                raise ValueError(f"{self.spec.name}: one-sided queries need a reference loss")
            return self._one_point(closure, reference), reference
        coefficients, losses = [], []
        for seed, plus, minus in self._two_point(closure):
            difference = (plus - minus) / (2 * self.settings.eps)
            if self.spec.sign:
                difference = float((difference > 0) - (difference < 0))
            coefficients.append((seed, difference))
            losses.append((plus + minus) / 2)
            self.observe_query(seed, plus, minus, reference)
        return coefficients, reference if reference is not None else sum(losses) / len(losses)

    def _one_point(self, closure: Closure, reference: float) -> list[tuple[int, float]]:
        """(seed, (L(θ+εz) − L(θ)) / ε) for each of the q queries, θ left at θ+εz after the last."""
        eps = self.settings.eps
        coefficients = []
        for _ in range(self.settings.q):
            seed = self.directions.next_seed()
            self._perturb(seed, eps)
            coefficients.append((seed, (self._forward(closure, f"θ+ε{self.direction_symbol}") - reference) / eps))
        return coefficients

    def _write_estimate(self, coefficients: list[tuple[int, float]], scale: float = 1.0) -> None:
        """Overwrite each .grad with scale·ĝ, regenerating the directions."""
        for p in self.params:
            p.grad.zero_()
        scale /= len(coefficients)
        for seed, coefficient in coefficients:
            for p, d in zip(self.params, self.directions.updates(seed)):
                p.grad.add_(d, alpha=coefficient * scale)

    def _apply(self, coefficients: list[tuple[int, float]], scale: float = 1.0) -> None:
        """One base-optimizer step fed scale·ĝ (after the estimator's own shaping of it)."""
        self._write_estimate(coefficients, scale)
        self.shape_estimate()
        self.optimizer.step()

    def _replay(self, closure: Closure, coefficients: list[tuple[int, float]], loss_at_theta: float) -> None:
        """The released Conserve: replayed steps of +ĝ, −2ĝ, then +ĝ, +2ĝ or none (module docstring)."""
        self._apply(coefficients)
        loss_step = self._candidate_loss(closure, "θ after +ĝ")
        self._apply(coefficients, -2.0)
        loss_reverse = self._candidate_loss(closure, "θ after −2ĝ")
        if loss_step > loss_at_theta:
            if loss_at_theta < loss_reverse:
                self._apply(coefficients)
        elif loss_step < loss_reverse:
            self._apply(coefficients, 2.0)

    def _conserve(self, closure: Closure, loss_at_theta: float) -> None:
        """Keep the best of θ, the step fed +ĝ and the step fed −ĝ (ties keep the earlier one)."""
        theta = [p.detach().clone() for p in self.params]
        state = self._optimizer_state()
        self.optimizer.step()
        loss_step = self._candidate_loss(closure, "θ−ηĝ")
        self._restore(theta, state)
        for p in self.params:
            p.grad.neg_()
        self.optimizer.step()
        loss_reverse = self._candidate_loss(closure, "θ+ηĝ")
        best = min((loss_at_theta, 0), (loss_step, 1), (loss_reverse, 2))[1]
        if best == 2:
            return
        self._restore(theta, state)
        if best == 1:
            # Re-running the deterministic step reproduces the evaluated candidate exactly
            # without keeping a second copy of the parameters and state.
            for p in self.params:
                p.grad.neg_()
            self.optimizer.step()

    def _candidate_loss(self, closure: Closure, where: str) -> float:
        """A candidate's loss; a diverging candidate is simply not chosen."""
        try:
            return self._forward(closure, where)
        except FloatingPointError:
            return float("inf")

    def _optimizer_state(self) -> OptimizerState:
        state = self.optimizer.state
        return [{key: _copy(value) for key, value in state[p].items()} if p in state else {}
                for p in self.params]

    def _restore(self, theta: list[torch.Tensor], state: OptimizerState) -> None:
        for p, value, saved in zip(self.params, theta, state):
            p.copy_(value)
            self.optimizer.state[p] = {key: _copy(item) for key, item in saved.items()}


def _copy(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value

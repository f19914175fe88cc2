"""The nine optimizer strategies of ZeroFlow (arXiv 2501.01045, Table 1), and five later
zeroth-order estimators beyond the paper, registered in one place.

Each name maps to a frozen OptimizerSpec: which estimator family it uses (backprop, two-point
SPSA, forward-mode AD), which torch optimizer applies the estimate, the Sign and Conserve flags,
and its defaults. The defaults also say which settings a strategy accepts: the trainer passes a
setting only when the strategy's defaults name it, and `create_optimizer` rejects any other key.
Default values follow the released ZeroFlow settings (THUDM/INFTY); the trial presets
(trainers/presets.py) override learning rates per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

FIRST_ORDER = "first-order"
ZEROTH_ORDER = "zeroth-order"
FORWARD_GRAD = "forward-grad"

_SGD = {"lr": 1e-2, "momentum": 0.9, "weight_decay": 5e-4}
_ADAM = {"lr": 1e-3, "weight_decay": 5e-4, "adamw": False}
# Released ZO settings: eps 1e-3, q 1, seed 1993; enhancements off (ratio 0 is plain ZO).
_ZO = {"q": 1, "eps": 1e-3, "historical": 0.0, "sparsity": 0.0, "sparsity_mode": "exact", "seed": 1993}


@dataclass(frozen=True)
class OptimizerSpec:
    """What a strategy name means: estimator family, base optimizer, flags and defaults."""

    name: str
    family: str
    base: str
    description: str
    defaults: Mapping[str, Any]
    sign: bool = False
    conserve: bool = False
    estimator: str = "spsa"  # which zeroth-order estimator fills .grad (see trainers/optim/__init__.py)
    extra_forwards: int = 0  # forwards per step beyond the 2q SPSA points (HiZOO's L(θ))

    @property
    def needs_backward(self) -> bool:
        return self.family == FIRST_ORDER

    def forwards_per_step(self, q: int = 1, one_sided: bool = False) -> int:
        """Closure evaluations one step costs (a jvp pass counts as one forward pass); `one_sided`:
        L(θ) once and one point per query (ZO-Muon's released `muon_sided: one`)."""
        if self.family != ZEROTH_ORDER:
            return 1
        if one_sided:
            return 1 + q
        # Conserve: L(θ), the two SPSA points, then one forward per candidate (q = 1 only).
        return 5 if self.conserve else 2 * q + self.extra_forwards


def _spec(name: str, family: str, base: str, description: str, defaults: dict[str, Any],
          **flags: Any) -> OptimizerSpec:
    return OptimizerSpec(name, family, base, description, MappingProxyType(dict(defaults)), **flags)


def _zeroth_order(base: str, base_defaults: dict[str, Any]) -> list[OptimizerSpec]:
    title = base.upper() if base == "sgd" else base.capitalize()
    defaults = {**base_defaults, **_ZO}
    if base == "sgd":
        defaults["lr"] = 1e-4  # released ZO-SGD learning rate; ZO-Adam keeps 1e-3
    return [
        _spec(f"zo-{base}", ZEROTH_ORDER, base, f"two-point SPSA estimate applied by {title}", defaults),
        _spec(f"zo-{base}-sign", ZEROTH_ORDER, base, f"SPSA with the sign of each difference, {title}",
              defaults, sign=True),
        _spec(f"zo-{base}-conserve", ZEROTH_ORDER, base,
              f"SPSA, then the best of θ and the two {title} candidates on the same batch",
              {**defaults, "conserve": "exact"}, conserve=True),
    ]


# Beyond the paper (2024-26 estimators, trainers/optim/beyond_*.py): SPSA on ZO-SGD's settings
# (released ZeroFlow lr, eps, seed; SGD with momentum applies the estimate, except under
# `profile: released`, trainers/presets.py RELEASED_BEYOND) plus each paper's own
# settings. Defaults are the ViT settings of the OPTML-Group/ZO-Muon repository, which ran all
# five on ViT (LOZO rank 4 / 100 steps, SubZero rank 48 / 1000 steps, ZO-Muon rank 64 / 100 steps /
# 5 Newton-Schulz steps / lr 1e-2, HiZOO smoothing 1e-8); Sparse-MeZO's ratio is zfsweep's choice.
_BEYOND_SETTINGS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "zo-sparse-mezo": ("sparse-mezo", {"magnitude_ratio": 0.25},
                       {"description": "SPSA on the smallest-magnitude entries of each tensor (Sparse-MeZO)"}),
    "zo-lozo": ("lozo", {"rank": 4, "period": 100},
                {"description": "SPSA along low-rank U Vᵀ, V kept for `period` steps (LOZO)"}),
    "zo-subzero": ("subzero", {"rank": 48, "period": 1000},
                   {"description": "SPSA in per-layer orthonormal subspaces U Z Vᵀ (SubZero)"}),
    "zo-hizoo": ("hizoo", {"hessian_smooth": 1e-8},
                 {"description": "SPSA preconditioned by a diagonal Hessian EMA, 3 forwards (HiZOO)",
                  "extra_forwards": 1}),
    "zo-muon": ("muon", {"rank": 64, "period": 100, "ns_steps": 5, "lr": 1e-2},
                {"description": "subspace SPSA orthogonalised by Newton-Schulz (ZO-Muon)"}),
}


# --- Released vs corrected forms of the estimators beyond the paper (issue 23, docs/fidelity.md) ---
# Each difference between an estimator's released code and zfsweep's `corrected` form is a setting
# of its own: setting -> (its allowed values, the first being `corrected`'s, the neutral form), and
# which estimators take it. The config hash leaves a form out while it is neutral (or unset), so
# trials that predate these settings keep their hashes (orchestrator/grid.py).
FORMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "decay_rule": ("all", "no-bias"),  # no-bias: MeZO's rule, no decay on *bias* / *layer_norm* tensors
    "lozo_scale": ("inverse-rank", "unit"),  # LOZO's matrix estimate c·U Vᵀ / r, or c·U Vᵀ (optsuite/LOZO)
    "subspace_shape": ("native", "square"),  # SubZero's matrix view: rows x rest, or most-square factors
    "hizoo_hessian": ("old", "new"),  # HiZOO divides by the Hessian of the perturbation, or the updated one
    "muon_sided": ("two", "one"),  # ZO-Muon: two-point queries (2q forwards), or L(θ) + q points
})
FORM_TAKERS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "decay_rule": ("sparse-mezo", "lozo", "subzero", "hizoo", "muon"), "lozo_scale": ("lozo",),
    "subspace_shape": ("subzero",), "hizoo_hessian": ("hizoo",), "muon_sided": ("muon",),
    "muon_vector_lr": ("muon",)})
# ZO-Muon's step for 1-D tensors: None (neutral) is the trial's lr; the release fixes 1e-4.
NEUTRAL_FORMS: Mapping[str, Any] = MappingProxyType({**{k: v[0] for k, v in FORMS.items()}, "muon_vector_lr": None})


def _forms(estimator: str) -> dict[str, Any]:
    return {key: NEUTRAL_FORMS[key] for key, takers in FORM_TAKERS.items() if estimator in takers}
# --- end of the estimator forms ---


def _beyond() -> list[OptimizerSpec]:
    base = {**_SGD, **{key: value for key, value in _ZO.items() if key in ("q", "eps", "seed")}, "lr": 1e-4}
    specs = []
    for name, (estimator, own, extra) in _BEYOND_SETTINGS.items():
        extra = dict(extra)
        description = extra.pop("description")
        specs.append(_spec(name, ZEROTH_ORDER, "sgd", description, {**base, **own, **_forms(estimator)},
                           estimator=estimator, **extra))
    return specs


def _registry() -> dict[str, OptimizerSpec]:
    specs = [
        _spec("fo-sgd", FIRST_ORDER, "sgd", "backprop gradient, SGD with momentum", _SGD),
        _spec("fo-adam", FIRST_ORDER, "adam", "backprop gradient, Adam (AdamW with adamw=True)", _ADAM),
        *_zeroth_order("sgd", _SGD),
        *_zeroth_order("adam", _ADAM),
        # Released Forward-Grad: plain SGD, lr 1e-3, no momentum, no weight decay, q ignored.
        _spec("forward-grad", FORWARD_GRAD, "sgd", "forward-mode AD estimate (∇L·v)v, plain SGD",
              {"lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0, "seed": 1993}),
        *_beyond(),
    ]
    return {spec.name: spec for spec in specs}


OPTIMIZERS: Mapping[str, OptimizerSpec] = MappingProxyType(_registry())


def optimizer_names() -> list[str]:
    """Every name in canonical order: Table 1's nine rows, then the five estimators beyond the paper."""
    return list(OPTIMIZERS)


def get_spec(name: str) -> OptimizerSpec:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{name}'; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def fo_counterpart(name: str) -> str:
    """The first-order strategy the hybrid enhancement trains with before switching to `name`."""
    spec = get_spec(name)
    if spec.family == ZEROTH_ORDER:
        return f"fo-{spec.base}"
    return name

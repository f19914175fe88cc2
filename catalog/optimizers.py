"""The optimizer table: ZeroFlow's nine strategies (arXiv 2501.01045, Table 1) and five later
zeroth-order estimators beyond the paper, one entry each.

An entry (OptimizerSpec) says everything the rest of zfsweep needs to know about a name: the
estimator family (backprop, two-point SPSA, forward-mode AD), the torch optimizer applying the
estimate, the Sign and Conserve flags, its forwards per step, its defaults, its label in reports,
the preset family it trains with (trainers/presets.py) and the strategy class that implements it
(loaded by trainers/optim on first use). The defaults also say which settings a strategy takes:
the trainer passes a knob only when the strategy's defaults name it, and `create_optimizer`
rejects any other key; each default is a knob of catalog/config.py and passes that knob's rule.
Default values follow the released ZeroFlow settings (THUDM/INFTY); the trial presets override
learning rates per data set. A new estimator is its strategy module plus one entry in BEYOND.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

FIRST_ORDER = "first-order"
ZEROTH_ORDER = "zeroth-order"
FORWARD_GRAD = "forward-grad"
FAMILIES = (FIRST_ORDER, ZEROTH_ORDER, FORWARD_GRAD)

_SGD = {"lr": 1e-2, "momentum": 0.9, "weight_decay": 5e-4}
_ADAM = {"lr": 1e-3, "weight_decay": 5e-4, "adamw": False}
ZO_EPS = 1e-3  # the released perturbation scale, also TrialConfig's default eps
ZO_SEED = 1993  # the released seed, also TrialConfig's default seed
# Released ZO settings: eps, q 1, seed; enhancements off (ratio 0 is plain ZO).
_ZO = {"q": 1, "eps": ZO_EPS, "historical": 0.0, "sparsity": 0.0, "sparsity_mode": "exact", "seed": ZO_SEED}
_SPSA = "trainers.optim.zeroth_order:ZerothOrder"


@dataclass(frozen=True)
class OptimizerSpec:
    """What a strategy name means; see the module docstring."""

    name: str
    family: str
    base: str
    description: str
    defaults: Mapping[str, Any]
    label: str
    strategy: str  # "module:Class" of the trainers.optim strategy
    preset_family: str  # fo-sgd, fo-adam, zo-sgd, zo-adam or forward-grad (trainers/presets.py)
    sign: bool = False
    conserve: bool = False
    paper: bool = True  # one of Table 1's nine rows
    extra_forwards: int = 0  # forwards per step beyond the 2q SPSA points (HiZOO's L(θ))

    @property
    def needs_backward(self) -> bool:
        return self.family == FIRST_ORDER

    @property
    def spsa(self) -> bool:
        """ZerothOrder's own SPSA directions (the enhancements historical and sparsity apply)."""
        return self.strategy == _SPSA

    def forwards_per_step(self, q: int = 1, one_sided: bool = False) -> int:
        """Closure evaluations one step costs (a jvp pass counts as one forward pass); `one_sided`:
        L(θ) once and one point per query (ZO-Muon's released `muon_sided: one`)."""
        if self.family != ZEROTH_ORDER:
            return 1
        if one_sided:
            return 1 + q
        # Conserve: L(θ), the two SPSA points, then one forward per candidate (q = 1 only).
        return 5 if self.conserve else 2 * q + self.extra_forwards

    @property
    def fo_counterpart(self) -> str:
        """The first-order strategy the hybrid enhancement trains with before switching to this one."""
        return f"fo-{self.base}" if self.family == ZEROTH_ORDER else self.name


def _spec(name: str, family: str, base: str, description: str, defaults: dict[str, Any], label: str,
          strategy: str, preset_family: str, **flags: Any) -> OptimizerSpec:
    return OptimizerSpec(name, family, base, description, MappingProxyType(dict(defaults)), label, strategy,
                         preset_family, **flags)


def _zeroth_order(base: str, base_defaults: dict[str, Any]) -> list[OptimizerSpec]:
    title = base.upper() if base == "sgd" else base.capitalize()
    defaults = {**base_defaults, **_ZO}
    if base == "sgd":
        defaults["lr"] = 1e-4  # released ZO-SGD learning rate; ZO-Adam keeps 1e-3
    family = f"zo-{base}"
    return [
        _spec(family, ZEROTH_ORDER, base, f"two-point SPSA estimate applied by {title}", defaults,
              f"ZO-{title}", _SPSA, family),
        _spec(f"{family}-sign", ZEROTH_ORDER, base, f"SPSA with the sign of each difference, {title}",
              defaults, f"ZO-{title}-Sign", _SPSA, family, sign=True),
        _spec(f"{family}-conserve", ZEROTH_ORDER, base,
              f"SPSA, then the best of θ and the two {title} candidates on the same batch",
              {**defaults, "conserve": "exact"}, f"ZO-{title}-Conserve", _SPSA, family, conserve=True),
    ]


@dataclass(frozen=True)
class Beyond:
    """One estimator beyond the paper: its strategy, label, own settings and extra forwards."""

    strategy: str
    label: str
    description: str
    settings: Mapping[str, Any]
    extra_forwards: int = 0


# Beyond the paper (2024-26 estimators, one trainers/optim module each): SPSA on ZO-SGD's settings
# (released ZeroFlow lr, eps, seed; SGD with momentum applies the estimate) plus each paper's own
# settings. Defaults are the ViT settings of the OPTML-Group/ZO-Muon repository, which ran all
# five on ViT (LOZO rank 4 / 100 steps, SubZero rank 48 / 1000 steps, ZO-Muon rank 64 / 100 steps /
# 5 Newton-Schulz steps / lr 1e-2, HiZOO smoothing 1e-8); Sparse-MeZO's ratio is zfsweep's choice.
# Each also takes its released-vs-corrected forms (catalog/config.py), at their neutral value here:
# `profile: released` sets the released ones (trainers/presets.py).
BEYOND: Mapping[str, Beyond] = MappingProxyType({
    "zo-sparse-mezo": Beyond("trainers.optim.sparse_mezo:SparseMeZO", "Sparse-MeZO",
                             "SPSA on the smallest-magnitude entries of each tensor (Sparse-MeZO)",
                             {"magnitude_ratio": 0.25, "decay_rule": "all"}),
    "zo-lozo": Beyond("trainers.optim.lozo:Lozo", "LOZO",
                      "SPSA along low-rank U Vᵀ, V kept for `period` steps (LOZO)",
                      {"rank": 4, "period": 100, "decay_rule": "all", "lozo_scale": "inverse-rank"}),
    "zo-subzero": Beyond("trainers.optim.subzero:SubZero", "SubZero",
                         "SPSA in per-layer orthonormal subspaces U Z Vᵀ (SubZero)",
                         {"rank": 48, "period": 1000, "decay_rule": "all", "subspace_shape": "native"}),
    "zo-hizoo": Beyond("trainers.optim.hizoo:HiZoo", "HiZOO",
                       "SPSA preconditioned by a diagonal Hessian EMA, 3 forwards (HiZOO)",
                       {"hessian_smooth": 1e-8, "decay_rule": "all", "hizoo_hessian": "old"}, extra_forwards=1),
    "zo-muon": Beyond("trainers.optim.zo_muon:ZoMuon", "ZO-Muon",
                      "subspace SPSA orthogonalised by Newton-Schulz (ZO-Muon)",
                      {"rank": 64, "period": 100, "ns_steps": 5, "lr": 1e-2, "decay_rule": "all", "muon_sided": "two",
                       "muon_vector_lr": None}),
})


def _beyond() -> list[OptimizerSpec]:
    base = {**_SGD, **{key: value for key, value in _ZO.items() if key in ("q", "eps", "seed")}, "lr": 1e-4}
    return [_spec(name, ZEROTH_ORDER, "sgd", entry.description, {**base, **entry.settings}, entry.label,
                  entry.strategy, "zo-sgd", paper=False, extra_forwards=entry.extra_forwards)
            for name, entry in BEYOND.items()]


def _registry() -> dict[str, OptimizerSpec]:
    specs = [
        _spec("fo-sgd", FIRST_ORDER, "sgd", "backprop gradient, SGD with momentum", _SGD, "FO-SGD",
              "trainers.optim.first_order:FirstOrder", "fo-sgd"),
        _spec("fo-adam", FIRST_ORDER, "adam", "backprop gradient, Adam (AdamW with adamw=True)", _ADAM, "FO-Adam",
              "trainers.optim.first_order:FirstOrder", "fo-adam"),
        *_zeroth_order("sgd", _SGD),
        *_zeroth_order("adam", _ADAM),
        # Released Forward-Grad: plain SGD, lr 1e-3, no momentum, no weight decay, q ignored.
        _spec("forward-grad", FORWARD_GRAD, "sgd", "forward-mode AD estimate (∇L·v)v, plain SGD",
              {"lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0, "seed": ZO_SEED}, "Forward-Grad",
              "trainers.optim.forward_grad:ForwardGrad", "forward-grad"),
        *_beyond(),
    ]
    return {spec.name: spec for spec in specs}


OPTIMIZERS: Mapping[str, OptimizerSpec] = MappingProxyType(_registry())
PAPER_OPTIMIZERS: tuple[str, ...] = tuple(name for name, spec in OPTIMIZERS.items() if spec.paper)
BEYOND_OPTIMIZERS: tuple[str, ...] = tuple(BEYOND)
LABELS: Mapping[str, str] = MappingProxyType({name: spec.label for name, spec in OPTIMIZERS.items()})


def optimizer_names() -> list[str]:
    """Every name in canonical order: Table 1's nine rows, then the five estimators beyond the paper."""
    return list(OPTIMIZERS)


def get_spec(name: str) -> OptimizerSpec:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{name}'; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def fo_counterpart(name: str) -> str:
    """The first-order strategy the hybrid enhancement trains with before switching to `name`."""
    return get_spec(name).fo_counterpart


def takers(setting: str) -> tuple[str, ...]:
    """The optimizers whose defaults name `setting` (the ones that take it)."""
    return tuple(name for name, spec in OPTIMIZERS.items() if setting in spec.defaults)

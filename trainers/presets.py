"""Paper presets: the settings a trial gets when its grid does not state them, all in one place.

Sources: the official EASE/APER configs for first-order SGD, the
released ZeroFlow settings for zeroth-order runs (lr 1e-4 SGD / 1e-3 Adam, constant, 100 epochs,
batch 48) and Forward-Grad (lr 1e-3, constant, no momentum, no weight decay). Where the paper
gives nothing (first-order Adam; zeroth-order APER) zfsweep states its choice here:
FO-Adam uses the ZO-Adam learning rate with the FO epochs and schedule, and APER's ZO runs use
the ZeroFlow ZO settings. `digits` is the embedded CPU default with a tiny random ViT.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from trainers.config import TrialConfig

BACKBONE = {"backbone": "vit_base_patch16_224.augreg_in21k", "weights": "hub", "image_size": 224, "tasks": 10}
DIGITS_BACKBONE = {"backbone": "test_vit", "weights": "random", "image_size": 32, "tasks": 5}

# Official EASE first-order configs: lr, batch, weight decay, alpha, plain pretrained branch.
EASE_FO_SGD = {
    "cifar100": {"lr": 0.025, "batch_size": 48, "weight_decay": 5e-4, "alpha": 0.1},
    "cub": {"lr": 0.008, "batch_size": 32, "weight_decay": 5e-4, "alpha": 0.05},
    "imagenet-a": {"lr": 0.05, "batch_size": 32, "weight_decay": 5e-3, "alpha": 0.1},
    "omnibenchmark": {"lr": 0.01, "batch_size": 16, "weight_decay": 5e-4, "alpha": 1.0},
    "digits": {"lr": 0.05, "batch_size": 32, "weight_decay": 5e-4, "alpha": 0.1},
}
APER_FO_SGD = {"lr": 0.01, "batch_size": 48, "weight_decay": 5e-4}

FO = {"epochs": 20, "momentum": 0.9, "schedule": "cosine"}
ZO_SGD = {"lr": 1e-4, "epochs": 100, "batch_size": 48, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "constant"}
ZO_ADAM = {"lr": 1e-3, "epochs": 100, "batch_size": 48, "momentum": 0.0, "weight_decay": 5e-4, "schedule": "constant"}
FORWARD_GRAD = {"lr": 1e-3, "epochs": 100, "batch_size": 48, "momentum": 0.0, "weight_decay": 0.0,
                "schedule": "constant"}

# digits runs on a laptop CPU in seconds: few epochs, larger steps for the small random ViT.
DIGITS = {
    "fo-sgd": {"lr": 0.05, "epochs": 3, "schedule": "cosine"},
    "fo-adam": {"lr": 1e-3, "epochs": 3, "schedule": "cosine"},
    "zo-sgd": {"lr": 1e-2, "epochs": 3, "batch_size": 32},
    "zo-adam": {"lr": 1e-3, "epochs": 3, "batch_size": 32},
    "forward-grad": {"lr": 1e-2, "epochs": 3, "batch_size": 32},
}


# glyphs: the pretrained tiny glyph ViT on 10 tasks of 10 symbols (trainers.data.glyphs). Values
# chosen by zfsweep on this CPU benchmark (README "What to expect"): a task has 240 training images,
# so 8 epochs of batch 16 are 120 steps (the paper's CIFAR-100 tasks take about 2,000), hence
# first-order steps far larger than the paper's (FO-SGD lr 1.0; lr 0.05 left the adapters
# nearly untouched). Zeroth-order steps keep the digits values.
GLYPHS_BACKBONE = {"backbone": "glyph_vit", "weights": "glyphs", "image_size": 32, "tasks": 10}
GLYPHS_COMMON = {"batch_size": 16, "epochs": 8, "weight_decay": 5e-4, "alpha": 0.1}
GLYPHS = {
    "fo-sgd": {"lr": 1.0, "momentum": 0.9, "schedule": "cosine"},
    "fo-adam": {"lr": 1e-2, "momentum": 0.0, "schedule": "cosine"},
    "zo-sgd": {"lr": 1e-2, "momentum": 0.9, "schedule": "constant"},
    "zo-adam": {"lr": 1e-3, "momentum": 0.0, "schedule": "constant"},
    "forward-grad": {"lr": 1e-2, "momentum": 0.0, "weight_decay": 0.0, "schedule": "constant"},
}


def glyphs_preset(family: str) -> dict[str, Any]:
    """The glyphs backbone and this optimizer family's settings."""
    return {**GLYPHS_BACKBONE, **GLYPHS_COMMON, **GLYPHS[family]}


def optimizer_family(optimizer: str) -> str:
    """fo-sgd, fo-adam, zo-sgd, zo-adam or forward-grad: the Sign/Conserve variants share presets."""
    for family in ("zo-sgd", "zo-adam"):
        if optimizer.startswith(family):
            return family
    return optimizer


def _method_preset(method: str, family: str, dataset: str) -> dict[str, Any]:
    ease_fo = EASE_FO_SGD.get(dataset, EASE_FO_SGD["cifar100"])
    if family == "fo-sgd":
        fo = dict(ease_fo) if method == "ease" else dict(APER_FO_SGD)
        return {**FO, **fo}
    if family == "fo-adam":
        fo = dict(ease_fo) if method == "ease" else dict(APER_FO_SGD)
        return {**FO, **fo, "lr": ZO_ADAM["lr"], "momentum": 0.0}
    return dict({"zo-sgd": ZO_SGD, "zo-adam": ZO_ADAM, "forward-grad": FORWARD_GRAD}[family])


def preset(config: TrialConfig) -> dict[str, Any]:
    """The preset values for this method, optimizer family and dataset."""
    family = optimizer_family(config.optimizer)
    values: dict[str, Any] = dict(DIGITS_BACKBONE if config.dataset == "digits" else BACKBONE)
    values.update(_method_preset(config.method, family, config.dataset))
    ease = EASE_FO_SGD.get(config.dataset, EASE_FO_SGD["cifar100"])
    values["alpha"] = ease["alpha"]
    values["use_pretrained_branch"] = config.dataset == "omnibenchmark"
    if config.dataset == "digits":
        values.update(DIGITS[family])
    if config.dataset == "glyphs":
        values.update(glyphs_preset(family))
    return values


def resolve(config: TrialConfig) -> TrialConfig:
    """Fill every None field with its preset; fields the caller set are kept."""
    values = preset(config)
    filled = {key: value for key, value in values.items() if getattr(config, key) is None}
    return dataclasses.replace(config, **filled)

"""Methods by name; each is built around an AdapterViT and knows its number of classes."""

from __future__ import annotations

from typing import Callable

from catalog.config import TrialConfig
from trainers.backbone import AdapterViT
from trainers.methods.aper import Aper
from trainers.methods.base import Method
from trainers.methods.ease import build_ease

Builder = Callable[[AdapterViT, int, TrialConfig], Method]

METHOD_BUILDERS: dict[str, Builder] = {
    "aper": lambda backbone, num_classes, config: Aper(backbone, num_classes),
    "ease": build_ease,
}


def build_method(config: TrialConfig, backbone: AdapterViT, num_classes: int) -> Method:
    return METHOD_BUILDERS[config.method](backbone, num_classes, config)


__all__ = ["Method", "METHOD_BUILDERS", "build_method"]

"""Methods, data sets and profiles of the ZeroFlow benchmark (arXiv 2501.01045), one entry each.

A data set's entry gives its label in reports, its column in the paper's tables (None for the
embedded ones) and, where the cost model needs it, its training images. trainers/data/__init__.py
maps each name to the source that loads it and trainers/methods/__init__.py each method to its
builder; a catalog test checks that every name here has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Method:
    name: str
    label: str


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    paper_column: int | None = None  # index among the paper's four data sets
    train_images: int | None = None  # None: costed like CIFAR-100 (orchestrator's cost model)


METHODS: Mapping[str, Method] = MappingProxyType({
    "ease": Method("ease", "EASE"),
    "aper": Method("aper", "APER"),
})
DATASETS: Mapping[str, Dataset] = MappingProxyType({
    "cifar100": Dataset("cifar100", "CIFAR-100", 0, 50_000),
    "cub": Dataset("cub", "CUB", 1),
    "imagenet-a": Dataset("imagenet-a", "ImageNet-A", 2),
    "omnibenchmark": Dataset("omnibenchmark", "OmniBenchmark", 3),
    "digits": Dataset("digits", "Digits", None, 1_347),  # scikit-learn's digits, the 75 % training split
    "glyphs": Dataset("glyphs", "Glyphs"),
})
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
# The paper's four data sets, in its column order.
PAPER_DATASETS: tuple[str, ...] = tuple(sorted((d.name for d in DATASETS.values() if d.paper_column is not None),
                                               key=lambda name: DATASETS[name].paper_column or 0))
DATASET_LABELS: Mapping[str, str] = MappingProxyType({name: d.label for name, d in DATASETS.items()})
METHOD_LABELS: Mapping[str, str] = MappingProxyType({name: m.label for name, m in METHODS.items()})

# `profile`: what the authors' released scripts ran, side effects included, or those side effects
# corrected (trainers/presets.py, docs/fidelity.md).
PROFILES: tuple[str, ...] = ("released", "corrected")
DEFAULT_PROFILE = "corrected"

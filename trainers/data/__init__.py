"""Data sets by name (ZeroFlow, arXiv 2501.01045, section 5): each source checks and loads its files; the split is shared.

A source's `check(data_root)` is cheap and raises a one-line DataError naming the path, the
problem and the layout wanted; `verify(data_root)` checks every file and returns the number of
classes: `zfsweep run` calls it for every data set of a grid before any trial starts. `load(data_root, image_size)` repeats those checks and returns the splits with
their transforms (those of the released EASE/APER code); `build_benchmark` orders and splits the classes.
"""

from __future__ import annotations

from typing import Protocol

from trainers.data.cache_sources import StorePair
from trainers.data.cifar import CifarData
from trainers.data.core import Benchmark, DataError, LabeledImages, Splits, class_order, make_benchmark
from trainers.data.digits import NUM_CLASSES as DIGITS_CLASSES
from trainers.data.digits import load_digits_splits
from trainers.data.folders import ImageFolderData
from trainers.data.glyphs import GlyphsData


class Source(Protocol):
    def check(self, data_root: str) -> None: ...

    def verify(self, data_root: str) -> int: ...

    def load(self, data_root: str, image_size: int) -> Splits: ...


class DigitsData:
    """scikit-learn's bundled digits: nothing on disk to check, `data_root` unused."""

    def check(self, data_root: str) -> None:
        return None

    def verify(self, data_root: str) -> int:
        return DIGITS_CLASSES

    def load(self, data_root: str, image_size: int) -> Splits:
        return load_digits_splits(image_size)


SOURCES: dict[str, Source] = {
    "cifar100": CifarData("cifar100"),
    "cub": ImageFolderData("cub", "cub"),
    "imagenet-a": ImageFolderData("imagenet-a", "imagenet-a"),
    "omnibenchmark": ImageFolderData("omnibenchmark", "omnibenchmark"),
    "digits": DigitsData(),
    "glyphs": GlyphsData(),
}


def _source(dataset: str) -> Source:
    if dataset not in SOURCES:
        raise DataError(f"unknown dataset '{dataset}'; allowed: {', '.join(SOURCES)}")
    return SOURCES[dataset]


def check_available(dataset: str, data_root: str) -> None:
    """Raise DataError if `dataset` is unknown or its files under `data_root` are missing or malformed."""
    _source(dataset).check(data_root)


def inspect(dataset: str, data_root: str) -> int:
    """The pre-sweep check of `dataset` under `data_root`: every file readable (each source's
    `verify` says how much it reads); the number of classes, to check `tasks` against."""
    return _source(dataset).verify(data_root)


def pixel_stores(dataset: str, data_root: str, image_size: int) -> StorePair | None:
    """(train, test) decode-once caches of `dataset` for the device-side input path; None if it has none (digits)."""
    stores = getattr(_source(dataset), "pixel_stores", None)
    return None if stores is None else stores(data_root, image_size)


def build_benchmark(dataset: str, data_root: str, *, seed: int, tasks: int, image_size: int,
                    validation: float = 0.0) -> Benchmark:
    """Load `dataset` under `data_root`, split it into `tasks` tasks in the seeded class order, and
    hold out `validation` of each class's training images."""
    train, test, num_classes = _source(dataset).load(data_root, image_size)
    return make_benchmark(dataset, train, test, num_classes, seed=seed, tasks=tasks, validation=validation)


__all__ = ["Benchmark", "DataError", "LabeledImages", "SOURCES", "Source", "build_benchmark", "check_available",
           "class_order", "inspect", "pixel_stores"]

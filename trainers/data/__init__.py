"""Data sets by name: each loader returns (train, test, number of classes); the split is shared."""

from __future__ import annotations

from typing import Callable

from trainers.data.core import Benchmark, DataError, LabeledImages, class_order, make_benchmark
from trainers.data.digits import load_digits_splits

Loader = Callable[[str, int], tuple[LabeledImages, LabeledImages, int]]

LOADERS: dict[str, Loader] = {
    "digits": lambda data_root, image_size: load_digits_splits(image_size),
}


def check_available(dataset: str, data_root: str) -> None:
    """Raise DataError if `dataset` is unknown or its files are not under `data_root`."""
    if dataset not in LOADERS:
        raise DataError(f"unknown dataset '{dataset}'; allowed: {', '.join(LOADERS)}")


def build_benchmark(dataset: str, data_root: str, *, seed: int, tasks: int, image_size: int) -> Benchmark:
    """Load `dataset` under `data_root` and split it into `tasks` tasks in the seeded class order."""
    check_available(dataset, data_root)
    train, test, num_classes = LOADERS[dataset](data_root, image_size)
    return make_benchmark(dataset, train, test, num_classes, seed=seed, tasks=tasks)


__all__ = ["Benchmark", "DataError", "LabeledImages", "LOADERS", "build_benchmark", "check_available", "class_order"]

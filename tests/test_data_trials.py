"""Whole trials of every registered method on tiny data sets in each on-disk format.

The methods see the real loaders, transforms and class order (issue 4 item 3): a tiny random
ViT, two tasks of two classes, one epoch. A new method registered in METHOD_BUILDERS is covered
without editing this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_data import FOLDER_SETS, write_cifar, write_folders
from catalog.config import make_config
from trainers.methods import METHOD_BUILDERS
from trainers.trial import describe_trial, run_trial

TINY = {"backbone": "test_vit", "weights": "random", "image_size": 32, "tasks": 2, "epochs": 1, "batch_size": 4,
        "device": "cpu"}


@pytest.mark.parametrize("method", sorted(METHOD_BUILDERS))
@pytest.mark.parametrize("dataset", ["cifar100", *FOLDER_SETS])
def test_every_method_runs_on_every_on_disk_format(tmp_path: Path, dataset: str, method: str) -> None:
    if dataset == "cifar100":
        write_cifar(tmp_path)
    else:
        write_folders(tmp_path, dataset)
    config = make_config({**TINY, "dataset": dataset, "data_root": str(tmp_path), "method": method})
    result = run_trial(config)
    assert len(result.acc) == 2 and all(0.0 <= acc <= 100.0 for acc in result.acc)
    assert result.forward_passes > 0 and result.trainable_params > 0


def test_dry_run_describes_the_on_disk_split(tmp_path: Path) -> None:
    write_folders(tmp_path, "cub", per_class=(2, 1))
    info = describe_trial(make_config({**TINY, "dataset": "cub", "data_root": str(tmp_path)}))
    assert info["num_classes"] == 4 and info["train_images"] == 8 and info["test_images"] == 4

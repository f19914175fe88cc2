"""The decode-once cache: built once per machine even when trials start together, and holding the right pixels."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from test_data import write_cifar, write_folders
from trainers.data import pixel_stores
from trainers.data.cache import CacheSpec, open_store
from trainers.data.cifar import CifarData
from trainers.data.folders import ImageFiles

SHAPES = [(4, 5), (6, 3), (2, 2)]


def _counting_spec(log: Path) -> CacheSpec:
    def images() -> Iterator[np.ndarray]:  # appends one line per build, so the test can count builds
        with log.open("a") as file:
            file.write("build\n")
        time.sleep(0.3)  # long enough for builds that were not serialised to overlap
        for k, (h, w) in enumerate(SHAPES):
            yield np.full((3, h, w), k + 1, dtype=np.uint8)

    return CacheSpec("counting", 7, lambda: (SHAPES, images()))


def _open(root: str, log: str) -> None:
    store = open_store(_counting_spec(Path(log)), Path(root))
    assert store.image(1).shape == (3, 6, 3)


def test_trials_starting_together_build_the_cache_once(tmp_path: Path) -> None:
    log = tmp_path / "builds.txt"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_open, args=(str(tmp_path / "cache"), str(log))) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * 4
    assert log.read_text().count("build") == 1
    store = open_store(_counting_spec(log), tmp_path / "cache")
    assert log.read_text().count("build") == 1 and len(store) == 3 and store.side == 7
    assert [int(store.image(k).max()) for k in range(3)] == [1, 2, 3]
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_failed_build_leaves_no_cache(tmp_path: Path) -> None:
    spec = CacheSpec("bad", 7, lambda: (SHAPES, iter([np.zeros((3, 1, 1), dtype=np.uint8)])))
    with pytest.raises(ValueError, match="image 0"):
        open_store(spec, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.lock"]


def test_windows_copy_each_box_to_the_top_left(tmp_path: Path) -> None:
    store = open_store(_counting_spec(tmp_path / "log"), tmp_path)
    windows = store.windows(np.array([0, 1]), np.array([[1, 2, 2, 3], [0, 0, 6, 1]]))
    assert windows.shape == (2, 3, 6, 3)
    assert (windows[0, :, :2, :3] == 1).all() and (windows[0, :, 2:] == 0).all()
    assert (windows[1, :, :, :1] == 2).all() and (windows[1, :, :, 1:] == 0).all()


def test_cifar_cache_holds_the_pickled_pixels(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    train, test = CifarData("cifar100").pixel_stores(str(tmp_path), 32)
    images = CifarData("cifar100").load(str(tmp_path), 32)[0]
    assert len(train) == 12 and len(test) == 8 and train.side == 32
    for k in range(len(train)):
        expected = (images._load(k) * 255).round().to(torch.uint8).numpy()
        np.testing.assert_array_equal(train.image(k), expected)


def test_folder_cache_is_the_test_resize_rounded_to_uint8(tmp_path: Path) -> None:
    write_folders(tmp_path, "cub")
    train, _ = pixel_stores("cub", str(tmp_path), 56)  # stored short side round(56 * 256/224) = 64
    assert train.side == 64
    paths = sorted(str(p) for p in (tmp_path / "cub" / "train").rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    for k, path in enumerate(paths):
        original = ImageFiles([path])(0)
        resized = v2.functional.resize(original, 64, interpolation=v2.InterpolationMode.BICUBIC, antialias=True)
        stored = torch.from_numpy(train.image(k).copy()).float() / 255
        assert stored.shape == resized.shape and stored.shape[-2] == 64  # images are 9 x 12: height is short
        assert (stored - resized.clamp(0, 1)).abs().max() <= 0.5 / 255 + 1e-6

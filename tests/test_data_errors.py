"""Missing or malformed data folders: one DataError line naming the path, the problem and the layout.

`check_available` (what `zfsweep run` calls before any trial) and `build_benchmark` (what a trial
calls) must both refuse, with the same line, before anything trains.
"""

from __future__ import annotations

import pickle
import struct
import zlib
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from test_data import CLASS_FOLDERS, FOLDER_SETS, write_cifar, write_folders
from catalog.config import make_config
from trainers.data import DataError, build_benchmark, check_available
from trainers.trial import run_trial

Breaker = Callable[[Path], tuple[str, str]]  # damages a data set under root; returns (dataset, path named)


def assert_refused(dataset: str, root: Path, *fragments: str) -> None:
    """Both entry points raise the same one-line DataError naming every fragment."""
    with pytest.raises(DataError) as checked:
        check_available(dataset, str(root))
    with pytest.raises(DataError) as built:
        build_benchmark(dataset, str(root), seed=1993, tasks=2, image_size=32)
    message = str(checked.value)
    assert message == str(built.value) and "\n" not in message and "expected" in message
    for fragment in fragments:
        assert fragment in message, message


def _pickle(path: Path, content: object) -> None:
    path.write_bytes(pickle.dumps(content))


def no_cifar_folder(root: Path) -> tuple[str, str]:
    (root / "other").mkdir()
    return "cifar100", "cifar-100-python"


def cifar_test_missing(root: Path) -> tuple[str, str]:
    (write_cifar(root) / "test").unlink()
    return "cifar100", str(root / "cifar-100-python" / "test")


def cifar_garbage(root: Path) -> tuple[str, str]:
    (write_cifar(root) / "train").write_bytes(b"\x00 not a pickle at all")
    return "cifar100", str(root / "cifar-100-python" / "train")


def cifar_not_a_dict(root: Path) -> tuple[str, str]:
    _pickle(write_cifar(root) / "test", [1, 2, 3])
    return "cifar100", str(root / "cifar-100-python" / "test")


def cifar_no_labels(root: Path) -> tuple[str, str]:
    _pickle(write_cifar(root) / "train", {b"data": np.zeros((4, 3072), np.uint8)})
    return "cifar100", "fine_labels"


def cifar_wrong_shape(root: Path) -> tuple[str, str]:
    _pickle(write_cifar(root) / "train", {b"data": np.zeros((4, 1024), np.uint8), b"fine_labels": [0, 1, 2, 3]})
    return "cifar100", "3072"


def cifar_meta_names_more_classes(root: Path) -> tuple[str, str]:
    _pickle(write_cifar(root) / "meta", {b"fine_label_names": [b"x"] * 100})
    return "cifar100", "no images of class 4, but there are 100 classes (fine_label_names in meta)"


def cifar_label_beyond_meta(root: Path) -> tuple[str, str]:
    _pickle(write_cifar(root) / "meta", {b"fine_label_names": [b"x", b"y"]})
    return "cifar100", "label 3, but there are 2 classes"


def cifar_test_lacks_a_class(root: Path) -> tuple[str, str]:
    base = write_cifar(root, meta=False)
    _pickle(base / "test", {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1]})
    return "cifar100", str(base / "test")


def no_root(root: Path) -> tuple[str, str]:
    shutil.rmtree(root)
    return "cub", str(root)


def no_dataset_folder(root: Path) -> tuple[str, str]:
    write_folders(root, "cub")
    return "imagenet-a", str(root / "imagenet-a")


def split_folder_missing(root: Path) -> tuple[str, str]:
    shutil.rmtree(write_folders(root, "omnibenchmark") / "test")
    return "omnibenchmark", str(root / "omnibenchmark" / "test")


def no_class_folders(root: Path) -> tuple[str, str]:
    base = write_folders(root, "cub")
    shutil.rmtree(base / "train")
    (base / "train").mkdir()
    return "cub", str(base / "train")


def classes_differ(root: Path) -> tuple[str, str]:
    base = write_folders(root, "cub")
    (base / "test" / "delta").rename(base / "test" / "echo")
    return "cub", "only in train: delta; only in test: echo"


def empty_class_folder(root: Path) -> tuple[str, str]:
    base = write_folders(root, "imagenet-a")
    for image in (base / "test" / "bravo").glob("img*"):
        image.unlink()
    return "imagenet-a", str(base / "test" / "bravo")


BREAKERS: list[Breaker] = [no_cifar_folder, cifar_test_missing, cifar_garbage, cifar_not_a_dict, cifar_no_labels,
                           cifar_wrong_shape, cifar_meta_names_more_classes, cifar_label_beyond_meta,
                           cifar_test_lacks_a_class, no_root,
                           no_dataset_folder, split_folder_missing, no_class_folders, classes_differ,
                           empty_class_folder]


@pytest.mark.parametrize("breaker", BREAKERS, ids=[b.__name__ for b in BREAKERS])
def test_broken_data_is_refused_in_one_line_naming_the_path(tmp_path: Path, breaker: Breaker) -> None:
    root = tmp_path / "data"
    root.mkdir()
    dataset, named = breaker(root)
    assert_refused(dataset, root, dataset, named)


def test_unknown_dataset_lists_the_allowed_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset 'mnist'; allowed: cifar100, cub, imagenet-a"):
        check_available("mnist", str(tmp_path))


def test_tasks_must_split_the_classes_equally(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    with pytest.raises(DataError, match="4 classes cannot be split into 3 equal tasks"):
        build_benchmark("cifar100", str(tmp_path), seed=1993, tasks=3, image_size=32)


def test_an_undecodable_image_names_its_file_when_read(tmp_path: Path) -> None:
    base = write_folders(tmp_path, "cub")
    broken = base / "train" / CLASS_FOLDERS[0] / "img0.png"
    broken.write_bytes(b"not a png")
    check_available("cub", str(tmp_path))  # the cheap check lists files, it decodes none
    benchmark = build_benchmark("cub", str(tmp_path), seed=1993, tasks=2, image_size=32)
    index = [i for i, path in enumerate(benchmark.train._load.paths) if path == str(broken)][0]
    with pytest.raises(DataError, match=f"cannot read image '{broken}'"):
        benchmark.train[index]


@pytest.mark.parametrize("dataset", ["cifar100", FOLDER_SETS[0]])
def test_a_trial_on_missing_data_fails_before_training(tmp_path: Path, dataset: str) -> None:
    config = make_config({"dataset": dataset, "data_root": str(tmp_path / "absent"), "backbone": "test_vit",
                          "weights": "random", "image_size": 32, "tasks": 2, "device": "cpu"})
    with pytest.raises(DataError, match=str(tmp_path / "absent")):
        run_trial(config)


def _png_bomb(path: Path, side: int = 20_000) -> None:
    """A 1-bit grayscale PNG of side x side pixels, all black: ~60 kB on disk, 1.2 GB once decoded to RGB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + side // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [20_000, 8_000])  # past PIL's own bomb limit, and under it but past ours
def test_a_decompression_bomb_in_an_image_folder_is_refused_naming_the_file(tmp_path: Path, side: int) -> None:
    from trainers.data import inspect
    from trainers.data.folders import ImageFiles
    from trainers.data.imagecheck import MAX_IMAGE_PIXELS

    base = write_folders(tmp_path, "cub")
    bomb = base / "train" / CLASS_FOLDERS[0] / "img0.png"
    _png_bomb(bomb, side)
    assert bomb.stat().st_size < 200_000 and side * side > MAX_IMAGE_PIXELS
    for read in (lambda: inspect("cub", str(tmp_path)), lambda: ImageFiles([str(bomb)])(0)):
        with pytest.raises(DataError) as raised:
            read()
        message = str(raised.value)
        assert f"'{bomb}'" in message and f"{side * side:,} pixels" in message and "\n" not in message, message
        assert f"at most {MAX_IMAGE_PIXELS:,}" in message

"""The on-disk data sets (CIFAR-100 pickles, image-folder trees), their checks and their transforms.

Tiny data sets are written in each format under tmp_path. Every image of original class k has the
constant value `shade(k)`, so a loaded image tells which class it came from and the tests can
check labels, sorted class folders and the seeded class order end to end.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from catalog.names import DATASET_NAMES as DATASETS
from trainers.data import SOURCES, build_benchmark, check_available, class_order
from trainers.data.transforms import eval_transform, train_transform

CLASS_FOLDERS = ["delta", "alpha", "charlie", "bravo"]  # written unsorted; class k = k-th in sorted order
FOLDER_SETS = ["cub", "imagenet-a", "omnibenchmark"]
SHAPE = (9, 12)  # height, width: not square, smaller than the ViT input


def shade(k: int) -> int:
    return 40 * k + 20


def write_cifar(root: Path, classes: int = 4, per_class: tuple[int, int] = (3, 2), meta: bool = True) -> Path:
    """`root/cifar-100-python/{train,test,meta}` in torchvision's format (bytes keys, CHW rows)."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    for split, count in zip(("train", "test"), per_class):
        labels = [k for k in range(classes) for _ in range(count)]
        pixels = np.array([[shade(k) % 256] * 3072 for k in labels], dtype=np.uint8)
        (base / split).write_bytes(pickle.dumps({b"data": pixels, b"fine_labels": labels, b"coarse_labels": labels}))
    if meta:
        names = [f"class{k}".encode() for k in range(classes)]
        (base / "meta").write_bytes(pickle.dumps({b"fine_label_names": names}))
    return base


def write_image(path: Path, value: int, mode: str = "RGB") -> None:
    color = value if mode == "L" else (value, value, value)
    Image.new(mode, SHAPE[::-1], color).save(path)


def write_folders(root: Path, name: str, per_class: tuple[int, int] = (3, 2)) -> Path:
    """`root/name/{train,test}/<class>/` with png, jpg, JPEG and grayscale images, plus files to ignore."""
    base = root / name
    for split, count in zip(("train", "test"), per_class):
        for folder in CLASS_FOLDERS:
            target = base / split / folder
            target.mkdir(parents=True)
            value = shade(sorted(CLASS_FOLDERS).index(folder))
            for i in range(count):
                suffix, mode = [(".png", "RGB"), (".jpg", "RGB"), (".JPEG", "L")][i % 3]
                write_image(target / f"img{i}{suffix}", value, mode)
            (target / "notes.txt").write_text("not an image")
        (base / split / ".cache").mkdir()  # hidden folders are not classes
    return base


def original_class(image: torch.Tensor) -> int:
    """The class k whose shade the (constant) image has; JPEG moves a value by a few levels at most."""
    value = image.mean().item() * 255
    k = round((value - 20) / 40)
    assert abs(value - shade(k)) < 4
    return k


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and "expected" in message
    for fragment in fragments:
        assert fragment in message, message


def test_every_configured_dataset_has_a_source() -> None:
    assert set(SOURCES) == set(DATASETS)


def test_cifar100_class_order_with_seed_1993_is_the_papers() -> None:
    assert class_order(100, 1993)[:10].tolist() == [68, 56, 78, 8, 23, 84, 90, 65, 74, 76]


def test_cifar100_takes_its_100_classes_and_order_from_the_pickles(tmp_path: Path) -> None:
    write_cifar(tmp_path, classes=100, per_class=(1, 1))
    benchmark = build_benchmark("cifar100", str(tmp_path), seed=1993, tasks=10, image_size=32)
    assert benchmark.num_classes == 100 and benchmark.classes_per_task == 10
    assert list(benchmark.class_order[:10]) == [68, 56, 78, 8, 23, 84, 90, 65, 74, 76]
    image, label = benchmark.test[0]  # original class 0 sits at position 87 of that order
    assert label == benchmark.class_order.index(0) and original_class(image) == 0


@pytest.mark.parametrize("dataset", ["cifar100", *FOLDER_SETS])
@pytest.mark.parametrize("direct", [False, True], ids=["data_root", "dataset_folder"])
def test_loaded_images_carry_their_labels_in_the_seeded_order(tmp_path: Path, dataset: str, direct: bool) -> None:
    base = write_cifar(tmp_path) if dataset == "cifar100" else write_folders(tmp_path, dataset)
    root = str(base if direct else tmp_path)
    check_available(dataset, root)
    benchmark = build_benchmark(dataset, root, seed=7, tasks=2, image_size=32)
    assert benchmark.num_classes == 4 and len(benchmark.train) == 12 and len(benchmark.test) == 8
    assert list(benchmark.class_order) == class_order(4, 7).tolist()
    for images in (benchmark.train, benchmark.test):
        for image, label in images:
            assert image.shape == (3, 32, 32) and image.dtype == torch.float32
            assert 0.0 <= image.min() and image.max() <= 1.0
            assert benchmark.class_order[label] == original_class(image)
    assert sorted(benchmark.test.subset(benchmark.task_classes(1)).indices) == [
        i for i, label in enumerate(benchmark.test.labels) if label >= 2]


def test_cifar100_without_meta_counts_classes_from_the_labels(tmp_path: Path) -> None:
    write_cifar(tmp_path, classes=6, meta=False)
    assert build_benchmark("cifar100", str(tmp_path), seed=1, tasks=3, image_size=32).num_classes == 6


def test_benchmark_train_set_augments_and_test_set_does_not(tmp_path: Path) -> None:
    write_folders(tmp_path, "cub")
    benchmark = build_benchmark("cub", str(tmp_path), seed=1993, tasks=2, image_size=32)
    assert isinstance(benchmark.train.transform.transforms[0], v2.RandomResizedCrop)
    assert isinstance(benchmark.test.transform.transforms[0], v2.Resize)
    plain = benchmark.train.with_transform(benchmark.test.transform)  # how trial.py builds prototypes
    assert torch.equal(plain[0][0], plain[0][0]) and plain[0][1] == benchmark.train[0][1]
    assert pickle.loads(pickle.dumps(benchmark.train))[0][0].shape == (3, 32, 32)  # DataLoader workers


def test_train_transform_crops_and_flips_from_the_global_rng() -> None:
    transform = train_transform(32)
    crop, flip = transform.transforms
    assert crop.scale == (0.05, 1.0) and crop.size == (32, 32) and isinstance(flip, v2.RandomHorizontalFlip)
    image = torch.rand(3, 40, 50)
    torch.manual_seed(3)
    first = transform(image)
    torch.manual_seed(3)
    assert torch.equal(first, transform(image))  # trial.py seeds the global RNG per task
    draws = [transform(image) for _ in range(5)]
    assert first.shape == (3, 32, 32) and any(not torch.equal(first, draw) for draw in draws)


def test_eval_transform_resizes_by_256_over_224_bicubic_then_centre_crops() -> None:
    resize, crop = eval_transform(224).transforms[:2]
    assert resize.size == [256] and resize.interpolation == v2.InterpolationMode.BICUBIC
    assert crop.size == (224, 224)
    assert eval_transform(32).transforms[0].size == [37]  # round(32 * 256 / 224)
    # Bicubic upsampling of noise overshoots [0, 1]; the transform's output must not.
    noise = torch.rand(3, 9, 12, generator=torch.Generator().manual_seed(0))
    image = eval_transform(32)(noise)
    assert image.shape == (3, 32, 32) and image.min() >= 0.0 and image.max() <= 1.0
    assert torch.equal(image, eval_transform(32)(noise))

"""The device-side input path against the per-image one: same crops distribution, same pixels given the same boxes.

Measured here (and stated in docs/internals.md): train crops equal torchvision's resized_crop + flip for
the same boxes up to 1e-4 (dense float products, a GPU's way) or one grey level (the 8-bit kernel, a
CPU's way, rounding as PIL does for the released code); the boxes' area fraction and aspect ratio
follow the same distribution as RandomResizedCrop.get_params (two-sample Kolmogorov-Smirnov
statistic < 0.02 on 20,000 boxes); CIFAR test images equal the per-image test transform up to 1e-5,
image-folder ones up to 0.5/255.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from torchvision.transforms import RandomResizedCrop, v2

from test_data import write_cifar, write_folders
from catalog.config import make_config
from trainers.data import build_benchmark, pixel_stores
from trainers.data.device_loader import DeviceBatches
from trainers.data.device_transforms import centre_crops, crop_boxes, resized_crops
from trainers.data.transforms import TRAIN_CROP_SCALE, eval_transform
from trainers.trial import run_trial

TINY = {"backbone": "test_vit", "weights": "random", "image_size": 32, "tasks": 2, "epochs": 1, "batch_size": 4,
        "device": "cpu"}


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("shape", [(32, 32), (256, 341), (341, 256), (20, 500)])
def test_train_crops_equal_torchvision_given_the_same_boxes(shape: tuple[int, int], dense: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, *shape), dtype=torch.uint8, generator=generator)
    boxes, flips = crop_boxes(torch.tensor([shape] * 6), generator)
    windows = torch.zeros(6, 3, int(boxes[:, 2].max()), int(boxes[:, 3].max()), dtype=torch.uint8)
    for k, (top, left, height, width) in enumerate(boxes.tolist()):
        windows[k, :, :height, :width] = images[k, :, top:top + height, left:left + width]
    batched = resized_crops(windows, boxes, flips, 224, dense=dense)
    if not dense:  # a CPU batch takes the 8-bit way unless told otherwise
        assert torch.equal(resized_crops(windows, boxes, flips, 224), batched)
    for k in range(6):
        single = v2.functional.resized_crop(images[k].float() / 255, *boxes[k].tolist(), [224, 224], antialias=True)
        single = single.flip(-1) if flips[k] else single
        difference = (batched[k] - single).abs()
        if dense:
            assert difference.max() < 1e-4
        else:  # rounded to grey levels: off by at most one, and by half a level on average at most
            assert difference.max() <= 1 / 255 + 1e-5 and difference.mean() <= 0.5 / 255


def _torchvision_boxes(shape: tuple[int, int], count: int) -> np.ndarray:
    """(count, 4) boxes drawn by torchvision's own RandomResizedCrop.get_params (the per-image path)."""
    torch.manual_seed(1)
    image = torch.empty(3, *shape)
    return np.array([RandomResizedCrop.get_params(image, list(TRAIN_CROP_SCALE), [3 / 4, 4 / 3])
                     for _ in range(count)])


@pytest.mark.parametrize("shape", [(32, 32), (256, 341)])
def test_crop_area_and_aspect_follow_torchvision(shape: tuple[int, int]) -> None:
    count = 20000
    ours, flips = crop_boxes(torch.tensor([shape] * count), torch.Generator().manual_seed(2))
    theirs = _torchvision_boxes(shape, count)
    ours = ours.numpy()
    for column in range(4):  # top, left, height, width
        assert ks_2samp(ours[:, column], theirs[:, column]).statistic < 0.02
    area = [boxes[:, 2] * boxes[:, 3] / (shape[0] * shape[1]) for boxes in (ours, theirs)]
    aspect = [np.log(boxes[:, 3] / boxes[:, 2]) for boxes in (ours, theirs)]
    assert ks_2samp(*area).statistic < 0.02 and ks_2samp(*aspect).statistic < 0.02
    assert abs(area[0].mean() - area[1].mean()) < 0.02 and abs(aspect[0].std() - aspect[1].std()) < 0.02
    assert abs(flips.float().mean().item() - 0.5) < 0.03
    assert (ours[:, 0] + ours[:, 2] <= shape[0]).all() and (ours[:, 1] + ours[:, 3] <= shape[1]).all()
    assert (np.abs(aspect[0]) <= math.log(4 / 3) + 0.1).mean() > 0.99


def _device_test_images(dataset: str, root: Path, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(device path, per-image path) test images of the whole test split."""
    benchmark = build_benchmark(dataset, str(root), seed=1993, tasks=2, image_size=image_size)
    _, test = pixel_stores(dataset, str(root), image_size)
    indices = np.arange(len(benchmark.test))
    batches = DeviceBatches(test, indices, benchmark.test.labels, batch_size=3, image_size=image_size,
                            device=torch.device("cpu"), train=False, shuffle=False, seed=0)
    device = torch.cat([images for images, _ in batches])
    per_image = torch.stack([benchmark.test[int(i)][0] for i in indices])
    return device, per_image


def test_cifar_test_images_equal_the_per_image_transform(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    device, per_image = _device_test_images("cifar100", tmp_path, 224)
    assert device.shape == per_image.shape == (8, 3, 224, 224)
    assert (device - per_image).abs().max() < 1e-5


def test_folder_test_images_match_within_half_a_grey_level(tmp_path: Path) -> None:
    write_folders(tmp_path, "cub")
    device, per_image = _device_test_images("cub", tmp_path, 56)
    assert device.shape == per_image.shape == (8, 3, 56, 56)
    assert (device - per_image).abs().max() <= 0.5 / 255 + 1e-5


def test_train_batches_are_seeded_and_labelled(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    benchmark = build_benchmark("cifar100", str(tmp_path), seed=1993, tasks=2, image_size=32)
    train, _ = pixel_stores("cifar100", str(tmp_path), 32)

    def epoch(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        batches = DeviceBatches(train, np.arange(12), benchmark.train.labels, batch_size=5, image_size=32,
                                device=torch.device("cpu"), train=True, shuffle=True, seed=seed)
        return list(batches)

    first, again, other = epoch(7), epoch(7), epoch(8)
    assert [len(labels) for _, labels in first] == [5, 5, 2]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], other[0][0])
    labels = torch.cat([labels for _, labels in first]).sort().values
    assert torch.equal(labels, torch.as_tensor(np.sort(benchmark.train.labels)))
    for images, labels in first:  # constant-shade images stay constant: each sample is its own image
        for image, label in zip(images, labels):
            original = benchmark.class_order[int(label)]
            assert abs(image.mean().item() * 255 - (40 * original + 20)) < 1e-3


@pytest.mark.parametrize("input_path", ["device", "per-image"])
def test_a_cifar_trial_runs_on_either_input_path_and_repeats_exactly(tmp_path: Path, input_path: str) -> None:
    write_cifar(tmp_path)
    config = make_config({**TINY, "dataset": "cifar100", "data_root": str(tmp_path), "input_path": input_path,
                          "optimizer": "zo-sgd"})
    first, second = run_trial(config), run_trial(config)
    assert first.acc == second.acc and len(first.acc) == 2


@pytest.mark.parametrize("shape", [(32, 32), (20, 30), (30, 20)])
def test_centre_crops_equal_resize_then_centre_crop(shape: tuple[int, int]) -> None:
    images = torch.randint(0, 256, (4, 3, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    reference = torch.stack([eval_transform(224)(image.float() / 255) for image in images])
    assert (centre_crops(images, 224) - reference).abs().max() < 1e-5

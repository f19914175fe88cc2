"""scikit-learn's bundled 8x8 digits: real data with no download, the embedded CPU default.

The images are scaled to [0, 1], resized to the ViT's input size and given three channels once,
in memory. The test split is a fixed stratified quarter, independent of the trial seed, so that
the seed moves only the class order and the training, as it does for the paper's data sets.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from trainers.data.core import LabeledImages

NUM_CLASSES = 10
TEST_FRACTION = 0.25


def _to_images(pixels: np.ndarray, image_size: int) -> torch.Tensor:
    images = torch.from_numpy(pixels.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0)
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return images.clamp_(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()


def load_digits_splits(image_size: int) -> tuple[LabeledImages, LabeledImages, int]:
    """(train, test, number of classes) for the digits data set."""
    data = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        data.data, data.target, test_size=TEST_FRACTION, stratify=data.target, random_state=0)
    train_images, test_images = _to_images(train_x, image_size), _to_images(test_x, image_size)
    train = LabeledImages(train_y, train_images.__getitem__, None)
    test = LabeledImages(test_y, test_images.__getitem__, None)
    return train, test, NUM_CLASSES

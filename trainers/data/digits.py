"""scikit-learn's bundled 8x8 digits: real data with no download, the embedded CPU default.

The 8x8 images are kept in memory, scaled to [0, 1]; each is resized to the ViT's input size and
given three channels when it is loaded (resizing all of them up front to 224 px would take 1 GB). The test split is a fixed stratified quarter, independent of the trial seed, so that
the seed moves only the class order and the training, as it does for the paper's data sets.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from trainers.data.core import LabeledImages

NUM_CLASSES = 10
TEST_FRACTION = 0.25


class _DigitImages:
    """Loads digit i as a (3, size, size) tensor in [0, 1]."""

    def __init__(self, pixels: np.ndarray, image_size: int) -> None:
        self.images = torch.from_numpy(pixels.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0)
        self.size = (image_size, image_size)

    def __call__(self, index: int) -> torch.Tensor:
        image = F.interpolate(self.images[index:index + 1], size=self.size, mode="bilinear", align_corners=False)
        return image[0].clamp_(0.0, 1.0).expand(3, -1, -1)


def load_digits_splits(image_size: int) -> tuple[LabeledImages, LabeledImages, int]:
    """(train, test, number of classes) for the digits data set."""
    # scikit-learn takes seconds to import: only a trial on digits pays for it, not every dry run.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        data.data, data.target, test_size=TEST_FRACTION, stratify=data.target, random_state=0)
    train = LabeledImages(train_y, _DigitImages(train_x, image_size), None)
    test = LabeledImages(test_y, _DigitImages(test_x, image_size), None)
    return train, test, NUM_CLASSES

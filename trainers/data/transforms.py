"""The image transforms of the ZeroFlow/EASE/APER code (sun-hailong/LAMDA-PILOT `utils/data.py`), on tensors.

Inputs are float CHW tensors in [0, 1] and stay there: the pretrained ViTs of these methods take
unnormalised inputs. Training crops a random 5-100% area and flips; testing resizes the short
side to size * 256/224 (bicubic) and takes the centre crop, as LAMDA-PILOT's `build_transform`.
Random choices draw from torch's global RNG, which the trial seeds per task. (The test-time
transform is called `eval_transform` so that pytest never mistakes it for a test.)
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

TRAIN_CROP_SCALE = (0.05, 1.0)
TEST_RESIZE_RATIO = 256 / 224


def clamp_unit(image: torch.Tensor) -> torch.Tensor:
    """Bicubic resizing of float tensors overshoots [0, 1]; PIL's 8-bit bicubic would clip, so clip."""
    return image.clamp(0.0, 1.0)


def train_transform(image_size: int) -> v2.Compose:
    """RandomResizedCrop(image_size, scale 0.05-1) and a horizontal flip."""
    return v2.Compose([v2.RandomResizedCrop(image_size, scale=TRAIN_CROP_SCALE), v2.RandomHorizontalFlip()])


def eval_transform(image_size: int) -> v2.Compose:
    """Resize(round(image_size * 256/224), bicubic) then CenterCrop(image_size); 224 -> 256 -> 224."""
    resize = round(image_size * TEST_RESIZE_RATIO)
    return v2.Compose([v2.Resize(resize, interpolation=v2.InterpolationMode.BICUBIC),
                       v2.CenterCrop(image_size), clamp_unit])

"""The training and test transforms of the per-image path (trainers/data/transforms.py), batched on a device.

Training (LAMDA-PILOT's RandomResizedCrop(224, scale 0.05-1, ratio 3/4-4/3) and horizontal flip):
`crop_boxes` draws every sample's box the way torchvision's `RandomResizedCrop.get_params` does
(ten tries of a uniform area fraction and log-uniform aspect ratio, else the centre fallback), for
the whole batch at once from a private generator. `resized_crops` then crops and resizes all
samples: on a GPU by out = R_y · X · R_xᵀ in batched matmuls, where the rows of R hold the weights
of torch's antialiased bilinear resize (the filter `torch.nn.functional.interpolate(...,
antialias=True)` applies, which torchvision's `resized_crop` calls); on a CPU by that resize's
8-bit kernel per sample. Given the same boxes and flips the result equals the per-image transform
up to float rounding on a GPU and up to one grey level on a CPU (tests/test_data_device.py); what
differs is the random stream (a private generator instead of torch's global one) and, for image
folders, that crops are taken from the cached short-side-256 copy instead of the original file.

Test: Resize(round(size * 256/224), bicubic) and CenterCrop(size), batched (`centre_crops`): only the kept
centre is computed, with the resize's own weights (obtained by resizing the identity).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from trainers.data.transforms import TEST_RESIZE_RATIO, TRAIN_CROP_SCALE

TRAIN_CROP_RATIO = (3 / 4, 4 / 3)
TRIES = 10  # torchvision's RandomResizedCrop.get_params tries ten boxes before the fallback


def crop_boxes(sizes: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, 4) int64 boxes (top, left, height, width), (N,) bool flips) for images of `sizes` (N, 2)."""
    n = len(sizes)
    height, width = sizes[:, 0:1].double(), sizes[:, 1:2].double()
    uniform = torch.rand(n, TRIES, 5, generator=generator, dtype=torch.float64)
    area = height * width * (TRAIN_CROP_SCALE[0] + uniform[..., 0] * (TRAIN_CROP_SCALE[1] - TRAIN_CROP_SCALE[0]))
    low, high = math.log(TRAIN_CROP_RATIO[0]), math.log(TRAIN_CROP_RATIO[1])
    ratio = torch.exp(low + uniform[..., 1] * (high - low))
    w = torch.round(torch.sqrt(area * ratio))
    h = torch.round(torch.sqrt(area / ratio))
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    top = torch.floor(uniform[..., 2] * (height - h + 1))
    left = torch.floor(uniform[..., 3] * (width - w + 1))
    first = torch.where(valid.any(1), valid.double().argmax(1), torch.full((n,), -1)).long()
    fallback = _centre_fallback(height[:, 0], width[:, 0])
    chosen = torch.stack([top, left, h, w], dim=-1).gather(1, first.clamp(min=0)[:, None, None].expand(-1, 1, 4))[:, 0]
    boxes = torch.where((first >= 0)[:, None], chosen, fallback)
    flips = uniform[:, 0, 4] < 0.5
    return boxes.long(), flips


def _centre_fallback(height: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """torchvision's fallback box: the whole image, its aspect ratio clamped to the allowed range."""
    aspect = width / height
    w = torch.where(aspect > TRAIN_CROP_RATIO[1], torch.round(height * TRAIN_CROP_RATIO[1]), width)
    h = torch.where(aspect < TRAIN_CROP_RATIO[0], torch.round(width / TRAIN_CROP_RATIO[0]), height)
    return torch.stack([torch.div(height - h, 2, rounding_mode="floor"),
                        torch.div(width - w, 2, rounding_mode="floor"), h, w], dim=-1)


def resize_weights(lengths: torch.Tensor, window: int, out: int) -> torch.Tensor:
    """(N, out, window): antialiased bilinear weights taking source pixels [0, length) to `out` pixels.

    For output o the filter is centred at (o + 0.5) · scale with scale = length / out, has radius
    max(scale, 1) and weight 1 − |distance| / radius, renormalised over the pixels inside the crop:
    the weights of torch's `_upsample_bilinear2d_aa` (and of PIL's bilinear resize).
    """
    lengths = lengths.float()[:, None, None]
    scale = lengths / out
    radius = scale.clamp(min=1.0)
    centre = (torch.arange(out, dtype=torch.float32, device=lengths.device)[None, :, None] + 0.5) * scale
    source = torch.arange(window, dtype=torch.float32, device=lengths.device)[None, None, :] + 0.5
    weights = (source - centre).abs_().div_(radius).neg_().add_(1.0).clamp_(min=0.0).mul_(source < lengths)
    return weights.div_(weights.sum(-1, keepdim=True))


def resized_crops(windows: torch.Tensor, boxes: torch.Tensor, flips: torch.Tensor, size: int,
                  dense: bool | None = None) -> torch.Tensor:
    """Float (N, C, size, size) in [0, 1]: each uint8 window (its crop at the top left) resized, maybe flipped.

    Dense (on a GPU, or `dense=True`): rows · window · columnsᵀ for the whole batch in two batched
    float matmuls. On a CPU: a loop of torch's antialiased bilinear resize on the uint8 crop, one
    sample at a time, then one conversion of the batch to float. That kernel works in 8 bits on
    channels-last images, as PIL does for the released code's transforms, so each pixel is rounded
    to a grey level (it differs from the float result by at most 1/255); on a CPU it takes about
    half the dense products' time for CIFAR crops and under a tenth for crops of 256-pixel images
    (`python -m bench data` times both). The result is channels-last on a CPU.
    """
    if dense is None:
        dense = windows.device.type != "cpu"
    if not dense:
        return _per_sample_uint8(windows, boxes, flips, size)
    rows = resize_weights(boxes[:, 2].to(windows.device), windows.shape[-2], size).div_(255.0)
    columns = resize_weights(boxes[:, 3].to(windows.device), windows.shape[-1], size)
    columns = torch.where(flips.to(windows.device)[:, None, None], columns.flip(1), columns)
    return _dense(windows.float(), rows, columns)


def _per_sample_uint8(windows: torch.Tensor, boxes: torch.Tensor, flips: torch.Tensor, size: int) -> torch.Tensor:
    out = torch.empty(len(windows), size, size, windows.shape[1], dtype=torch.uint8).permute(0, 3, 1, 2)
    for k, (height, width, flip) in enumerate(zip(boxes[:, 2].tolist(), boxes[:, 3].tolist(), flips.tolist())):
        crop = windows[k:k + 1, :, :height, :width]
        crop = crop.flip(-1) if flip else crop  # the filter is symmetric: flipping before equals flipping after
        crop = crop.contiguous(memory_format=torch.channels_last)  # the layout torch's 8-bit kernel takes
        out[k] = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True)[0]
    return out.float().div_(255.0)


def _dense(images: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """rows · image · columnsᵀ per sample, as two batched matmuls in the cheaper order, contiguous results."""
    n, channels, height, width = images.shape
    size = rows.shape[1]
    columns = columns.transpose(1, 2)
    if height * (width + size) <= width * (height + size):  # columns first: (N, C*H, W) @ (N, W, size)
        narrow = torch.bmm(images.view(n, channels * height, width), columns)
        per_channel = rows[:, None].expand(n, channels, size, height).reshape(n * channels, size, height)
        return torch.bmm(per_channel, narrow.view(n * channels, height, size)).view(n, channels, size, size)
    by_row = images.permute(0, 2, 1, 3).reshape(n, height, channels * width)  # rows first: (N, size, C*W)
    narrow = torch.bmm(rows, by_row).view(n, size, channels, width).permute(0, 2, 1, 3)
    return torch.bmm(narrow.reshape(n, channels * size, width), columns).view(n, channels, size, size)


def resize_side(size: int) -> int:
    """The test transform's Resize target: round(size · 256/224), 256 for 224."""
    return round(size * TEST_RESIZE_RATIO)


def centre_box(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of torchvision's CenterCrop(size) of a height x width image."""
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def _bicubic_rows(source: int, resized: int, first: int, size: int, device: torch.device) -> torch.Tensor:
    """(size, source): rows first..first+size of torchvision's bicubic antialiased resize source -> resized.

    The resize is linear and separable, so resizing the identity gives its matrix exactly.
    """
    identity = torch.eye(source, device=device)[None]  # (1, source, source): column j is a delta at j
    matrix = v2.functional.resize(identity, [resized, source], interpolation=v2.InterpolationMode.BICUBIC,
                                  antialias=True)[0]
    return matrix[first:first + size]


def centre_crops(images: torch.Tensor, size: int) -> torch.Tensor:
    """Float (N, C, size, size): Resize(short side resize_side(size), bicubic), CenterCrop, clip to [0, 1].

    `images` is a uint8 batch of equal-sized images. Only the kept centre is computed, as
    rows · image · columnsᵀ with the resize's own weights (equal to resizing then cropping).
    """
    n, channels, height, width = images.shape
    side = resize_side(size)
    new_height, new_width = (side, int(side * width / height)) if height <= width else (int(side * height / width), side)
    top, left = centre_box(new_height, new_width, size)
    rows = _bicubic_rows(height, new_height, top, size, images.device).div_(255.0)
    columns = _bicubic_rows(width, new_width, left, size, images.device)
    return _dense(images.float(), rows.expand(n, -1, -1), columns.expand(n, -1, -1)).clamp_(0.0, 1.0)

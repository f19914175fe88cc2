"""Up-front checks of a trial's backbone and weights: seconds before a sweep, not minutes inside it.

`check_backbone` builds the timm model on PyTorch's meta device (no memory, no weights: about
0.1 s for a ViT-B/16), which proves that timm knows the name and its pretrained tag, and returns
the patch size. `check_weights` then makes sure the weights can be had:
- a file: it exists and loads into that backbone (the real model is built on CPU once per
  distinct backbone, weights and image size);
- `hub`: the weights are in the local Hugging Face (or torch hub) cache, or the hub answers a
  metadata request within HUB_TIMEOUT seconds; offline mode (HF_HUB_OFFLINE) means the cache only.
Errors are WeightsError lines naming the key, the value and what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import timm
import torch

from trainers.backbone import BUNDLED_WEIGHTS, WeightsError, build_backbone

HUB_TIMEOUT = 3.0  # seconds the hub may take to answer before the sweep is refused
HUB_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def check_backbone(name: str, image_size: int) -> int:
    """The patch size of timm model `name`; WeightsError when timm cannot build it at this size."""
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, num_classes=0, img_size=image_size)
    except Exception as error:  # unknown name, unknown tag, a size the model cannot take
        known = "unknown to timm" if not timm.is_model(name) else f"cannot be built ({_short(error)})"
        raise WeightsError(f"'backbone': '{name}' {known}; allowed: a timm ViT name such as "
                           "vit_base_patch16_224.augreg_in21k (timm.list_models('vit_*', pretrained=True))") from error
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is None:
        raise WeightsError(f"'backbone': '{name}' is not a ViT with a patch embedding; allowed: a timm ViT name")
    return int(patch[0])


def check_weights(name: str, weights: str, image_size: int) -> None:
    """WeightsError unless `weights` ('random', 'hub', bundled weights or a file) can be had for `name`."""
    if weights == "random":
        return
    if weights == "hub":
        _check_hub(name)
        return
    path = BUNDLED_WEIGHTS.get(weights, Path(weights).expanduser())
    if not path.is_file():
        bundled = ", ".join(repr(bundle) for bundle in BUNDLED_WEIGHTS)
        raise WeightsError(f"'weights': file '{weights}' does not exist; allowed: 'hub', 'random', {bundled} "
                           "or a weights file")
    build_backbone(name, str(path), image_size=image_size)  # raises a WeightsError naming the file


def _short(error: BaseException, limit: int = 160) -> str:
    text = f"{type(error).__name__}: {' '.join(str(error).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pretrained_cfg(name: str) -> Any:
    from timm.models import get_pretrained_cfg

    try:
        return get_pretrained_cfg(name)
    except Exception:  # an architecture without pretrained weights, or an unknown tag
        return None


def hub_cached(name: str) -> bool:
    """Whether timm would find `name`'s pretrained weights without the network."""
    from huggingface_hub import try_to_load_from_cache

    cfg = _pretrained_cfg(name)
    if cfg is None:
        return False
    if cfg.hf_hub_id:
        repo, _, _ = cfg.hf_hub_id.partition("@")
        files = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_FILES
        return any(isinstance(try_to_load_from_cache(repo, file), str) for file in files)
    if cfg.url:
        checkpoints = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        return checkpoints.is_file()
    return False


def _check_hub(name: str) -> None:
    if hub_cached(name):
        return
    import huggingface_hub
    from huggingface_hub import HfApi

    cfg = _pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise WeightsError(f"'weights': timm has no pretrained weights for '{name}'; allowed: 'random' or a weights file")
    cache = huggingface_hub.constants.HF_HUB_CACHE
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise WeightsError(f"'weights': 'hub' weights of '{name}' are not in the cache ({cache}) and HF_HUB_OFFLINE "
                           "is set; allowed: a local weights file, 'random', or 'hub' once the weights are cached")
    repo = (cfg.hf_hub_id or "").partition("@")[0]
    try:
        if repo:
            HfApi().model_info(repo, timeout=HUB_TIMEOUT)
        else:
            import urllib.request
            urllib.request.urlopen(urllib.request.Request(cfg.url, method="HEAD"), timeout=HUB_TIMEOUT).close()
    except Exception as error:  # offline, DNS, timeout, HTTP errors: the trial could not download either
        raise WeightsError(f"'weights': 'hub' weights of '{name}' are not in the cache ({cache}) and the hub did not "
                           f"answer within {HUB_TIMEOUT:g} s ({_short(error, 100)}); allowed: a local weights file, "
                           "'random', or 'hub' once the weights are cached") from error

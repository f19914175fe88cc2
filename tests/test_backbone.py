"""The paper's backbone: exactly the adapters and the current head train, adapters start neutral,
and asking for weights that cannot be had fails with one clear line (ViT-B/16, random weights)."""

from pathlib import Path

import huggingface_hub
import pytest
import torch
from torch import nn

from trainers.backbone import AdapterViT, WeightsError, build_backbone
from catalog.config import make_config
from trainers.methods import METHOD_BUILDERS
from trainers.presets import resolve

VIT_B = "vit_base_patch16_224"
ADAPTER_PARAMS = 1_189_632  # ZeroFlow/EASE: 12 AdaptFormer adapters 768 -> 64 -> 768
HEAD_PARAMS = 10 * 768 + 1  # cosine head over task 0's 10 classes, plus its scale sigma


@pytest.fixture(scope="module")
def vit_b() -> nn.Module:
    return build_backbone(VIT_B, "random")


def adapter_names(adapter_set: int) -> set[str]:
    return {f"backbone.adapter_sets.{adapter_set}.{block}.{layer}.{kind}"
            for block in range(12) for layer in ("down", "up") for kind in ("weight", "bias")}


@pytest.mark.parametrize("method", ["ease", "aper"])
def test_trainable_set_is_the_adapters_plus_the_training_head(vit_b: nn.Module, method: str) -> None:
    config = resolve(make_config({"method": method, "dataset": "cifar100"}))
    model = METHOD_BUILDERS[method](AdapterViT(vit_b), 100, config)
    assert model.begin_task(0, range(0, 10))
    trainable = {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}
    assert set(trainable) == adapter_names(0) | {"head.weight", "head.sigma"}
    assert sum(trainable.values()) == ADAPTER_PARAMS + HEAD_PARAMS
    assert model.trainable_parameters() == ADAPTER_PARAMS + HEAD_PARAMS


def test_a_fresh_adapter_set_leaves_the_features_of_the_plain_vit(vit_b: nn.Module) -> None:
    backbone = AdapterViT(vit_b).eval()
    backbone.add_adapter_set()
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        plain, adapted, timm_own = backbone(images, None), backbone(images, 0), vit_b(images)
    assert plain.shape == (2, 768)
    assert torch.equal(adapted, plain)  # the up-projection starts at zero
    torch.testing.assert_close(plain, timm_own)  # the adapter-aware forward is timm's forward


def test_a_missing_weights_file_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.safetensors"
    with pytest.raises(WeightsError) as raised:
        build_backbone("test_vit", str(missing))
    message = str(raised.value)
    assert "\n" not in message and str(missing) in message and "'weights'" in message


def test_hub_weights_without_network_are_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Offline mode and an empty cache: the hub cannot answer, and nothing may wait on the network.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as raised:
        build_backbone(VIT_B, "hub")
    message = str(raised.value)
    assert "\n" not in message and VIT_B in message and "'weights'" in message

"""Every strategy on a tiny adapter ViT (timm `test_vit`): only the newest adapters and the head
train, the frozen ViT is untouched, and Forward-Grad's jvp through timm attention is exact."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from trainers.backbone import AdapterViT, build_backbone
from trainers.optim import OPTIMIZERS, create_optimizer, optimizer_names
from trainers.optim.directions import Directions


class Classifier(nn.Module):
    """Adapter ViT plus a linear head; the second adapter set is the trainable one."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = AdapterViT(build_backbone("test_vit", weights="random", image_size=32), dropout=0.0)
        self.backbone.add_adapter_set()
        self.backbone.add_adapter_set()
        self.head = nn.Linear(self.backbone.feature_dim, 3)
        with torch.no_grad():  # non-zero up-projections so the adapters' directions matter
            for p in self.backbone.adapter_sets[1].parameters():
                p.normal_(0, 0.05)
        generator = torch.Generator().manual_seed(1)
        self.images = torch.rand(4, 3, 32, 32, generator=generator)
        self.labels = torch.tensor([0, 1, 2, 1])

    def loss(self) -> torch.Tensor:
        features = self.backbone(self.images, adapter_set=1)
        return nn.functional.cross_entropy(self.head(features), self.labels)


@pytest.fixture(scope="module")
def built() -> Classifier:
    return Classifier()


@pytest.fixture
def model(built: Classifier) -> Classifier:
    return copy.deepcopy(built)  # building timm models dominates otherwise


@pytest.mark.parametrize("name", optimizer_names())
def test_only_the_newest_adapters_and_the_head_train(name: str, model: Classifier) -> None:
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters()
                         if n.startswith(("backbone.adapter_sets.1.", "head."))}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = create_optimizer(name, model, lr=0.01)
    loss = opt.step(model.loss)
    assert loss > 0 and opt.forward_passes == OPTIMIZERS[name].forwards_per_step(1)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    if not OPTIMIZERS[name].conserve:  # Conserve may keep θ; the others move every trainable tensor
        assert changed == trainable


def _autograd_slope(model: Classifier, seed: int) -> tuple[list[torch.Tensor], float]:
    """v (the first direction the optimizer with `seed` draws) and the exact ∇L·v."""
    params = [p for p in model.parameters() if p.requires_grad]
    gradient = torch.autograd.grad(model.loss(), params)
    directions = Directions(params, seed=seed)  # the same seed stream the optimizer draws from
    v = list(directions.perturbations(directions.next_seed()))
    return v, sum(float((g * vi).sum()) for g, vi in zip(gradient, v))


@pytest.mark.parametrize("name, tolerance", [("forward-grad", 1e-4), ("zo-sgd", 2e-2)])
def test_the_estimate_is_the_autograd_directional_derivative_times_v(name: str, tolerance: float,
                                                                     model: Classifier) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    v, slope = _autograd_slope(model, seed=5)
    create_optimizer(name, model, lr=1.0, momentum=0.0, weight_decay=0.0, seed=5).step(model.loss)
    estimate = torch.cat([(s - p.detach()).view(-1) for p, s in zip(params, start)])
    expected = slope * torch.cat([vi.view(-1) for vi in v])
    # Forward-Grad is exact; SPSA is a float32 central difference with ε = 1e-3.
    assert torch.linalg.norm(estimate - expected) <= tolerance * torch.linalg.norm(expected)


def test_zo_restores_the_vit_bit_exactly(model: Classifier) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    create_optimizer("zo-sgd", model, lr=0.0, momentum=0.0, weight_decay=0.0, q=2).step(model.loss)
    assert all(torch.equal(p, s) for p, s in zip(params, start))

"""EASE: what trains in each task, the semantic-guided complement, the reweighted subspace ensemble,
whole digits trials (learning, resuming) and zeroth-order steps that touch only the current task."""

import math

import pytest
import torch
import torch.nn.functional as F

from trainers.backbone import AdapterViT, build_backbone
from catalog.config import make_config
from trainers.methods.ease import Ease, complement_prototypes, ensemble_logits
from trainers.optim import create_optimizer
from trainers.presets import resolve
from trainers.training import optimizer_settings
from trainers.trial import TaskReport, _train_loader, build_model, load_data, run_trial

BLOCKS, WIDTH = 6, 64  # timm's test_vit
ADAPTER_PARAMS = BLOCKS * (2 * WIDTH * 64 + 64 + WIDTH)
FAST = {"dataset": "digits", "method": "ease", "epochs": 1, "device": "cpu"}
Batches = list[tuple[torch.Tensor, torch.Tensor]]


def tiny_ease(num_classes: int = 10, tasks: int = 5, alpha: float = 0.1, pretrained_branch: bool = False) -> Ease:
    torch.manual_seed(0)
    backbone = AdapterViT(build_backbone("test_vit", "random", image_size=32))
    return Ease(backbone, num_classes, tasks, alpha, pretrained_branch)


def task_batches(classes: range, seed: int, per_class: int = 6) -> Batches:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor(list(classes)).repeat(per_class)
    images = torch.rand(len(labels), 3, 32, 32, generator=generator)
    return [(images[start:start + 8], labels[start:start + 8]) for start in range(0, len(labels), 8)]


def adapter_names(adapter_set: int) -> set[str]:
    return {f"backbone.adapter_sets.{adapter_set}.{block}.{layer}.{kind}"
            for block in range(BLOCKS) for layer in ("down", "up") for kind in ("weight", "bias")}


def trainable(model: Ease) -> dict[str, int]:
    return {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}


def test_each_task_trains_only_its_own_adapter_set_and_head() -> None:
    model = tiny_ease()
    for task in range(3):
        classes = range(2 * task, 2 * task + 2)
        assert model.begin_task(task, classes)
        assert set(trainable(model)) == adapter_names(task) | {"head.weight", "head.sigma"}
        assert model.trainable_parameters() == sum(trainable(model).values()) == ADAPTER_PARAMS + 2 * WIDTH + 1
        frozen = {name: p.detach().clone() for name, p in model.named_parameters() if not p.requires_grad}
        batches = task_batches(classes, seed=task)
        optimizer = create_optimizer("fo-sgd", model, lr=0.1)
        for images, labels in batches * 2:
            optimizer.step(lambda: model.loss(images, labels))
        parameters = dict(model.named_parameters())
        assert all(torch.equal(value, parameters[name]) for name, value in frozen.items())
        assert parameters[f"backbone.adapter_sets.{task}.0.up.weight"].abs().sum() > 0  # it did train
        model.end_task(task, classes, batches)
        assert trainable(model) == {} and model.head is None
        own = torch.cat([model.backbone(images, task) for images, _ in batches])
        labels = torch.cat([labels for _, labels in batches])
        means = torch.stack([own[labels == c].mean(0) for c in classes])
        torch.testing.assert_close(model.prototypes[task, classes.start:classes.stop], means)


def test_complement_is_the_softmax_of_cosines_applied_to_the_donors_by_hand() -> None:
    old_own = torch.tensor([[1.0, 0.0]])
    donors_own = torch.tensor([[3.0, 0.0], [0.0, 2.0]])  # cosines with the old class: 1 and 0
    donors_target = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    e = math.e
    expected = torch.tensor([[2.0 * e / (e + 1.0), 4.0 / (e + 1.0)]])
    torch.testing.assert_close(complement_prototypes(old_own, donors_own, donors_target), expected)


def test_old_classes_are_complemented_from_the_later_tasks_in_their_own_subspace() -> None:
    model = tiny_ease(num_classes=6, tasks=3)
    k = 2
    model.prototypes.copy_(torch.randn(model.prototypes.shape, generator=torch.Generator().manual_seed(1)))
    before = model.prototypes.clone()
    model.complement_old_classes(2)
    for old_task in range(2):
        for target in range(old_task + 1, 3):
            donors = range(target * k, 3 * k)  # every class with a real prototype in `target`
            for old in range(old_task * k, (old_task + 1) * k):
                cosines = [F.cosine_similarity(before[old_task, old], before[old_task, j], dim=0).item()
                           for j in donors]
                weights = [math.exp(c) / sum(math.exp(x) for x in cosines) for c in cosines]
                expected = sum(w * before[target, j] for w, j in zip(weights, donors))
                torch.testing.assert_close(model.prototypes[target, old], expected)
    for task in range(3):  # real prototypes (a class in its own and earlier subspaces) stay as they were
        rows = slice(task * k, (task + 1) * k)
        assert torch.equal(model.prototypes[: task + 1, rows], before[: task + 1, rows])


def test_ensemble_weighs_own_subspace_one_and_the_others_alpha_over_task_index() -> None:
    features = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])]
    prototypes = torch.tensor([
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],    # subspace 0: cosines with f0 are 1, 0, 1/sqrt2
        [[0.0, 1.0], [0.0, 3.0], [1.0, 0.0]],    # subspace 1: cosines with f1 are 1, 1, 0
        [[1.0, 0.0], [-1.0, -1.0], [2.0, 2.0]],  # subspace 2: cosines with f2 are 1/sqrt2, -1, 1
    ])
    r = 1.0 / math.sqrt(2.0)
    other = 0.5 / 2  # alpha 0.5, newest task index 2
    expected = torch.tensor([[1.0 + other * 1.0 + other * r,      # class 0 owns subspace 0
                              other * 0.0 + 1.0 + other * -1.0,    # class 1 owns subspace 1
                              other * r + other * 0.0 + 1.0]])     # class 2 owns subspace 2
    torch.testing.assert_close(ensemble_logits(features, prototypes, 1, alpha=0.5), expected)
    torch.testing.assert_close(ensemble_logits(features[:1], prototypes[:1, :1], 1, alpha=0.5), torch.tensor([[1.0]]))


def test_logits_add_the_plain_pretrained_branch_over_direct_class_means() -> None:
    model = tiny_ease(num_classes=4, tasks=2, alpha=0.4, pretrained_branch=True)
    data = {task: task_batches(range(2 * task, 2 * task + 2), seed=task) for task in range(2)}
    for task in range(2):
        model.begin_task(task, range(2 * task, 2 * task + 2))
        model.end_task(task, range(2 * task, 2 * task + 2), data[task])
    images = torch.cat([images for batches in data.values() for images, _ in batches])
    labels = torch.cat([labels for batches in data.values() for _, labels in batches])
    with torch.inference_mode():
        plain = model.backbone(images, None)
        subspaces = [model.backbone(images, index) for index in range(2)]
        scores = model.logits(images, 4)
    means = torch.stack([plain[labels == c].mean(0) for c in range(4)])
    torch.testing.assert_close(model.pretrained_prototypes, means)
    expected = torch.zeros(len(images), 4)
    for c in range(4):
        expected[:, c] = F.cosine_similarity(plain, model.pretrained_prototypes[c].unsqueeze(0), dim=1)
        for s, feature in enumerate(subspaces):
            weight = 1.0 if s == c // 2 else 0.4 / 1
            expected[:, c] += weight * F.cosine_similarity(feature, model.prototypes[s, c].unsqueeze(0), dim=1)
    torch.testing.assert_close(scores, expected)


@pytest.mark.parametrize("optimizer", ["fo-sgd", "zo-sgd"])
def test_ease_on_digits_is_well_above_chance(optimizer: str) -> None:
    result = run_trial(make_config({**FAST, "optimizer": optimizer}))
    assert len(result.acc) == 5
    assert result.last_acc > 50.0  # chance over 10 classes is 10%
    assert result.avg_acc == pytest.approx(sum(result.acc) / 5)
    assert result.trainable_params == ADAPTER_PARAMS + 2 * WIDTH + 1


def test_fo_sgd_training_loss_falls_over_epochs_in_first_and_later_tasks() -> None:
    config = resolve(make_config({**FAST, "optimizer": "fo-sgd", "schedule": "constant"}))
    benchmark = load_data(config)
    model = build_model(config, benchmark.num_classes, torch.device("cpu"))
    for task in range(2):
        classes = benchmark.task_classes(task)
        model.begin_task(task, classes)
        optimizer = create_optimizer("fo-sgd", model, **optimizer_settings("fo-sgd", config, seed=task))
        loader = _train_loader(benchmark, config, task, True)
        epoch_losses = []
        for _ in range(3):
            losses = [optimizer.step(lambda: model.loss(images, labels)) for images, labels in loader]
            epoch_losses.append(sum(losses) / len(losses))
        assert epoch_losses[0] > epoch_losses[1] > epoch_losses[2], epoch_losses
        model.end_task(task, classes, _train_loader(benchmark, config, task, False))


def test_resuming_after_a_task_gives_the_uninterrupted_result() -> None:
    config = make_config({**FAST, "optimizer": "zo-sgd"})
    reports: list[TaskReport] = []
    full = run_trial(config, on_task_end=reports.append)
    state = reports[1].state["method"]
    assert state["adapter_sets"] == 2
    assert not any(key.startswith("backbone.vit.") for key in state["weights"])  # the ViT is rebuilt
    assert {"prototypes", "backbone.adapter_sets.1.0.up.weight"} <= set(state["weights"])
    resumed = run_trial(config, resume=reports[1].state)
    assert resumed.acc == full.acc
    assert resumed.forgetting == full.forgetting
    assert resumed.forward_passes == full.forward_passes


def test_a_zeroth_order_step_leaves_every_frozen_tensor_bit_identical() -> None:
    model = tiny_ease()
    first = task_batches(range(0, 2), seed=0)
    model.begin_task(0, range(0, 2))
    model.end_task(0, range(0, 2), first)
    model.begin_task(1, range(2, 4))
    names = set(trainable(model))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    images, labels = task_batches(range(2, 4), seed=1)[0]
    optimizer = create_optimizer("zo-sgd", model, lr=0.1, seed=0)
    optimizer.step(lambda: model.loss(images, labels))
    after = model.state_dict()
    frozen = [name for name in before if name not in names]
    assert any(name.startswith("backbone.adapter_sets.0.") for name in frozen) and "prototypes" in frozen
    assert all(torch.equal(before[name], after[name]) for name in frozen)
    assert any(not torch.equal(before[name], after[name]) for name in names)

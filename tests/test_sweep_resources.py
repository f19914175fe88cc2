"""Per-trial Ray resources: the Table 2 memory estimate, GPU packing, and grid overrides."""

from pathlib import Path

import pytest

from orchestrator.grid.schema import ResourceRequest
from orchestrator.grid.expand import load_grid
from orchestrator.grid.resources import gpu_fraction, peak_memory_gb, trial_resources
from catalog.config import make_config
from trainers.presets import resolve


def config(**values: object):
    return resolve(make_config({"method": "ease", "dataset": "cifar100", "batch_size": 48, **values}))


def test_estimate_follows_table2_at_its_own_setting() -> None:
    # ViT-B/16 at 224 px and batch 48 is Table 2's setting: the estimate is its figure with the margin
    fo, zo, fg = (peak_memory_gb(config(optimizer=o)) for o in ("fo-sgd", "zo-sgd", "forward-grad"))
    assert fo == pytest.approx(0.5 + 1.2 * 12.08)
    assert zo == pytest.approx(0.5 + 1.2 * 2.41)
    assert fg == pytest.approx(0.5 + 1.2 * 3.94)
    # q, Sign and Conserve do not change ZO memory; a hybrid trial runs first-order epochs
    assert peak_memory_gb(config(optimizer="zo-adam-conserve")) == zo
    assert peak_memory_gb(config(optimizer="zo-sgd", q=8)) == zo
    assert peak_memory_gb(config(optimizer="zo-sgd", hybrid=0.5)) == fo
    assert peak_memory_gb(config(optimizer="fo-sgd", batch_size=16)) < fo


@pytest.mark.parametrize("memory, gpu_memory, cap, fraction", [
    (15.0, 80.0, 8, 0.2), (3.4, 80.0, 8, 0.125), (3.4, 16.0, 8, 0.25), (15.0, 16.0, 8, 1.0),
    (90.0, 80.0, 8, 1.0), (10.0, 30.0, 8, 0.3333)])
def test_gpu_fraction_packs_equal_shares(memory: float, gpu_memory: float, cap: int, fraction: float) -> None:
    share = gpu_fraction(memory, gpu_memory, cap)
    assert share == fraction
    trials_per_gpu = round(1 / share)
    assert trials_per_gpu * share <= 1.0 and trials_per_gpu * memory <= max(gpu_memory, memory)


def test_zero_order_trials_share_a_gpu_that_first_order_trials_fill() -> None:
    fo = trial_resources(config(optimizer="fo-sgd"), ResourceRequest())
    zo = trial_resources(config(optimizer="zo-sgd"), ResourceRequest())
    assert zo.gpu < fo.gpu and fo.cpu == zo.cpu == 1.0
    assert zo.ray_request(with_gpus=False) == {"CPU": 1.0, "GPU": 0.0}


def test_grid_overrides_the_estimate(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("""
fixed: {method: ease, dataset: cifar100}
axes: {optimizer: [fo-sgd, zo-sgd, forward-grad]}
resources: {gpu_memory_gb: 40, cpu: 4}
when:
  - match: {optimizer: forward-grad}
    resources: {gpu: 1}
  - match: {optimizer: zo-sgd}
    resources: {memory_gb: 20}
""")
    got = {t.config.optimizer: t.resources for t in load_grid(path).trials}
    assert got["fo-sgd"].gpu == 0.5 and got["fo-sgd"].cpu == 4  # 40 GB holds two 15 GB trials
    assert got["zo-sgd"].gpu == 0.5 and got["zo-sgd"].memory_gb == 20
    assert got["forward-grad"].gpu == 1.0

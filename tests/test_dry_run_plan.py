"""`zfsweep run GRID --dry-run`: JSON per trial, the summary of big grids, and the cost before launch."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.plan.cost import estimate, measured_epoch_seconds, measured_key, table2_epoch_seconds, trained_epochs
from orchestrator.grid.expand import load_grid
from orchestrator.store.tracking import Tracker
from catalog.paper import TABLE2
from catalog.records import DEVICE_TAG
from catalog.config import TrialConfig, config_keys

GRID = "name: plan\nfixed: {dataset: digits, method: aper}\naxes: {optimizer: [fo-sgd, zo-sgd, zo-adam, forward-grad]}\n"


def dry_run(tmp_path: Path, grid: str, *extra: str) -> tuple[int, list[str]]:
    (tmp_path / "grid.yaml").write_text(grid)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "grid.yaml"), "--dry-run", "--tracking-uri",
                                       f"sqlite:///{tmp_path}/store.db", *extra])
    return result.exit_code, result.output.strip().splitlines()


def test_json_is_one_object_per_trial_with_the_resolved_config(tmp_path: Path) -> None:
    code, lines = dry_run(tmp_path, GRID, "--json")
    trials = [json.loads(line) for line in lines]
    grid = load_grid(tmp_path / "grid.yaml")
    assert code == 0 and len(trials) == 4 == len(grid.trials)
    for record, spec in zip(trials, grid.trials):
        assert set(record) == {"hash", "status", "config", "resources"}
        assert record["hash"] == spec.config_hash and record["status"] == "PENDING"
        assert set(record["config"]) == set(config_keys()) and record["config"]["lr"] is not None  # presets applied
        assert record["config"] == spec.config.to_dict()
        assert record["resources"] == {"cpu": 1.0, "gpu": spec.resources.gpu, "memory_gb": spec.resources.memory_gb}

    tracker = Tracker(f"sqlite:///{tmp_path}/store.db", "plan")
    tracker.finish(tracker.start(grid.trials[1], None), {"avg_acc": 1.0}, [], 0.0)
    code, lines = dry_run(tmp_path, GRID, "--json")
    assert [json.loads(line)["status"] for line in lines] == ["PENDING", "FINISHED", "PENDING", "PENDING"]


def test_human_plan_ends_with_the_cost_and_the_counts(tmp_path: Path) -> None:
    code, lines = dry_run(tmp_path, GRID, "--gpus", "2")
    assert code == 0 and lines[-1] == "4 trials: 0 finished, 4 to run"
    assert lines[-2].startswith("estimate: 4 trials, ~") and "wall on 2 GPUs" in lines[-2]
    assert "the paper's Table 2 scaled" in lines[-2]
    assert sum(line.startswith("to run  ") for line in lines) == 4

    # A FINISHED run of the same settings in another experiment of the store gives its epoch time,
    # on the device the trial will use: a CPU run's epoch time is not a GPU's, an untagged run is neither.
    zo_sgd = load_grid(tmp_path / "grid.yaml").trials[1]
    tracker = Tracker(f"sqlite:///{tmp_path}/store.db", "earlier")
    for device, seconds in (("cuda", 7200.0), ("cpu", 1e7), ("", 1e7)):
        run_id = tracker.start(zo_sgd, None)
        tracker.finish(run_id, {"avg_acc": 1.0, "epoch_seconds": seconds}, [], 0.0)
        tracker.client.set_tag(run_id, DEVICE_TAG, device)
        tracker = Tracker(f"sqlite:///{tmp_path}/store.db", f"earlier-{device or 'untagged'}")
    code, lines = dry_run(tmp_path, GRID, "--gpus", "2")
    assert lines[-1] == "4 trials: 0 finished, 4 to run"
    assert "from measured epoch times for 1 trials, the paper's Table 2 scaled for 3" in lines[-2]
    hours = float(lines[-2].split("trial-hours")[0].split("~")[1])
    epochs = zo_sgd.config.epochs  # APER trains task 0 only: epochs x 2 h, plus the rest
    assert epochs * 2.0 <= hours < 1e6 / 3600
    assert f"longest trial ~{epochs * 2.0:.1f} h" in lines[-2]


def test_big_grids_are_summarised_unless_verbose(tmp_path: Path) -> None:
    grid = GRID + "seeds: [" + ", ".join(str(s) for s in range(20)) + "]\n"
    code, lines = dry_run(tmp_path, grid)
    groups = [line for line in lines if line.startswith("to run  ")]
    assert code == 0 and len(groups) == 4 and all(line.split()[2] == "20" for line in groups)
    assert [line.split()[3] for line in groups] == sorted(f"aper/{o}/digits" for o in
                                                          ("fo-sgd", "zo-sgd", "zo-adam", "forward-grad"))
    assert lines[-1] == "80 trials: 0 finished, 80 to run"
    code, lines = dry_run(tmp_path, grid, "--verbose")
    assert sum(line.startswith("to run  ") for line in lines) == 80


def test_measured_epoch_times_replace_table2_for_matching_settings() -> None:
    config = TrialConfig(method="ease", optimizer="zo-sgd-sign", dataset="cub", batch_size=48, image_size=224,
                         epochs=10, tasks=10, q=1)
    run_params = {"method": "ease", "optimizer": "zo-sgd", "dataset": "cub", "batch_size": "48",
                  "image_size": "224", "q": "1"}
    measured = measured_epoch_seconds([(run_params, 3.0, "cuda"), (run_params, 5.0, "cuda"), (run_params, 50.0, "cpu"),
                                       (run_params, 70.0, ""), ({**run_params, "q": "4"}, 99.0, "cuda")])
    # q enters the key as the forwards per step it costs: 2 at q = 1, 8 at q = 4.
    key = ("ease", "zo-sgd", "cub", "48", "224")
    assert measured == {(*key, "2", "cuda"): 4.0, (*key, "2", "cpu"): 50.0, (*key, "8", "cuda"): 99.0}

    grid_specs = [Spec(config, 0.5), Spec(TrialConfig(method="ease", optimizer="fo-sgd", dataset="cub", epochs=10,
                                                      tasks=10, image_size=224, batch_size=32), 1.0)]
    result = estimate(grid_specs, measured, gpus=4)  # type: ignore[arg-type]
    assert result.measured == 1 and result.table2 == 1
    fo_seconds = 100 * TABLE2[("fo-sgd", 1)][1][1]  # 10 epochs x 10 tasks at CUB's FO-SGD epoch time
    assert abs(result.seconds - (100 * 4.0 + fo_seconds)) < 1e-6
    assert abs(result.gpu_hours - (100 * 4.0 * 0.5 + fo_seconds) / 3600) < 1e-9
    assert "measured epoch times for 1 trials, the paper's Table 2 scaled for 1" in result.line(4)
    on_cpu = estimate(grid_specs, measured, gpus=0)  # type: ignore[arg-type]
    assert on_cpu.measured == 1 and abs(on_cpu.seconds - (100 * 50.0 + fo_seconds)) < 1e-6 and on_cpu.gpu_hours == 0


class Spec:  # what estimate reads of a TrialSpec
    def __init__(self, config: TrialConfig, gpu: float, cpu: float = 1.0) -> None:
        self.config, self.resources = config, type("R", (), {"gpu": gpu, "cpu": cpu})()


def test_cost_line_gives_unshared_and_packed_figures_and_no_wall_below_the_longest_trial() -> None:
    long = TrialConfig(method="ease", optimizer="fo-sgd", dataset="cifar100", epochs=1, tasks=1, image_size=224)
    per_epoch = table2_epoch_seconds(long)
    measured = {measured_key(long.to_dict(), "cuda"): 36000.0}  # one trial of 10 h ...
    short = TrialConfig(method="ease", optimizer="fo-sgd", dataset="cub", epochs=1, tasks=1, image_size=224)
    measured[measured_key(short.to_dict(), "cuda")] = 3600.0  # ... and one of 1 h, each at a quarter GPU
    result = estimate([Spec(long, 0.25), Spec(short, 0.25)], measured, gpus=8)  # type: ignore[list-item]
    line = result.line(8)
    assert "~11.0 trial-hours unshared (one trial per GPU: ~10.0 h wall on 8 GPUs)" in line
    assert "packed at the grid's GPU fractions ~2.8 GPU-hours, ~10.0 h wall" in line  # not 2.75 / 8 h
    assert "packing is unmeasured" in line and "longest trial ~10.0 h" in line
    assert per_epoch != 36000.0  # the measured time was used, not Table 2's


def test_a_cpu_only_machine_gets_a_cpu_wall_time_and_no_gpu_hours() -> None:
    config = TrialConfig(method="ease", optimizer="fo-sgd", dataset="cifar100", epochs=1, tasks=1, image_size=224)
    measured = {measured_key(config.to_dict(), "cpu"): 7200.0, measured_key(config.to_dict(), "cuda"): 60.0}
    result = estimate([Spec(config, 0.5, cpu=2.0)] * 4, measured, gpus=0)  # type: ignore[list-item]
    line = result.line(0, cpus=4)
    assert "GPU-hours" not in line and result.gpu_hours == 0
    assert "4 trials on CPU" in line and "~8.0 CPU trial-hours, ~4.0 h wall on 4 CPUs" in line  # two at a time


def test_table2_scaling() -> None:
    base = TrialConfig(method="ease", optimizer="zo-sgd", dataset="imagenet-a", image_size=224, q=1)
    assert table2_epoch_seconds(base) == TABLE2[("zo-sgd", 1)][1][2]
    four = TrialConfig(method="ease", optimizer="zo-sgd", dataset="imagenet-a", image_size=224, q=4)
    assert abs(table2_epoch_seconds(four) - TABLE2[("zo-sgd", 4)][1][2]) < 1e-9
    small = TrialConfig(method="ease", optimizer="fo-sgd", dataset="cifar100", image_size=112)
    assert abs(table2_epoch_seconds(small) - TABLE2[("fo-sgd", 1)][1][0] * 50 / 197) < 1e-9
    assert trained_epochs(TrialConfig(method="aper", epochs=20, tasks=10)) == 20  # APER trains task 0 only
    assert trained_epochs(TrialConfig(method="ease", epochs=20, tasks=10)) == 200

"""`python -m bench gpu` refuses cleanly without CUDA, and its code runs end to end as a CPU smoke run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from bench import gpu
from bench.__main__ import main as bench_main


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_without_cuda_it_refuses_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["gpu"]) == 2
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and "no CUDA device" in out


def test_a_precision_refused_for_zo_trials_is_refused_here_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu.main(["--device", "cpu", "--model", "test_vit", "--precision", "bf16"]) == 2
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and "'precision'" in out and "allowed: fp32" in out


@pytest.mark.parametrize("label", [label for label, _, _ in gpu.RUNS] + [gpu.FLOOR])
def test_each_strategy_trains_one_measured_epoch_of_ease_task_zero(tmp_path: Path, label: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZFSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    args = gpu.parse(["--device", "cpu", "--model", "test_vit"])
    args.data = tmp_path / "data"
    gpu.write_cifar(args.data, per_class=2)
    q = next((q for run, _, q in gpu.RUNS if run == label), 1)
    name = next((name for run, name, _ in gpu.RUNS if run == label), label)
    found = gpu.measure(args, name, q, epochs=2)
    assert len(found["epoch_seconds"]) == 2 and all(s > 0 for s in found["epoch_seconds"])
    assert found["steps"] == 1 and found["peak_bytes"] > 0  # task 0: 10 classes x 2 images, batch 48
    assert found["finished"] >= found["started"]


def test_packing_runs_k_zo_trials_as_separate_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZFSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    args = gpu.parse(["--device", "cpu", "--model", "test_vit", "--packing-epochs", "1"])
    args.data = tmp_path / "data"
    gpu.write_cifar(args.data, per_class=2)
    found = gpu.packing(args, [2])
    assert found[2]["trials_per_hour"] > 0 and found[2]["wall_s"] > 0 and found[2]["peak_gb_each"] > 0


@pytest.mark.slow  # covered piecewise above: each strategy's epoch, packing, the refusal
def test_a_cpu_smoke_run_of_the_whole_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    code = gpu.main(["--device", "cpu", "--model", "test_vit", "--per-class", "2", "--epochs", "1",
                     "--runs", "zo-sgd", "--packing", "2", "--packing-epochs", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert code == 0 and "smoke run" in result["device"]
    assert set(result["rows"]) == {"zo-sgd", gpu.FLOOR} and result["zo_over_floor"] > 0
    assert result["packing"]["2"]["trials_per_hour"] > 0 and result["paper_seconds"]["zo-sgd"] == 32.4
    assert "ZFSWEEP_CACHE_DIR" in os.environ

"""Step time and peak memory of every optimizer strategy on the adapter ViT, next to ZeroFlow Table 2,
and of the five zeroth-order estimators beyond the paper, next to ZO-SGD.

`python -m bench optimizers [--device cpu|cuda] [--batch N] [--steps N]` trains the ViT-B/16-shaped
adapter ViT (random weights, AdaptFormer adapters, a linear head) with each strategy, with
ZO-SGD at q = 4 and with the five later estimators as their authors released them (`-released`:
the forms and step that `profile: released` presets, trainers/presets.py), all in one run, and
prints a table, the targets of issue 3, and one JSON line.

Time: strategies take turns, one step each per round (so drift on a shared machine hits all
alike); the median over rounds after one warm-up round. Memory: on CUDA, the peak of
torch.cuda.max_memory_allocated over two steps after reset_peak_memory_stats (weights included,
as the paper's numbers are). On CPU there is no allocator peak to read, so each strategy runs two
steps in a fresh subprocess and reports its peak resident set growth over the built model
(Linux VmHWM, reset through /proc/self/clear_refs once the model and batch exist).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from trainers.backbone import AdapterViT, build_backbone
from trainers.optim import OPTIMIZERS, create_optimizer, optimizer_names
from trainers.presets import RELEASED_BEYOND, RELEASED_BEYOND_STEP

# (label, optimizer name, overrides): the nine strategies, ZO-SGD with four queries, then the five
# estimators beyond the paper (catalog/optimizers.py) on their registered defaults.
PAPER_NAMES = optimizer_names()[:9]
BEYOND_NAMES = optimizer_names()[9:]
RELEASED = {n: {**RELEASED_BEYOND_STEP, **RELEASED_BEYOND[n]} for n in BEYOND_NAMES}
RUNS: list[tuple[str, str, dict[str, Any]]] = ([(n, n, {}) for n in PAPER_NAMES] + [("zo-sgd-q4", "zo-sgd", {"q": 4})]
                                              + [(n, n, {}) for n in BEYOND_NAMES]
                                              + [(f"{n}-released", n, RELEASED[n]) for n in BEYOND_NAMES])
BEYOND_LABELS = [label for label, _, _ in RUNS[len(PAPER_NAMES) + 1:]]
# ZeroFlow Table 2 (EASE, CIFAR-100 epoch time; peak GPU memory), relative to FO-SGD (59.3 s, 12.08 GB).
PAPER_TIME = {"fo-sgd": 1.0, "zo-sgd": 32.4 / 59.3, "zo-sgd-sign": 32.4 / 59.3, "zo-sgd-conserve": 70.1 / 59.3,
              "zo-sgd-q4": 111.7 / 59.3, "forward-grad": 45.9 / 59.3}
PAPER_MEMORY = {"fo-sgd": 1.0, "zo-sgd": 2.41 / 12.08, "zo-sgd-sign": 2.41 / 12.08, "zo-sgd-conserve": 2.41 / 12.08,
                "zo-sgd-q4": 2.41 / 12.08, "forward-grad": 3.94 / 12.08}
TWO_FORWARDS = "two inference forwards"


class Bench(nn.Module):
    """Adapter ViT-B/16 plus a 100-way linear head on one fixed batch."""

    def __init__(self, batch: int, image_size: int, device: torch.device, backbone: str = "vit_base_patch16_224") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = AdapterViT(build_backbone(backbone, weights="random", image_size=image_size))
        self.backbone.add_adapter_set()
        self.head = nn.Linear(self.backbone.feature_dim, 100)
        self.to(device)
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(batch, 3, image_size, image_size, generator=generator).to(device)
        self.labels = torch.randint(0, 100, (batch,), generator=generator).to(device)

    def loss(self) -> torch.Tensor:
        return nn.functional.cross_entropy(self.head(self.backbone(self.images, adapter_set=0)), self.labels)

    def two_forwards(self) -> float:
        """The reference a ZO-SGD step is held to: two plain inference forwards of the batch."""
        self.eval()
        with torch.inference_mode():
            return float(self.loss()) + float(self.loss())


def _steppers(model: Bench) -> dict[str, Callable[[], float]]:
    steppers: dict[str, Callable[[], float]] = {TWO_FORWARDS: model.two_forwards}
    for label, name, overrides in RUNS:
        opt = create_optimizer(name, model, **overrides)
        steppers[label] = lambda opt=opt: opt.step(model.loss)
    return steppers


def _timed(step: Callable[[], float], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def step_seconds(model: Bench, steps: int, device: torch.device) -> dict[str, float]:
    """Median seconds per step of each strategy, interleaved rounds after one warm-up round."""
    steppers = _steppers(model)
    times: dict[str, list[float]] = {label: [] for label in steppers}
    for round_index in range(steps + 1):
        for label, step in steppers.items():
            seconds = _timed(step, device)
            if round_index > 0:
                times[label].append(seconds)
    return {label: statistics.median(values) for label, values in times.items()}


def cuda_peak_bytes(model: Bench, device: torch.device) -> dict[str, int]:
    peaks = {}
    for label, name, overrides in RUNS:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        opt = create_optimizer(name, model, **overrides)
        for _ in range(2):
            opt.step(model.loss)
        peaks[label] = torch.cuda.max_memory_allocated(device)
        del opt
    return peaks


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child_peak_rss(label: str, batch: int, image_size: int) -> int:
    """In a fresh process: resident-set peak growth over two steps of `label`, in bytes."""
    name, overrides = next((n, o) for run_label, n, o in RUNS if run_label == label)
    model = Bench(batch, image_size, torch.device("cpu"))
    opt = create_optimizer(name, model, **overrides)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS, so the peak starts from here
    baseline = _status_kib("VmRSS")
    for _ in range(2):
        opt.step(model.loss)
    return (_status_kib("VmHWM") - baseline) * 1024


def cpu_peak_bytes(batch: int, image_size: int) -> dict[str, int]:
    peaks = {}
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    for label, _, _ in RUNS:
        command = [sys.executable, "-m", "bench", "optimizers", "--child", label, "--batch", str(batch),
                   "--image-size", str(image_size), "--device", "cpu"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, check=True)
        peaks[label] = int(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_increase"])
    return peaks


def _forwards(name: str, overrides: dict[str, Any]) -> int:
    return OPTIMIZERS[name].forwards_per_step(overrides.get("q", 1), overrides.get("muon_sided") == "one")


def _ratio(values: dict[str, float], label: str) -> float:
    return values[label] / values["fo-sgd"]


def _paper(table: dict[str, float], label: str) -> str:
    return f"{table[label]:.2f}" if label in table else "–"


def render(seconds: dict[str, float], peaks: dict[str, int], memory_note: str) -> str:
    rows = [f"{'strategy':<24}{'fwd/step':>9}{'step s':>9}{'×fo-sgd':>9}{'paper':>7}"
            f"{'peak MiB':>10}{'×fo-sgd':>9}{'paper':>7}"]
    for label, name, overrides in RUNS:
        forwards = _forwards(name, overrides)
        rows.append(f"{label:<24}{forwards:>9}{seconds[label]:>9.3f}{_ratio(seconds, label):>9.2f}"
                    f"{_paper(PAPER_TIME, label):>7}{peaks[label] / 2**20:>10.1f}"
                    f"{_ratio(peaks, label):>9.3f}{_paper(PAPER_MEMORY, label):>7}")
    rows.append(f"{TWO_FORWARDS:<24}{2:>9}{seconds[TWO_FORWARDS]:>9.3f}")
    rows.append(f"memory: {memory_note}")
    rows.append("paper: ZeroFlow Table 2 (EASE), CIFAR-100 epoch time and peak GPU memory relative to FO-SGD")
    return "\n".join(rows)


def checks(seconds: dict[str, float], peaks: dict[str, int], on_gpu: bool) -> list[str]:
    memory = _ratio(peaks, "zo-sgd")
    found = [
        ("ZO-SGD step / two inference forwards", seconds["zo-sgd"] / seconds[TWO_FORWARDS], "<=", 1.15),
        ("ZO-SGD step / FO-SGD step", _ratio(seconds, "zo-sgd"), "<", 1.0),
        ("ZO-SGD q=4 step / q=1 step", seconds["zo-sgd-q4"] / seconds["zo-sgd"], "<=", 4.2),
        ("ZO-SGD-Conserve step / ZO-SGD step", seconds["zo-sgd-conserve"] / seconds["zo-sgd"], "<=", 2.6),
        ("ZO-Adam-Conserve step / ZO-Adam step", seconds["zo-adam-conserve"] / seconds["zo-adam"], "<=", 2.6),
    ]
    lines = []
    for text, value, relation, bound in found:
        met = value <= bound if relation == "<=" else value < bound
        lines.append(f"{text}: {value:.2f} (target {relation} {bound}) {'met' if met else 'MISSED'}")
    scope = "met" if memory <= 0.15 else "MISSED"
    lines.append(f"ZO-SGD peak memory / FO-SGD: {memory:.3f} (target <= 0.15 on GPU) "
                 f"{scope if on_gpu else 'not applicable on CPU (RSS growth, see above)'}")
    return lines


def beyond_lines(seconds: dict[str, float], peaks: dict[str, int]) -> list[str]:
    """Each estimator beyond the paper against ZO-SGD: step time, peak memory, forwards (no targets)."""
    lines = []
    for label, name, overrides in RUNS[len(PAPER_NAMES) + 1:]:
        forwards = _forwards(name, overrides) / OPTIMIZERS["zo-sgd"].forwards_per_step()
        lines.append(f"{label} / zo-sgd: step {seconds[label] / seconds['zo-sgd']:.2f}, "
                     f"peak memory {peaks[label] / peaks['zo-sgd']:.2f}, forwards {forwards:.2f}")
    return lines


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench optimizers", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=None, help="images per step (default: 48 on cuda, 4 on cpu)")
    parser.add_argument("--steps", type=int, default=3, help="timed rounds after the warm-up round")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--child", choices=[label for label, _, _ in RUNS], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    device = torch.device(args.device)
    batch = args.batch or (48 if device.type == "cuda" else 4)
    if args.child:
        print(json.dumps({"peak_rss_increase": child_peak_rss(args.child, batch, args.image_size)}))
        return 0
    model = Bench(batch, args.image_size, device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"adapter ViT-B/16 (random weights), {trainable:,} trainable parameters, batch {batch}, "
          f"{args.image_size}px, {device.type}, {torch.get_num_threads()} threads", flush=True)
    seconds = step_seconds(model, args.steps, device)
    print(f"time: median of {args.steps} interleaved rounds after one warm-up round", flush=True)
    if device.type == "cuda":
        peaks, note = cuda_peak_bytes(model, device), "torch.cuda.max_memory_allocated over two steps (weights included)"
    else:
        del model
        peaks = cpu_peak_bytes(batch, args.image_size)
        note = "peak RSS growth over the built model during two steps, fresh process per strategy (VmHWM)"
    print(render(seconds, peaks, note))
    print("\n".join(checks(seconds, peaks, device.type == "cuda")))
    print("\n".join(beyond_lines(seconds, peaks)))
    labels = [label for label, _, _ in RUNS]
    print(json.dumps({
        "device": device.type, "batch": batch,
        "step_time_ratio": {label: round(_ratio(seconds, label), 4) for label in labels},
        "peak_memory_ratio": {label: round(_ratio(peaks, label), 4) for label in labels},
        "zo_step_over_two_forwards": round(seconds["zo-sgd"] / seconds[TWO_FORWARDS], 4),
        "beyond_step_over_zo_sgd": {n: round(seconds[n] / seconds["zo-sgd"], 4) for n in BEYOND_LABELS},
        "beyond_memory_over_zo_sgd": {n: round(peaks[n] / peaks["zo-sgd"], 4) for n in BEYOND_LABELS},
        "forwards_per_step": {label: _forwards(name, overrides) for label, name, overrides in RUNS},
        "memory_measure": note, "step_seconds": {label: round(seconds[label], 4) for label in seconds},
        "peak_memory_bytes": peaks}))
    return 0

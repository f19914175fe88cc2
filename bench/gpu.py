"""EASE epoch time and peak memory per optimizer on one GPU, next to ZeroFlow Table 2, and ZO trial packing.

`python -m bench gpu [--per-class N] [--packing 1,2,4,8] [--packing-epochs N]` needs CUDA. On
CIFAR-100-shaped synthetic data (torchvision pickles, 500 random 32x32 images per class unless
--per-class says otherwise; task 0 = 10 classes) it trains EASE's first task for one epoch at batch
48 with the device-side input path and ViT-B/16 (random weights: the same arithmetic as the
pretrained ones), for FO-SGD, ZO-SGD (q = 1 and 4), ZO-SGD-Conserve and Forward-Grad, each in a
fresh process, and reports the measured epoch seconds and the peak of
torch.cuda.max_memory_allocated beside the paper's Table 2 and beside the floor: the same epoch
with only two inference forwards per batch (what a q = 1 ZO step cannot go below).

Packing: k = 1, 2, 4, 8 ZO-SGD (q = 1) processes start together on the GPU, as Ray runs trials,
each training `--packing-epochs` epochs; aggregate throughput is k x epochs / wall seconds, shown
as trials per hour, a trial being 10 tasks x 100 epochs of training (ZeroFlow's ZO preset; its
evaluation is left out). `--device cpu --model test_vit --per-class 2` is a smoke run of the same
code on a CPU (the tests use it); its numbers are not GPU numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from catalog.config import ConfigError, TrialConfig, make_config
from trainers.data.inputs import Batches, Inputs
from trainers.methods import Method
from trainers.precision import with_precision
from trainers.presets import resolve
from trainers.resources import PeakMemory
from trainers.trial import build_model, load_data, task_seed
from trainers.training import train_task

BATCH = 48
FLOOR = "two inference forwards"
RUNS: list[tuple[str, str, int]] = [("fo-sgd", "fo-sgd", 1), ("zo-sgd", "zo-sgd", 1), ("zo-sgd-q4", "zo-sgd", 4),
                                    ("zo-sgd-conserve", "zo-sgd-conserve", 1), ("forward-grad", "forward-grad", 1)]
PAPER_SECONDS = {"fo-sgd": 59.3, "zo-sgd": 32.4, "zo-sgd-q4": 111.7, "zo-sgd-conserve": 70.1, "forward-grad": 45.9}
PAPER_GB = {"fo-sgd": 12.08, "zo-sgd": 2.41, "zo-sgd-q4": 2.41, "zo-sgd-conserve": 2.41, "forward-grad": 3.94}
TRIAL_EPOCHS = 10 * 100


def write_cifar(root: Path, per_class: int, classes: int = 100) -> None:
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", max(1, per_class // 5))):
        labels = [k for k in range(classes) for _ in range(count)]
        pixels = generator.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        (base / split).write_bytes(pickle.dumps({b"data": pixels, b"fine_labels": labels}))


def _config(args: argparse.Namespace, optimizer: str, q: int, epochs: int) -> TrialConfig:
    return resolve(make_config({
        "method": "ease", "optimizer": optimizer, "q": q, "dataset": "cifar100", "data_root": str(args.data),
        "backbone": args.model, "weights": "random", "image_size": 32 if args.model == "test_vit" else 224,
        "epochs": epochs, "batch_size": BATCH, "device": args.device, "input_path": "device",
        "precision": args.precision}))


def measure(args: argparse.Namespace, optimizer: str, q: int, epochs: int) -> dict[str, object]:
    """In this process: task 0 of EASE for `epochs` epochs (or the floor pass); seconds and peak bytes."""
    config = _config(args, "zo-sgd" if optimizer == FLOOR else optimizer, q, epochs)
    device = torch.device(args.device)
    benchmark = load_data(config)
    inputs = Inputs.for_trial(config, device)
    with PeakMemory(device) as memory:
        method = build_model(config, benchmark.num_classes, device)
        method.begin_task(0, benchmark.task_classes(0))
        batches = inputs.train_batches(benchmark, 0, train=True, seed=task_seed(config.seed, 0))
        started = time.time()
        if optimizer == FLOOR:
            seconds = [_floor_epoch(method, batches, config.precision, device) for _ in range(epochs)]
        else:
            seconds = train_task(method, config, batches, device, task_seed(config.seed, 0)).epoch_seconds
        finished = time.time()
    return {"epoch_seconds": seconds, "peak_bytes": memory.peak_bytes, "steps": len(batches),
            "started": started, "finished": finished}


@torch.inference_mode()
def _floor_epoch(method: Method, batches: Batches, precision: str, device: torch.device) -> float:
    method.eval()
    started = time.perf_counter()
    for images, labels in batches:
        closure = with_precision(lambda: method.loss(images, labels), precision, device)
        float(closure()) + float(closure())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def _child_command(args: argparse.Namespace, label: str, epochs: int) -> list[str]:
    return [sys.executable, "-m", "bench", "gpu", "--child", label, "--child-epochs", str(epochs),
            "--device", args.device, "--model", args.model, "--data", str(args.data), "--precision", args.precision]


def in_processes(args: argparse.Namespace, label: str, copies: int, epochs: int) -> list[dict[str, object]]:
    """Run `label` in `copies` fresh processes started together; each one's measurement."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    running = [subprocess.Popen(_child_command(args, label, epochs), stdout=subprocess.PIPE, text=True, env=env,
                                cwd=root) for _ in range(copies)]
    outputs = [process.communicate()[0] for process in running]
    if any(process.returncode for process in running):
        raise RuntimeError(f"a '{label}' process failed (exit codes {[p.returncode for p in running]})")
    return [json.loads(output.strip().splitlines()[-1]) for output in outputs]


def table(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Each strategy and the floor in its own process: last epoch's seconds (earlier ones warm up) and peak GB."""
    rows = {}
    for label in [label for label, _, _ in RUNS if label in args.runs.split(",")] + [FLOOR]:
        found = in_processes(args, label, 1, args.epochs)[0]
        rows[label] = {"epoch_s": found["epoch_seconds"][-1], "peak_gb": found["peak_bytes"] / 2**30,
                       "steps": found["steps"]}
        print(f"{label:<24}{rows[label]['epoch_s']:>10.2f}{PAPER_SECONDS.get(label, float('nan')):>9.1f}"
              f"{rows[label]['peak_gb']:>10.2f}{PAPER_GB.get(label, float('nan')):>9.2f}", flush=True)
    return rows


def packing(args: argparse.Namespace, counts: list[int]) -> dict[int, dict[str, float]]:
    """k ZO-SGD processes at once: aggregate epochs per hour, as trials per hour."""
    found = {}
    for k in counts:
        runs = in_processes(args, "zo-sgd", k, args.packing_epochs)
        wall = max(r["finished"] for r in runs) - min(r["started"] for r in runs)
        epochs_per_hour = k * args.packing_epochs * 3600.0 / wall
        found[k] = {"wall_s": wall, "trials_per_hour": epochs_per_hour / TRIAL_EPOCHS,
                    "peak_gb_each": max(r["peak_bytes"] for r in runs) / 2**30}
        print(f"k = {k}: {found[k]['trials_per_hour']:.3f} ZO-SGD trials/hour "
              f"({k} x {args.packing_epochs} epochs in {wall:.1f} s; peak {found[k]['peak_gb_each']:.2f} GB each)",
              flush=True)
    return found


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda (the benchmark); cpu only for a smoke run of the code")
    parser.add_argument("--model", default="vit_base_patch16_224", help="timm name (test_vit for a smoke run)")
    parser.add_argument("--per-class", type=int, default=500, help="training images per class (CIFAR-100: 500)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per strategy; the last one is reported")
    parser.add_argument("--runs", default=",".join(label for label, _, _ in RUNS), help="strategies to time")
    parser.add_argument("--packing", default="1,2,4,8", help="concurrent ZO-SGD processes to try, comma-separated")
    parser.add_argument("--packing-epochs", type=int, default=2)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"))
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-epochs", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _child(args: argparse.Namespace) -> int:
    q = next((q for label, _, q in RUNS if label == args.child), 1)
    optimizer = next((name for label, name, _ in RUNS if label == args.child), args.child)
    print(json.dumps(measure(args, optimizer, q, args.child_epochs)))
    return 0


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench gpu: no CUDA device is visible; run it on a GPU machine (or --device cpu for a smoke run)")
        return 2
    try:
        _config(args, "zo-sgd", 1, 1)
    except ConfigError as error:
        print(f"bench gpu: {error}")
        return 2
    if args.child:
        return _child(args)
    counts = [int(k) for k in args.packing.split(",") if k.strip()]
    with tempfile.TemporaryDirectory(prefix="zfsweep-bench-gpu-") as folder:
        os.environ["ZFSWEEP_CACHE_DIR"] = str(Path(folder) / "cache")  # the children inherit it
        args.data = Path(folder) / "data"
        write_cifar(args.data, args.per_class)
        Inputs.for_trial(_config(args, "zo-sgd", 1, 1), torch.device("cpu"))  # build the cache once, up front
        name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU (smoke run: not GPU numbers)"
        print(f"EASE task 0 (10 classes x {args.per_class} images), batch {BATCH}, {args.model} random weights, "
              f"device-side input path, {args.precision}, {name}", flush=True)
        print(f"{'strategy':<24}{'epoch s':>10}{'paper':>9}{'peak GB':>10}{'paper':>9}")
        rows = table(args)
        print("paper: ZeroFlow Table 2 (EASE, CIFAR-100; the authors' GPU)")
        packed = packing(args, counts)
    floor = rows[FLOOR]["epoch_s"]
    zo_over_floor = rows["zo-sgd"]["epoch_s"] / floor if "zo-sgd" in rows else None
    if zo_over_floor is not None:
        print(f"ZO-SGD epoch / floor (two inference forwards per step): {zo_over_floor:.2f}")
    print(json.dumps({"device": name, "model": args.model, "per_class": args.per_class, "precision": args.precision,
                      "rows": rows, "zo_over_floor": zo_over_floor,
                      "packing": {str(k): v for k, v in packed.items()}, "paper_seconds": PAPER_SECONDS,
                      "paper_gb": PAPER_GB}))
    return 0

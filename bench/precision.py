"""Per precision mode: how far the ZO estimate moves from fp32's, and what a step costs.

`python -m bench precision [--device cpu|cuda] [--model vit_base_patch16_224|test_vit] [--batch N]
[--queries N] [--steps N]` builds the adapter ViT of `bench optimizers` (random weights, one
adapter set, a 100-way head, one fixed batch) and, for each mode of trainers/precision.py, computes
the two-point estimate ĝ = (1/Q) Σ_i (L(θ+εz_i) − L(θ−εz_i)) / 2ε · z_i with ε = 1e-3 over Q
queries, with the same directions z_i (seeded per query) in every mode. It prints the cosine of
each mode's ĝ with the fp32 ĝ, next to the cosine of two fp32 estimates from independent
directions (what the estimator's own noise gives), and the median time of a ZO-SGD (q = 1) and an
FO-SGD step per mode. A mode is fit for ZO trials when its cosine is >= ZO_MIN_COSINE
(trainers/precision.py). tf32 changes only CUDA matmuls: on a CPU it is reported as not measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bench.optimizers import Bench
from catalog.config import PRECISIONS
from catalog.optimizers import ZO_EPS as EPS
from trainers.optim import create_optimizer
from trainers.precision import ZO_MIN_COSINE, ZO_PRECISIONS, with_precision


def _directions(params: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=generator).to(p.device) for p in params]


@torch.no_grad()
def estimate(model: Bench, precision: str, device: torch.device, queries: int, first_seed: int) -> torch.Tensor:
    """The flat averaged two-point estimate; parameters are restored exactly after each query."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = with_precision(model.loss, precision, device)
    total = torch.zeros(sum(p.numel() for p in params), device=device)
    model.eval()
    for query in range(queries):
        directions = _directions(params, first_seed + query)
        saved = [p.detach().clone() for p in params]
        values = []
        for sign in (1.0, -1.0):
            for p, z, theta in zip(params, directions, saved):
                p.copy_(theta).add_(z, alpha=sign * EPS)
            values.append(float(loss()))
        for p, theta in zip(params, saved):
            p.copy_(theta)
        total += (values[0] - values[1]) / (2 * EPS) * torch.cat([z.flatten() for z in directions])
    return total / queries


def step_seconds(model: Bench, precision: str, device: torch.device, steps: int) -> dict[str, float]:
    """Median seconds of a ZO-SGD (q = 1) and an FO-SGD step with lr 0 (the model does not move)."""
    found = {}
    for name in ("zo-sgd", "fo-sgd"):
        optimizer = create_optimizer(name, model, lr=0.0)
        closure = with_precision(model.loss, precision, device)
        times = []
        for index in range(steps + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            optimizer.step(closure)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if index > 0:
                times.append(time.perf_counter() - started)
        found[name] = statistics.median(times)
    return found


def measure(model: Bench, device: torch.device, queries: int, steps: int) -> dict[str, dict[str, float | str]]:
    reference = estimate(model, "fp32", device, queries, first_seed=0)
    independent = estimate(model, "fp32", device, queries, first_seed=10_000)
    results: dict[str, dict[str, float | str]] = {
        "fp32-independent": {"cosine": float(torch.cosine_similarity(reference, independent, dim=0))}}
    for precision in PRECISIONS:
        if precision == "tf32" and device.type != "cuda":
            results[precision] = {"cosine": "not measured (tf32 is CUDA-only; on CPU it computes fp32)"}
            continue
        found = reference if precision == "fp32" else estimate(model, precision, device, queries, first_seed=0)
        cosine = float(torch.cosine_similarity(reference, found, dim=0))
        times = step_seconds(model, precision, device, steps)
        results[precision] = {"cosine": cosine, "zo_ok": cosine >= ZO_MIN_COSINE,
                              "zo_step_s": times["zo-sgd"], "fo_step_s": times["fo-sgd"]}
    return results


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench precision", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="vit_base_patch16_224", help="timm name (test_vit: the tiny test ViT)")
    parser.add_argument("--batch", type=int, default=None, help="images per batch (default: 48 on cuda, 4 on cpu)")
    parser.add_argument("--queries", type=int, default=None, help="queries averaged (default: 256 on cuda, 32 on cpu)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per optimizer and mode after one warm-up")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench precision: --device cuda asked for but no CUDA device is visible")
        return 2
    on_gpu = device.type == "cuda"
    batch, queries = args.batch or (48 if on_gpu else 4), args.queries or (256 if on_gpu else 32)
    image_size = 32 if args.model == "test_vit" else 224
    model = Bench(batch, image_size, device, backbone=args.model)
    print(f"{args.model} adapter ViT (random weights), batch {batch}, {queries} queries, eps {EPS}, {device.type}, "
          f"{torch.get_num_threads()} threads", flush=True)
    results = measure(model, device, queries, args.steps)
    print(f"{'mode':<18}{'cosine vs fp32':>16}{'>=' + str(ZO_MIN_COSINE):>7}{'ZO step s':>11}{'FO step s':>11}")
    for mode, row in results.items():
        cosine = row["cosine"]
        if isinstance(cosine, str):
            print(f"{mode:<18}  {cosine}")
            continue
        timing = (f"{row['zo_ok']!s:>7}{row['zo_step_s']:>11.3f}{row['fo_step_s']:>11.3f}" if "zo_ok" in row
                  else "   (reference: two fp32 estimates, independent directions)")
        print(f"{mode:<18}{cosine:>16.4f}{timing}")
    print(f"ZO trials may use: {', '.join(ZO_PRECISIONS)} (the modes that kept cosine >= {ZO_MIN_COSINE} in every "
          "measurement so far; trainers/precision.py, docs/internals.md 'Precision')")
    print(json.dumps({"device": device.type, "model": args.model, "batch": batch, "queries": queries,
                      "min_cosine": ZO_MIN_COSINE, "zo_precisions": list(ZO_PRECISIONS), "modes": results}))
    return 0

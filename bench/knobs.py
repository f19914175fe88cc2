"""The effect of each `released`-profile knob alone, on an embedded data set with several seeds.

Every row flips one setting from the `corrected` profile to what the released scripts ran (or the
whole profile at once) and runs the same trial with and without it, for each seed; the table gives
mean ± std of Avg / Last / Fgt and the mean paired difference (knob on − off), so users see which
of the differences between zfsweep's corrected settings and the paper's setup move the numbers.
The backbone knob (IN21K vs IN21K→IN1K weights) needs the hub and is not measured here.

Usage: python -m bench knobs [--dataset digits] [--seeds 1993 1994 1995] [--epochs N]
The last output line is one JSON object with every row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from catalog.config import make_config
from trainers.presets import resolve
from trainers.trial import run_trial

METRICS = ("avg_acc", "last_acc", "forgetting")


@dataclass(frozen=True)
class Knob:
    """One released-vs-corrected difference: the trial it acts on and the setting it flips."""

    name: str
    base: dict[str, Any]
    released: dict[str, Any]
    corrected: dict[str, Any]


KNOBS = (
    Knob("alpha (released ZO runs score EASE with 0.9)", {"method": "ease", "optimizer": "zo-sgd"},
         {"alpha": 0.9}, {"alpha": 0.1}),
    Knob("lr (released ZO-Adam 1e-4, corrected 1e-3)", {"method": "ease", "optimizer": "zo-adam"},
         {"lr": 1e-4}, {"lr": 1e-3}),
    Knob("conserve (replay vs exact)", {"method": "ease", "optimizer": "zo-sgd-conserve"},
         {"conserve": "replay"}, {"conserve": "exact"}),
    Knob("perturb_test_head (ZO noise on old prototypes)", {"method": "ease", "optimizer": "zo-sgd"},
         {"perturb_test_head": True}, {"perturb_test_head": False}),
    Knob("ease_adapters (first-task vs per-task)", {"method": "ease", "optimizer": "fo-sgd"},
         {"ease_adapters": "first-task"}, {"ease_adapters": "per-task"}),
    Knob("adamw (APER FO-Adam as AdamW vs Adam)", {"method": "aper", "optimizer": "fo-adam"},
         {"adamw": True}, {"adamw": False}),
    Knob("hybrid FO phase at the ZO trial's lr vs at the FO preset",
         {"method": "ease", "optimizer": "zo-sgd", "hybrid": 0.5, "epochs": 4},
         {"fo_lr": "trial", "fo_schedule": "constant", "fo_momentum": "trial"}, {}),
    Knob("profile (all released settings at once)", {"method": "ease", "optimizer": "zo-sgd"},
         {"profile": "released"}, {"profile": "corrected"}),
)


def _settings(knob: Knob, side: dict[str, Any], dataset: str, seed: int, epochs: int | None) -> dict[str, Any]:
    values = {"dataset": dataset, "seed": seed, "device": "cpu", **knob.base}
    if epochs is not None and "epochs" not in knob.base:
        values["epochs"] = epochs
    resolved = resolve(make_config({**values, "profile": "corrected"}))
    for key, value in side.items():  # "trial": the ZO trial's own value of the matching key
        values[key] = getattr(resolved, key.removeprefix("fo_")) if value == "trial" else value
    return values


def _run(values: dict[str, Any]) -> dict[str, float]:
    result = run_trial(make_config(values))
    return {metric: getattr(result, metric) for metric in METRICS}


def _summary(runs: list[dict[str, float]]) -> dict[str, list[float]]:
    return {m: [statistics.mean(r[m] for r in runs), statistics.stdev(r[m] for r in runs) if len(runs) > 1 else 0.0]
            for m in METRICS}


def measure(knob: Knob, dataset: str, seeds: list[int], epochs: int | None) -> dict[str, Any]:
    on = [_run(_settings(knob, knob.released, dataset, seed, epochs)) for seed in seeds]
    off = [_run(_settings(knob, knob.corrected, dataset, seed, epochs)) for seed in seeds]
    delta = {m: statistics.mean(a[m] - b[m] for a, b in zip(on, off)) for m in METRICS}
    return {"knob": knob.name, "released": _summary(on), "corrected": _summary(off), "delta": delta}


def _cell(summary: dict[str, list[float]]) -> str:
    return " / ".join(f"{mean:.1f} ± {std:.1f}" for mean, std in summary.values())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench knobs")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1993, 1994, 1995])
    parser.add_argument("--epochs", type=int, default=None, help="override the data set's preset epochs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    print("| knob | released: Avg / Last / Fgt | corrected: Avg / Last / Fgt | Δ Avg / Last / Fgt |")
    print("|---|---|---|---|")
    for knob in KNOBS:
        row = measure(knob, args.dataset, args.seeds, args.epochs)
        rows.append(row)
        delta = " / ".join(f"{value:+.1f}" for value in row["delta"].values())
        print(f"| {knob.name} | {_cell(row['released'])} | {_cell(row['corrected'])} | {delta} |", flush=True)
    print(json.dumps({"dataset": args.dataset, "seeds": args.seeds, "epochs": args.epochs, "rows": rows,
                      "seconds": round(time.perf_counter() - started, 1)}))
    return 0

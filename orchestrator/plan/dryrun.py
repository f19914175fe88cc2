"""`zfsweep run GRID --dry-run`: the plan, what the up-front check would refuse, and the cost.

Human output: one line per trial to run (for more than SUMMARY_OVER trials, one line per
method x optimizer x dataset unless --verbose or that is one line per trial anyway), a `note:` per problem the up-front check finds
(a real run stops there), the cost estimate (orchestrator/plan/cost.py: unshared and packed on
GPUs, or CPU trial-hours and wall time where there is no GPU), and last the line
`<N> trials: <F> finished, <P> to run`. With --json: one JSON object per trial of the grid
(hash, status, the fully resolved config, resources) and nothing else.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from orchestrator.grid.expand import TrialSpec

if TYPE_CHECKING:
    from orchestrator.plan.plan import Plan

SUMMARY_OVER = 50


def trial_json(spec: TrialSpec, status: str) -> str:
    r = spec.resources
    return json.dumps({"hash": spec.config_hash, "status": status, "config": spec.config.to_dict(),
                       "resources": {"cpu": r.cpu, "gpu": r.gpu, "memory_gb": r.memory_gb}}, sort_keys=True)


def print_json(work: Plan, out: TextIO) -> None:
    for spec in work.grid.trials:
        run = work.runs.get(spec.config_hash)
        out.write(trial_json(spec, run.status if run is not None else "PENDING") + "\n")


def _trial_lines(pending: list[TrialSpec], out: TextIO) -> None:
    for spec in pending:
        r = spec.resources
        out.write(f"to run  {spec.config_hash}  {spec.label}  cpu={r.cpu:g} gpu={r.gpu:g} ~{r.memory_gb:g} GB\n")


def _summary_lines(pending: list[TrialSpec], out: TextIO) -> None:
    groups = Counter((s.config.method, s.config.optimizer, s.config.dataset) for s in pending)
    for (method, optimizer, dataset), count in sorted(groups.items()):
        out.write(f"to run  {count:>6}  {method}/{optimizer}/{dataset}\n")
    out.write(f"({len(groups)} groups; --verbose lists every trial)\n")


def print_plan(work: Plan, out: TextIO, *, tracking_uri: str, verbose: bool = False, problems: tuple[str, ...] = (),
               gpus: float | None = None, address: str | None = None) -> None:
    from orchestrator.grid.checks import machine
    from orchestrator.plan.cost import estimate, measured_epoch_seconds, store_runs

    groups = len({(s.config.method, s.config.optimizer, s.config.dataset) for s in work.pending})
    if verbose or len(work.pending) <= SUMMARY_OVER or groups == len(work.pending):
        _trial_lines(work.pending, out)
    else:
        _summary_lines(work.pending, out)
    for problem in problems:
        out.write(f"note: {problem} (a real run stops here)\n")
    if work.pending:
        where = machine(address)
        measured = measured_epoch_seconds(store_runs(tracking_uri))
        gpu_count = where.total_gpus if gpus is None else gpus
        out.write(estimate(work.pending, measured, gpu_count).line(gpu_count, where.cpus) + "\n")
    out.write(f"{len(work.grid.trials)} trials: {work.finished} finished, {len(work.pending)} to run\n")

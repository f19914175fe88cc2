"""The up-front check of `zfsweep run`: everything knowable before training, before anything is written.

Grid validation (orchestrator/grid/expand.py) already settles each value alone and each trial's own
combinations (finite numbers, seed range, Conserve with q = 1, ...). What needs the outside
world is checked here, once per distinct combination among the trials still to run:
- backbone: timm builds it (on the meta device) at the trial's image size, which must be a
  multiple of its patch size;
- device: `cuda` needs a GPU on this machine (local instance) or in the cluster (--address);
- resources: one trial's CPUs and GPUs must fit on one node (this machine, or the largest alive
  node of the cluster), else Ray would wait for it forever;
- weights: a file exists and loads into the backbone; `hub` weights are cached or the hub
  answers within seconds (trainers/weights.py);
- data: every file opens (each data source's `verify` says how much is decoded) and `tasks`
  divides the data set's real number of classes.
Each problem is a CheckError line: grid file, the key that states the value, what is allowed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from orchestrator.grid.expand import Grid, TrialSpec
from orchestrator.grid.schema import GridError, GridFile


class CheckError(GridError):
    """A grid whose trials cannot run here; one line: file, key, what is allowed."""


@dataclass(frozen=True)
class Machine:
    """What one trial can get at most: the CPUs and GPUs of the largest node."""

    where: str
    cpus: float
    gpus: float
    total_gpus: float


def locate(source: GridFile | None, key: str) -> str:
    """The first place in the grid file that states `key`, else `key` itself (a preset or default)."""
    if source is not None:
        places = [("fixed", source.fixed), ("axes", source.axes)]
        places += [(f"include[{i}]", entry) for i, entry in enumerate(source.include)]
        places += [(f"{rule.location}.set", rule.settings) for rule in source.when]
        for prefix, values in places:
            if key in values:
                return f"{prefix}.{key}"
        if key == "seed" and source.seeds is not None:
            return "seeds"
    return key


def locate_resource(source: GridFile | None, key: str) -> str:
    if source is not None:
        for rule in source.when:
            if getattr(rule.resources, key) is not None:
                return f"{rule.location}.resources.{key}"
        if getattr(source.resources, key) is not None:
            return f"resources.{key}"
    return f"resources.{key}"


def asks_ray(address: str | None) -> bool:
    """Whether the check reads the machine from Ray: a cluster's --address, or a Ray instance this process
    runs already (tests, the benchmark); otherwise it counts this machine's CPUs and GPUs itself."""
    return address is not None or ("ray" in sys.modules and sys.modules["ray"].is_initialized())


def machine(address: str | None) -> Machine:
    """This machine for a local Ray instance; the cluster's largest alive node with --address.

    A Ray instance this process already runs (tests, the benchmark) is asked like a cluster.
    """
    if not asks_ray(address):
        import torch

        gpus = float(torch.cuda.device_count())
        return Machine("this machine", float(os.cpu_count() or 1), gpus, gpus)
    import ray

    from orchestrator.sweep.tune import start_ray

    start_ray(address)  # does nothing when connected already; the sweep reuses this connection
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    cpus = max((node.get("CPU", 0.0) for node in nodes), default=0.0)
    gpus = max((node.get("GPU", 0.0) for node in nodes), default=0.0)
    where = f"the cluster at {address}" if address else "the running Ray instance"
    return Machine(where, cpus, gpus, sum(node.get("GPU", 0.0) for node in nodes))


class _Checker:
    def __init__(self, grid: Grid, trials: Sequence[TrialSpec]) -> None:
        self.grid, self.trials = grid, trials
        self.problems: list[CheckError] = []

    def fail(self, key: str, message: str, example: TrialSpec) -> None:
        if message.startswith(f"'{key}': "):
            message = message[len(key) + 4:]
        where = locate(self.grid.source, key)
        preset = f"; '{key}' is the preset value here, a grid may set it" if where == key else ""
        self.problems.append(CheckError(self.grid.path, where, f"{message} (e.g. trial {example.label}){preset}"))

    def each(self, key: Callable[[TrialSpec], object]) -> Iterable[tuple[object, TrialSpec]]:
        """One (value, first trial) per distinct key(trial)."""
        seen: dict[object, TrialSpec] = {}
        for spec in self.trials:
            seen.setdefault(key(spec), spec)
        return seen.items()


def _backbones(check: _Checker) -> None:
    from trainers.backbone import WeightsError
    from trainers.weights import check_backbone

    for (name, size), spec in check.each(lambda s: (s.config.backbone, s.config.image_size)):
        try:
            patch = check_backbone(str(name), int(size))
        except WeightsError as error:
            check.fail("backbone", str(error), spec)
            continue
        if size % patch or size < patch:
            check.fail("image_size", f"{size} px is not a multiple of backbone {name}'s {patch}-px patches; "
                                     f"allowed: {patch}, {2 * patch}, {3 * patch}, ...", spec)


def _devices(check: _Checker, where: Machine) -> None:
    for device, spec in check.each(lambda s: s.config.device):
        if device == "cuda" and where.gpus == 0:
            check.fail("device", f"'cuda' but {where.where} has no GPU; allowed here: auto, cpu", spec)


def _resources(check: _Checker, where: Machine) -> None:
    for resources, spec in check.each(lambda s: s.resources):
        if resources.cpu > where.cpus:
            check.problems.append(CheckError(
                check.grid.path, locate_resource(check.grid.source, "cpu"),
                f"{resources.cpu:g} CPUs per trial, but {where.where} has at most {where.cpus:g} on one node, so the "
                f"trial would wait forever; allowed: at most {where.cpus:g} (e.g. trial {spec.label})"))
        if where.gpus > 0 and resources.gpu > where.gpus:
            check.problems.append(CheckError(
                check.grid.path, locate_resource(check.grid.source, "gpu"),
                f"{resources.gpu:g} GPUs per trial, but {where.where} has at most {where.gpus:g} on one node; "
                f"allowed: 'auto' or at most {where.gpus:g} (e.g. trial {spec.label})"))


def _weights(check: _Checker) -> None:
    from trainers.backbone import WeightsError
    from trainers.weights import check_weights

    for (name, weights, size), spec in check.each(lambda s: (s.config.backbone, s.config.weights,
                                                             s.config.image_size)):
        try:
            check_weights(str(name), str(weights), int(size))
        except WeightsError as error:
            check.fail("weights", str(error), spec)


def _data(check: _Checker) -> None:
    from trainers.data import DataError, inspect

    classes: dict[tuple[str, str], int] = {}
    for (dataset, root), spec in check.each(lambda s: (s.config.dataset, s.config.data_root)):
        try:
            classes[(dataset, root)] = inspect(dataset, root)
        except DataError as error:
            check.fail("data_root", str(error), spec)
    for (dataset, root, tasks), spec in check.each(lambda s: (s.config.dataset, s.config.data_root, s.config.tasks)):
        count = classes.get((dataset, root))
        if count is not None and (tasks > count or count % tasks):
            divisors = ", ".join(str(d) for d in range(1, count + 1) if count % d == 0)
            check.fail("tasks", f"{tasks} tasks cannot split {dataset}'s {count} classes equally; "
                                f"allowed: a divisor of {count} ({divisors})", spec)


def find_problems(grid: Grid, trials: Sequence[TrialSpec], address: str | None) -> list[CheckError]:
    """Every problem the trials would meet (the first trial of each distinct combination)."""
    if not trials:
        return []
    check = _Checker(grid, trials)
    where = machine(address)
    _backbones(check)
    _devices(check, where)
    _resources(check, where)
    if not check.problems:  # weights and data take seconds: only for trials that could otherwise run
        _weights(check)
    _data(check)
    return check.problems


def check_trials(grid: Grid, trials: Sequence[TrialSpec], address: str | None) -> None:
    """Raise the first CheckError of `find_problems`."""
    problems = find_problems(grid, trials, address)
    if problems:
        raise problems[0]

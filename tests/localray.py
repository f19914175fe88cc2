"""A local Ray instance for a test module whose stand-in trials run in Ray's worker processes.

The workers cannot import a test module, so its functions travel by value (cloudpickle); and a
kill test's second driver is a process of its own, started from the test module's `drive`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, NoReturn

import ray
from ray import cloudpickle

from orchestrator.sweep.tune import start_ray

TESTS = Path(__file__).resolve().parent


@contextlib.contextmanager
def local_ray(module: str, num_cpus: int = 2) -> Iterator[None]:
    """Ray on this machine (no GPU) for the test module `module`, shut down afterwards."""
    cloudpickle.register_pickle_by_value(sys.modules[module])
    start_ray(None, num_cpus=num_cpus)
    try:
        yield
    finally:
        ray.shutdown()


def drive_grid(folder: str, variable: str, trial: Any, **options: Any) -> NoReturn:
    """A driver process of its own: `folder`/grid.yaml through `zfsweep run`'s path into the store named
    in `folder`/store, with `variable` (the test's shared folder, read by its stand-in) set first."""
    from orchestrator.commands import run_grid
    from orchestrator.sweep.options import SweepOptions

    os.environ[variable] = folder
    with local_ray(trial.__module__):
        ok = run_grid(str(Path(folder) / "grid.yaml"), SweepOptions(storage=str(Path(folder) / "ray"), **options),
                      tracking_uri=(Path(folder) / "store").read_text(), experiment=None, trial=trial)
    sys.exit(0 if ok else 1)


def start_driver(module: str, folder: Path, name: str) -> subprocess.Popen:
    """`module.drive(folder)` in a process group of its own (kill_group ends it and its Ray instance),
    its output in `folder`/`name`.log."""
    paths = [str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", f"import sys, {module} as t; t.drive(sys.argv[1])", str(folder)]
    return subprocess.Popen(command, cwd=folder, env=env, stdout=open(folder / f"{name}.log", "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)

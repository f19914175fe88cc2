"""Ray wiring shared by both ways trials run: start or join Ray, the cluster's slots, Tune's placement.

Each trial asks for its own CPUs and GPU fraction (orchestrator/grid/resources.py); Ray packs
fractional trials onto shared GPUs. A grid's trials run on orchestrator/sweep/dispatch.py's workers,
a searched grid's samples on Ray Tune (orchestrator/search/tuner.py, which takes `placement` and
`dirname` from here). MLflow is written only in the driver, by orchestrator/sweep/recorder.py.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

import ray
from ray._private import ray_constants
from ray._raylet import AuthenticationTokenLoader, Config
from ray.tune.execution.placement_groups import PlacementGroupFactory

import orchestrator
import trainers
from orchestrator.sweep.checkpoints import folder_name
from orchestrator.grid.expand import TrialSpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = "zfsweep-checkpoints"


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Join the cluster at `address`, or start a local Ray instance; trials can import this project.

    Does nothing when this process is already connected (the benchmark and tests start Ray first).
    """
    if ray.is_initialized():
        return
    # The legacy reporter honours verbose=0 (no trial table); orchestrator/sweep/progress.py prints ours.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # MLflow is the record: Ray's per-trial CSV/JSON/TensorBoard files would only cost time.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # Tune logs each failed attempt's traceback; the progress line already names the trial and the
    # error, and the traceback stays in the trial's error file under the storage path.
    logging.getLogger("ray.tune.execution.tune_controller").setLevel(logging.CRITICAL)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address is None:
        # Workers of a local instance inherit this environment; without a runtime_env of its own the
        # job can use the workers Ray starts at init, instead of booting new ones for the first trials.
        paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        private_local_instance()
        # "local": a new instance even where another Ray runs on this machine (ray.init() would join it).
        ray.init(address="local", num_cpus=num_cpus, **options)
    else:
        # Ship this checkout's code to every node, so workers run what the driver expanded.
        ray.init(address=address, **options, runtime_env={"py_modules": [orchestrator, trainers]})


def private_local_instance() -> None:
    """Make the local Ray instance about to start usable by this process and its workers only.

    Ray binds its servers to the node address; on Linux that is the machine's routable address
    unless Ray believes clusters are off (its RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER switch, read when
    Ray is imported, hence also set on the imported constant), in which case every port Ray
    opens listens on 127.0.0.1. Ray's token authentication is switched on with a fresh random
    token for this instance only, passed to Ray's processes in the environment (never written to
    ~/.ray/auth_token, which Ray would otherwise create and reuse for every local instance).
    tests/test_local_ray.py checks both: what listens where, and that a client without the
    token is refused.
    """
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
    Config.initialize("")  # Ray caches the mode it read from the environment
    AuthenticationTokenLoader.instance().reset_cache()  # a token cached by an earlier instance


def checkpoint_root(storage: Path, experiment: str) -> Path:
    return storage / CHECKPOINTS / folder_name(experiment)


def placement(params: dict[str, Any]) -> PlacementGroupFactory:
    """A Tune trial's resources, read from its params (orchestrator/sweep/trainable.py trial_params)."""
    wanted = {key: value for key, value in params["spec"]["resources"].items() if value > 0}
    return PlacementGroupFactory([wanted])


def dirname(trial: Any) -> str:
    """A Tune trial's folder: named by its config hash, as its checkpoint is."""
    return f"trial_{trial.config['spec']['hash']}"


def with_gpus() -> bool:
    return float(ray.cluster_resources().get("GPU", 0.0)) > 0


def cluster_slots(specs: list[TrialSpec], gpus: bool, max_concurrent: int | None) -> int:
    """How many of these trials the connected cluster can run at once (by the smallest request)."""
    total = ray.cluster_resources()
    cpu = min(s.resources.cpu for s in specs)
    slots = int(float(total.get("CPU", 1.0)) / cpu) if cpu > 0 else len(specs)
    gpu = min(s.resources.gpu for s in specs) if gpus else 0.0
    if gpu > 0:
        slots = min(slots, int(float(total.get("GPU", 0.0)) / gpu))
    return max(1, min(slots, max_concurrent or slots, len(specs)))

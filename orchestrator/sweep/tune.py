"""Ray Tune wiring: start or join Ray, per-trial resources, retries, and the Tuner around the trials.

Each trial asks for its own CPUs and GPU fraction (orchestrator/grid/resources.py); Ray packs
fractional trials onto shared GPUs. A trial that raises, runs out of memory or loses its worker
(or its whole node) is retried up to `max_failures` times by Ray's FailureConfig and resumes
from its hash-keyed checkpoint (orchestrator/sweep/checkpoints.py). MLflow is written only in this
process, by orchestrator/sweep/recorder.py.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray._private import ray_constants
from ray._raylet import AuthenticationTokenLoader, Config
from ray.tune.execution.placement_groups import PlacementGroupFactory

import orchestrator
import trainers
from orchestrator.sweep.checkpoints import CheckpointStore, folder_name
from orchestrator.grid.expand import TrialSpec
from orchestrator.store.outbox import OUTAGE_LIMIT_SECONDS, Outbox, TrackingUnreachable
from orchestrator.sweep.progress import LiveLine, SweepProgress
from orchestrator.sweep.recorder import Recorder, SweepOutcome
from orchestrator.sweep.trainable import TrialFunction, make_trainable, trial_params
from orchestrator.store.tracking import RunState, Tracker
from trainers.trial import run_trial

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
        ray.init(num_cpus=num_cpus, **options)
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


def _placement(params: dict[str, Any]) -> PlacementGroupFactory:
    wanted = {key: value for key, value in params["spec"]["resources"].items() if value > 0}
    return PlacementGroupFactory([wanted])


def _dirname(trial: Any) -> str:
    return f"trial_{trial.config['spec']['hash']}"


def run_sweep(specs: list[TrialSpec], tracker: Tracker, runs: dict[str, RunState], progress: SweepProgress,
              live: LiveLine, *, storage: Path, name: str, max_concurrent: int | None, max_failures: int,
              outage_limit: float = OUTAGE_LIMIT_SECONDS, trial: TrialFunction = run_trial) -> SweepOutcome:
    """Run `specs` on the connected Ray instance; returns which trials finished and which failed."""
    with_gpus = float(ray.cluster_resources().get("GPU", 0.0)) > 0
    store = CheckpointStore(checkpoint_root(storage, name))
    outbox = Outbox(tracker, outage_limit)
    recorder = Recorder(outbox, {s.config_hash: s for s in specs}, runs, store, progress, live, with_gpus)
    space = [trial_params(s.config_hash, s.config.to_dict(), store.root, s.resources.ray_request(with_gpus))
             for s in specs]
    tuner = tune.Tuner(
        tune.with_resources(make_trainable(trial), _placement),
        param_space={"spec": tune.grid_search(space)},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent, reuse_actors=True,
                                    trial_dirname_creator=_dirname),
        run_config=tune.RunConfig(
            name=folder_name(name), storage_path=str(storage), verbose=0, callbacks=[recorder],
            failure_config=tune.FailureConfig(max_failures=max_failures)),
    )
    try:
        tuner.fit()
    except Exception:
        if outbox.gave_up:  # raised in a Tune callback, which Tune may wrap
            raise TrackingUnreachable(outbox.gave_up) from None
        raise
    finally:
        recorder.interrupt_unfinished()
        live.close()
    # Trials that ended during an outage are recorded once the store is back (or the limit passes).
    outbox.drain(lambda: live.show(progress.counts(), force=True, note=outbox.status()))
    return recorder.outcome()

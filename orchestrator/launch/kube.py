"""`zfsweep kube`: the KubeRay RayJob (ray.io/v1) that runs a grid on a Kubernetes cluster.

deploy/rayjob.yaml is the template: a head pod that runs only the driver, one group of GPU
workers (`resources.limits["nvidia.com/gpu"]`), the same ReadWriteMany volume mounted in every
pod for the checkout, the data sets and the sweep's storage, `shutdownAfterJobFinishes` so the
Ray cluster goes away with the sweep, and KubeRay's token authentication (authOptions.mode:
token), the counterpart of the token `zfsweep run --address` uses elsewhere. KubeRay runs
`spec.entrypoint` as a Ray job on the head, where `--address auto` joins the cluster it started
(KubeRay docs: "RayJob Quickstart"). The job's working directory is Ray's, so every path in the
entrypoint is absolute, on the volume.
"""

from __future__ import annotations

import copy
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from orchestrator.grid.expand import Grid
from orchestrator.launch.shared import COMMAND_LINE, LaunchError

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "rayjob.yaml"
GPU = "nvidia.com/gpu"
MLFLOW_SERVICE = "http://mlflow:5000"  # deploy/mlflow.yaml's Service, in the RayJob's namespace


@dataclass(frozen=True)
class KubeJob:
    """What `zfsweep kube` fills into the template."""

    name: str
    grid: str  # the grid's path inside the pods
    run_args: tuple[str, ...]  # every other `zfsweep run` option, --tracking-uri and --storage-path included
    image: str
    workers: int
    gpus_per_worker: int
    cpus_per_worker: int
    memory_per_worker: str
    claim: str
    mount: str

    @property
    def entrypoint(self) -> str:
        return shlex.join(["zfsweep", "run", self.grid, "--address", "auto", *self.run_args])


def pod_path(mount: str, workdir: str, key: str, path: str) -> str:
    """`path` as the pods see it: absolute paths must lie on the volume, relative ones are under workdir."""
    joined = PurePosixPath(workdir) / path
    if not str(joined).startswith(mount.rstrip("/") + "/"):
        raise LaunchError(COMMAND_LINE, key, f"{path} is not on the volume every pod mounts at {mount}; allowed: "
                                             f"a path under {mount}, or relative to --workdir")
    return str(joined)


def check_data_roots(grid: Grid, mount: str) -> None:
    """A trial's data_root must be an absolute folder on the volume (the job's working directory is Ray's)."""
    from orchestrator.grid.checks import locate

    for root in sorted({spec.config.data_root for spec in grid.trials}):
        if not str(PurePosixPath(root)).startswith(mount.rstrip("/") + "/"):
            raise LaunchError(grid.path, locate(grid.source, "data_root"),
                              f"{root} is not on the volume every pod mounts at {mount} (the job's working "
                              f"directory is Ray's); allowed: a path under {mount}, e.g. --set data_root={mount}/data")


def _pod_spec(group: dict[str, Any], job: KubeJob) -> dict[str, Any]:
    spec = group["template"]["spec"]
    for container in spec["containers"]:
        container["image"] = job.image
        container["volumeMounts"] = [{"name": "shared", "mountPath": job.mount}]
    spec["volumes"] = [{"name": "shared", "persistentVolumeClaim": {"claimName": job.claim}}]
    return spec


def render_manifest(job: KubeJob, template: Path = TEMPLATE) -> dict[str, Any]:
    """The RayJob for `job`, from the template."""
    manifest = copy.deepcopy(yaml.safe_load(template.read_text()))
    manifest["metadata"]["name"] = job.name
    spec = manifest["spec"]
    spec["entrypoint"] = job.entrypoint
    cluster = spec["rayClusterSpec"]
    _pod_spec(cluster["headGroupSpec"], job)
    workers = cluster["workerGroupSpecs"][0]
    workers.update(replicas=job.workers, minReplicas=job.workers, maxReplicas=job.workers)
    container = _pod_spec(workers, job)["containers"][0]
    wanted = {"cpu": str(job.cpus_per_worker), "memory": job.memory_per_worker, GPU: str(job.gpus_per_worker)}
    container["resources"] = {"requests": dict(wanted), "limits": dict(wanted)}
    return manifest


def manifest_text(manifest: dict[str, Any], command: str) -> str:
    return f"# Written by: {command}\n" + yaml.safe_dump(manifest, sort_keys=False, width=120)

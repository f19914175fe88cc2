"""`zfsweep kube GRID --dry-run`: the rendered KubeRay RayJob has the fields the RayJob API
(ray.io/v1) defines, and its entrypoint is a `zfsweep run` command line that zfsweep accepts."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from orchestrator.cli import run

ROOT = Path(__file__).resolve().parents[1]
GRID = """
name: kube
fixed: {dataset: digits, method: aper, epochs: 1, tasks: 5}
axes:
  optimizer: [fo-sgd, zo-sgd]
"""


def zfsweep(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def render(tmp_path: Path, *args: str) -> dict:
    (tmp_path / "grid.yaml").write_text(GRID)
    shown = zfsweep("kube", "grid.yaml", "--mount", str(tmp_path), "--workdir", str(tmp_path), "--dry-run",
                    "--set", f"data_root={tmp_path / 'data'}", *args, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    return yaml.safe_load(shown.stdout)


def test_manifest_has_the_rayjob_fields(tmp_path: Path) -> None:
    job = render(tmp_path, "--workers", "3", "--gpus-per-worker", "4", "--image", "registry.example/zfsweep:1",
                 "--claim", "sweeps")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"] == "zfsweep-kube"
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["entrypoint"].startswith("zfsweep run ")
    cluster = spec["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    head = cluster["headGroupSpec"]["template"]["spec"]
    (workers,) = cluster["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == 3
    worker = workers["template"]["spec"]
    assert worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert "nvidia.com/gpu" not in head["containers"][0]["resources"]["limits"]  # the head runs the driver only
    for pod in (head, worker):
        assert pod["volumes"] == [{"name": "shared", "persistentVolumeClaim": {"claimName": "sweeps"}}]
        for container in pod["containers"]:
            assert container["image"] == "registry.example/zfsweep:1"
            assert container["volumeMounts"] == [{"name": "shared", "mountPath": str(tmp_path)}]


def test_entrypoint_is_a_run_command_zfsweep_accepts(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    job = render(tmp_path, "--tracking-uri", uri, "--retries", "1", "--max-concurrent", "2")
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:2] == ["zfsweep", "run"]
    parsed = run.make_context("run", words[2:]).params  # click's own parser of `zfsweep run`
    assert parsed["address"] == "auto" and parsed["grid"] == str(tmp_path / "grid.yaml")
    assert parsed["tracking_uri"] == uri and parsed["retries"] == 1 and parsed["max_concurrent"] == 2
    assert parsed["storage_path"] == str(tmp_path / "ray_results")
    # The same command with --dry-run, here (no Ray cluster here: without --address auto).
    at = words.index("--address")
    planned = zfsweep(*words[1:at], *words[at + 2:], "--dry-run", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.strip().splitlines()[-1] == "2 trials: 0 finished, 2 to run"


def test_paths_off_the_volume_are_refused(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    relative = zfsweep("kube", "grid.yaml", "--dry-run", cwd=tmp_path)
    assert relative.returncode == 2 and "'data_root': data is not on the volume" in relative.stderr
    outside = zfsweep("kube", "grid.yaml", "--dry-run", "--set", "data_root=/mnt/shared/data",
                      "--storage-path", "/scratch/results", cwd=tmp_path)
    assert outside.returncode == 2 and "'--storage-path': /scratch/results is not on the volume" in outside.stderr

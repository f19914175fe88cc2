"""The `zfsweep slurm` and `zfsweep kube` click commands; orchestrator/cli.py registers them.

Each takes GRID and every `zfsweep run` option (the same click options, copied from `run`, so
a new `run` option is accepted here at once) and hands those the user set to the `zfsweep run`
it starts. Before anything is written or submitted the grid goes through the checks that `zfsweep
run GRID --dry-run` starts with (orchestrator/grid/expand.py, --set, --experiment), then the cluster's
own needs (orchestrator/launch/shared.py): bad input is one line and exit code 2, as for `run`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from orchestrator.launch import kube, slurm
from orchestrator.launch.shared import check_grid_paths, check_token, command_line, passthrough

# `run` options a launcher sets itself: the script or manifest decides the address; --dry-run is the launcher's.
OWN = {"address", "dry_run", "tracking_uri", "storage_path"}


def _checked_grid(path: str, values: dict[str, Any]) -> tuple[Any, str]:
    """The grid and experiment name, through `zfsweep run --dry-run`'s own first checks."""
    from orchestrator.commands import load_grid  # a searched grid's cells are checked too
    from orchestrator.grid.schema import check_name
    from orchestrator.grid.overrides import parse_overrides

    overrides = parse_overrides(values["settings"])
    grid = load_grid(path, overrides)
    return grid, check_name(grid.path, "--experiment", values["experiment"] or grid.name)


def _run_params(run: click.Command) -> list[click.Parameter]:
    return [param for param in run.params if param.name not in {"grid", "address", "dry_run"}]


def slurm_command(run: click.Command) -> click.Command:
    def action(grid_path: str, nodes: int, gpus_per_node: int, cpus_per_node: int | None, partition: str | None,
               account: str | None, time: str | None, ports: int | None, join_timeout: int, dry_run: bool,
               **values: Any) -> None:
        from orchestrator.store.uri import resolve_tracking_uri

        grid, experiment = _checked_grid(grid_path, values)
        uri = resolve_tracking_uri(values["tracking_uri"])
        storage = Path(values["storage_path"]).resolve()
        check_grid_paths(grid, values["storage_path"], uri)
        slurm.check_ports(ports, nodes)
        check_token()
        run_args = (str(Path(grid_path).resolve()), "--tracking-uri", uri, "--storage-path", str(storage),
                    *passthrough(run, values, OWN))
        job = slurm.SlurmJob(experiment, run_args, nodes, gpus_per_node, Path.cwd(), storage, cpus_per_node,
                             partition, account, time, ports, join_timeout)
        script = slurm.render_script(job, command_line(["zfsweep", "slurm", *sys.argv[2:]]))
        if dry_run:
            click.echo(script, nl=False)
            return
        slurm.require_sbatch()
        storage.mkdir(parents=True, exist_ok=True)
        job.script_path.write_text(script)
        job_id = slurm.submit(job.script_path)
        status = ["zfsweep", "status", str(Path(grid_path).resolve()), "--tracking-uri", uri]
        status += passthrough(run, values, OWN | {"as_json", "verbose", "gpus", "max_concurrent", "retries",
                                                  "outage_limit"})
        click.echo(f"submitted SLURM job {job_id}: {job.script_path}")
        click.echo(f"log: {job.log_path(job_id)}")
        click.echo(f"follow: {command_line(status)}")

    params = [
        click.Argument(["grid_path"], metavar="GRID"),
        click.Option(["--nodes"], type=click.IntRange(min=1), required=True, help="nodes of the allocation"),
        click.Option(["--gpus-per-node"], type=click.IntRange(min=0), required=True, help="GPUs of each node"),
        click.Option(["--cpus-per-node"], type=click.IntRange(min=1),
                     help="CPUs of each node (default: what SLURM grants)"),
        click.Option(["--partition"], help="SLURM partition"),
        click.Option(["--account"], help="SLURM account"),
        click.Option(["--time"], help="SLURM time limit, e.g. 24:00:00"),
        click.Option(["--ports"], type=int, metavar="BASE",
                     help="nodes shared with other users: Ray on explicit ports from BASE on (see docs/clusters.md)"),
        click.Option(["--join-timeout"], type=click.IntRange(min=1), default=slurm.JOIN_TIMEOUT, show_default=True,
                     help="seconds to wait for every node's GPUs to join before the sweep starts"),
        click.Option(["--dry-run"], is_flag=True, help="print the sbatch script; submit nothing"),
        *_run_params(run),
    ]
    return click.Command("slurm", callback=action, params=params,
                         help="Run GRID on a SLURM allocation: write an sbatch script and submit it.")


def kube_command(run: click.Command) -> click.Command:
    def action(grid_path: str, image: str, workers: int, gpus_per_worker: int, cpus_per_worker: int,
               memory_per_worker: str, claim: str, mount: str, workdir: str, name: str | None, out: str | None,
               dry_run: bool, **values: Any) -> None:
        grid, experiment = _checked_grid(grid_path, values)
        kube.check_data_roots(grid, mount)
        storage = kube.pod_path(mount, workdir, "--storage-path", values["storage_path"])
        uri = values["tracking_uri"] or kube.MLFLOW_SERVICE
        if uri.startswith("sqlite:///"):  # an SQLite store on the volume, written by the driver only
            uri = "sqlite:///" + kube.pod_path(mount, workdir, "--tracking-uri", uri[len("sqlite:///"):])
        run_args = ("--tracking-uri", uri, "--storage-path", storage, *passthrough(run, values, OWN))
        job = kube.KubeJob(name or f"zfsweep-{experiment}".lower().replace("_", "-"),
                           kube.pod_path(mount, workdir, "GRID", grid_path), run_args, image, workers,
                           gpus_per_worker, cpus_per_worker, memory_per_worker, claim, mount)
        text = kube.manifest_text(kube.render_manifest(job), command_line(["zfsweep", "kube", *sys.argv[2:]]))
        if dry_run:
            click.echo(text, nl=False)
            return
        target = Path(out or f"{job.name}.rayjob.yaml")
        target.write_text(text)
        click.echo(f"wrote {target}; start it with: kubectl apply -f {target}")

    params = [
        click.Argument(["grid_path"], metavar="GRID"),
        click.Option(["--image"], default="zfsweep:latest", show_default=True, help="image with zfsweep installed"),
        click.Option(["--workers"], type=click.IntRange(min=1), default=1, show_default=True, help="GPU worker pods"),
        click.Option(["--gpus-per-worker"], type=click.IntRange(min=0), default=1, show_default=True),
        click.Option(["--cpus-per-worker"], type=click.IntRange(min=1), default=8, show_default=True),
        click.Option(["--memory-per-worker"], default="64Gi", show_default=True),
        click.Option(["--claim"], default="zfsweep-shared", show_default=True,
                     help="ReadWriteMany PersistentVolumeClaim mounted in every pod"),
        click.Option(["--mount"], default="/mnt/shared", show_default=True, help="where the pods mount the claim"),
        click.Option(["--workdir"], default="/mnt/shared/zfsweep", show_default=True,
                     help="the zfsweep checkout on the volume: GRID and relative paths are read from there"),
        click.Option(["--name"], help="the RayJob's name (default: zfsweep-EXPERIMENT)"),
        click.Option(["--out"], help="manifest file (default: NAME.rayjob.yaml)"),
        click.Option(["--dry-run"], is_flag=True, help="print the manifest; write nothing"),
        *_run_params(run),
    ]
    return click.Command("kube", callback=action, params=params,
                         help="Run GRID on Kubernetes: write the KubeRay RayJob manifest (deploy/rayjob.yaml).")


def launch_commands(run: click.Command) -> list[click.Command]:
    return [slurm_command(run), kube_command(run)]

"""`zfsweep slurm`: one sbatch script that brings Ray up across a SLURM allocation and runs the sweep.

The script follows Ray's SLURM guide (docs.ray.io, "Deploying on Slurm", Ray >= 2.49): one `srun`
task per node runs `ray symmetric-run --address HEAD:PORT --min-nodes N --num-cpus C --num-gpus
G -- ENTRYPOINT`, which starts the head on the first node and a worker on each other node, runs
the entrypoint on the head only and stops Ray afterwards. CPUs and GPUs are passed explicitly so
that Ray takes only what SLURM granted. The guide notes that symmetric-run does not yet work
where several users share nodes, and that each user then needs ports of their own: with
`--ports BASE` the head (`ray start --head ... --block &`) and the workers are started as
background steps on explicit ports (PORT_LAYOUT), and stopped by ending those steps, never by
`ray stop` (which would stop every Ray instance on the node).

The entrypoint is orchestrator/launch/driver.py: it waits until every node and its GPUs have
joined, then runs `zfsweep run GRID --address HEAD:PORT` unbuffered (`python -u`), the same
driver as on any Ray cluster, with the token as there (RAY_AUTH_MODE=token; the token from
RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, exported with the job).
"""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from orchestrator.launch.shared import COMMAND_LINE, LaunchError

OPEN_FILES = 65536  # Ray's guide asks for `ulimit -n 65536` on every node
HEAD_PORT = 6379  # the GCS port of the symmetric form (Ray's default)
JOIN_TIMEOUT = 600  # seconds to wait for every node's GPUs before giving up
# --ports BASE: head-only ports at BASE + offset; node i of the job gets BASE + NODE_BLOCK * (i + 1)
# + offset for its own services and the rest of its block for its workers, so that two tenants
# (different BASE) and even two nodes of one job on the same host never ask for the same port.
NODE_BLOCK = 1000
HEAD_PORTS = (("--port", 0), ("--ray-client-server-port", 1), ("--dashboard-port", 2))
NODE_PORTS = (("--node-manager-port", 0), ("--object-manager-port", 1), ("--runtime-env-agent-port", 2),
              ("--dashboard-agent-grpc-port", 3), ("--dashboard-agent-listen-port", 4),
              ("--metrics-export-port", 5), ("--min-worker-port", 10), ("--max-worker-port", NODE_BLOCK - 1))


@dataclass(frozen=True)
class SlurmJob:
    """What `zfsweep slurm` asks SLURM for, and the `zfsweep run` arguments the driver gets."""

    experiment: str
    run_args: tuple[str, ...]  # GRID and every `zfsweep run` option but --address
    nodes: int
    gpus_per_node: int
    workdir: Path
    storage: Path
    cpus_per_node: int | None = None
    partition: str | None = None
    account: str | None = None
    time: str | None = None
    ports: int | None = None
    join_timeout: int = JOIN_TIMEOUT
    python: str = sys.executable

    @property
    def script_path(self) -> Path:
        return self.storage / f"{self.experiment}.sbatch"

    @property
    def log_pattern(self) -> Path:
        return self.storage / f"{self.experiment}-%j.log"

    def log_path(self, job_id: str) -> Path:
        return self.storage / f"{self.experiment}-{job_id}.log"


def check_ports(base: int | None, nodes: int) -> None:
    if base is not None and not 1024 <= base <= 65535 - NODE_BLOCK * (nodes + 1):
        raise LaunchError(COMMAND_LINE, "--ports", f"{nodes} node(s) need ports BASE..BASE+{NODE_BLOCK * (nodes + 1) - 1}; "
                                                   f"allowed: 1024..{65535 - NODE_BLOCK * (nodes + 1)}, got {base}")


def _directives(job: SlurmJob) -> list[str]:
    wanted = [("job-name", f"zfsweep-{job.experiment}"), ("nodes", str(job.nodes)), ("ntasks-per-node", "1"),
              ("cpus-per-task", job.cpus_per_node), ("gpus-per-node", job.gpus_per_node or None),
              ("partition", job.partition), ("account", job.account), ("time", job.time),
              ("output", str(job.log_pattern)), ("chdir", str(job.workdir))]
    return [f"#SBATCH --{key}={value}" for key, value in wanted if value is not None]


def _entrypoint(job: SlurmJob) -> str:
    driver = [job.python, "-u", "-m", "orchestrator.launch.driver", "--nodes", str(job.nodes),
              "--gpus-per-node", str(job.gpus_per_node), "--timeout", str(job.join_timeout), "--address"]
    return f'{shlex.join(driver)} "$address" -- run {shlex.join(job.run_args)} --address "$address"'


def _symmetric(job: SlurmJob) -> list[str]:
    return [
        f'address="$head_ip:{HEAD_PORT}"',
        f"export RAY_SYMMETRIC_RUN_CLUSTER_WAIT_TIMEOUT={job.join_timeout}",
        'srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 \\',
        '    ray symmetric-run --address "$address" --min-nodes "$SLURM_JOB_NUM_NODES" \\',
        f'    --num-cpus="$cpus" --num-gpus={job.gpus_per_node} -- \\',
        f"    {_entrypoint(job)}",
    ]


def _head_ports() -> tuple[tuple[str, int], ...]:
    """HEAD_PORTS, less the Ray Client server where its package (grpc) is missing: Ray starts none
    then, and refuses a port for it."""
    client = importlib.util.find_spec("grpc") is not None
    return tuple((flag, offset) for flag, offset in HEAD_PORTS if client or flag != "--ray-client-server-port")


def _multi_tenant(job: SlurmJob, base: int) -> list[str]:
    head = " ".join(f"{flag}={base + offset}" for flag, offset in _head_ports())
    node = " ".join(f'{flag}=$((block + {offset}))' for flag, offset in NODE_PORTS)
    return [
        f'address="$head_ip:{base}"',
        "# One Ray node per srun task; its ports come from its node's index in the job (SLURM_NODEID counts",
        "# within a step), its temporary folder is the job's own (another user's /tmp/ray is not writable).",
        "ray_node() {",
        "    local index=0 name",
        '    for name in $node_names; do [ "$name" = "$SLURMD_NODENAME" ] && break; index=$((index + 1)); done',
        f"    local block=$(({base} + {NODE_BLOCK} * (index + 1)))",
        f'    exec ray start --block --num-cpus="$cpus" --num-gpus={job.gpus_per_node} {node} \\',
        '        --temp-dir="/tmp/ray-$SLURM_JOB_ID-$index" "$@"',
        "}",
        "export -f ray_node",
        'export cpus address head_ip node_names="${nodes[*]}"',
        'srun --nodes=1 --ntasks=1 -w "$head_node" bash -c \\',
        f"    'ray_node --head --node-ip-address=\"$head_ip\" {head}' &",
        "steps=($!)",
        'if [ "$SLURM_JOB_NUM_NODES" -gt 1 ]; then',
        '    srun --nodes=$((SLURM_JOB_NUM_NODES - 1)) --ntasks=$((SLURM_JOB_NUM_NODES - 1)) --ntasks-per-node=1 \\',
        "        --exclude=\"$head_node\" bash -c 'ray_node --address=\"$address\"' &",
        "    steps+=($!)",
        "fi",
        "status=0",
        f"{_entrypoint(job)} || status=$?",
        'kill "${steps[@]}" 2>/dev/null || true  # srun passes the signal on: each `ray start --block` stops its node',
        'wait "${steps[@]}" 2>/dev/null || true',
        'exit "$status"',
    ]


def render_script(job: SlurmJob, command: str) -> str:
    """The sbatch script: SLURM directives, the environment Ray needs, then Ray and the sweep."""
    lines = ["#!/bin/bash", *_directives(job), f"# Written by: {command}", "set -euo pipefail",
             f"export PATH={shlex.quote(str(Path(job.python).parent))}:\"$PATH\"  # ray, zfsweep and python of the submitter",
             "export RAY_AUTH_MODE=token  # the Ray token, as for `zfsweep run --address`",
             "export PYTHONUNBUFFERED=1",
             f'ulimit -n {OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"  # srun hands the limit to every task',
             'nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))',
             'head_node="${nodes[0]}"',
             'head_ip=$(srun --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address | awk \'{print $1}\')',
             'cpus="${SLURM_CPUS_PER_TASK:-$SLURM_CPUS_ON_NODE}"',
             f'echo "zfsweep: Ray head on $head_node ($head_ip), $SLURM_JOB_NUM_NODES node(s) with $cpus CPUs and '
             f'{job.gpus_per_node} GPUs each"']
    body = _symmetric(job) if job.ports is None else _multi_tenant(job, job.ports)
    return "\n".join(lines + body) + "\n"


def require_sbatch() -> None:
    if shutil.which("sbatch") is None:
        raise LaunchError(COMMAND_LINE, "sbatch", "not on PATH: run `zfsweep slurm` where SLURM's commands are "
                                                  "(a login node)")


def submit(script: Path) -> str:
    """`sbatch` the script; the job id."""
    done = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        reason = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
        raise LaunchError(str(script), "sbatch", f"refused: {reason}")
    return done.stdout.strip().split(";")[0]

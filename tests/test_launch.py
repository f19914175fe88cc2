"""`zfsweep slurm --dry-run` without a SLURM cluster: the sbatch script it prints is valid bash, asks
SLURM and Ray for what was given, hands every `zfsweep run` option to the `zfsweep run` inside it,
and refuses node-local storage in one line (the real submissions: tests/test_slurm.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import click
import pytest

from orchestrator.cli import run
from sharedfolder import shared_scratch

ROOT = Path(__file__).resolve().parents[1]
GRID = "name: launch\nfixed: {dataset: digits, method: aper, epochs: 1, tasks: 5}\naxes:\n  optimizer: [fo-sgd, zo-sgd]\n"
LAUNCHER_SET = {"grid", "address", "dry_run"}  # `run` parameters the launcher decides itself


@pytest.fixture()
def folder() -> Iterator[Path]:
    path = shared_scratch("launch-")  # not under /tmp, which zfsweep slurm refuses
    (path / "grid.yaml").write_text(GRID)
    (path / "ray_token").write_text("test-token")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def slurm_dry_run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "RAY_AUTH_TOKEN_PATH": str(folder / "ray_token")}
    return subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", "slurm", "grid.yaml",
                           "--dry-run", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def sample(param: click.Option, folder: Path) -> tuple[list[str], Any]:
    """Arguments that set `param` away from its default, and the value `zfsweep run` should parse."""
    flag = param.opts[0]
    if param.is_flag:
        return [flag], True
    if param.multiple:
        return [flag, "seed=3"], ("seed=3",)
    if param.name == "storage_path":
        return [flag, "results"], str(folder / "results")
    if param.name == "tracking_uri":
        return [flag, f"sqlite:///{folder / 'store.db'}"], f"sqlite:///{folder / 'store.db'}"
    kind = {click.INT.name: 7, click.FLOAT.name: 5.5, "integer range": 7, "float range": 5.5}.get(param.type.name)
    value = kind if kind is not None else "value1"
    return [flag, str(value)], value


def driver_command(script: str) -> list[str]:
    line = next(line for line in script.splitlines() if "orchestrator.launch.driver" in line)
    words = shlex.split(line.replace('"$address"', "HEAD:6379"))
    return words[words.index("--") + 1:]


def test_every_run_option_reaches_the_run_in_the_script(folder: Path) -> None:
    options = [p for p in run.params if isinstance(p, click.Option) and p.name not in LAUNCHER_SET]
    args, expected = [], {}
    for param in options:
        given, value = sample(param, folder)
        args += given
        expected[param.name] = value
    shown = slurm_dry_run(folder, "--nodes", "2", "--gpus-per-node", "4", *args)
    assert shown.returncode == 0, shown.stderr
    command = driver_command(shown.stdout)
    assert command[0] == "run"
    parsed = run.make_context("run", command[1:]).params
    assert parsed["grid"] == str(folder / "grid.yaml") and parsed["address"] == "HEAD:6379"
    assert {name: parsed[name] for name in expected} == expected


def test_symmetric_script_passes_what_slurm_granted(folder: Path) -> None:
    shown = slurm_dry_run(folder, "--nodes", "3", "--gpus-per-node", "2", "--cpus-per-node", "16",
                          "--partition", "gpu", "--account", "lab", "--time", "12:00:00")
    assert shown.returncode == 0, shown.stderr
    script = shown.stdout
    for directive in ("--nodes=3", "--ntasks-per-node=1", "--cpus-per-task=16", "--gpus-per-node=2",
                      "--partition=gpu", "--account=lab", "--time=12:00:00", f"--chdir={folder}",
                      f"--output={folder / 'ray_results' / 'launch-%j.log'}"):
        assert f"#SBATCH {directive}\n" in script
    assert 'ray symmetric-run --address "$address" --min-nodes "$SLURM_JOB_NUM_NODES"' in script
    assert '--num-cpus="$cpus" --num-gpus=2 --' in script and "-u -m orchestrator.launch.driver" in script
    assert "export RAY_AUTH_MODE=token" in script and "ulimit -n 65536" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_multi_tenant_script_uses_explicit_ports_and_no_ray_stop(folder: Path) -> None:
    shown = slurm_dry_run(folder, "--nodes", "2", "--gpus-per-node", "1", "--ports", "30000")
    assert shown.returncode == 0, shown.stderr
    script = shown.stdout
    assert "symmetric-run" not in script and "ray stop" not in script
    assert "--port=30000" in script and 'address="$head_ip:30000"' in script
    for flag in ("--node-manager-port", "--object-manager-port", "--min-worker-port", "--max-worker-port"):
        assert flag in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--storage-path", "/tmp/results"], "command line: '--storage-path': /tmp/results is under /tmp"),
    (["--set", "data_root=/dev/shm/data"], "'fixed.data_root': /dev/shm/data is under /dev/shm"),
    (["--tracking-uri", "sqlite:////var/tmp/m.db"], "'--tracking-uri': /var/tmp/m.db is under /var/tmp"),
    (["--ports", "65000"], "'--ports': 1 node(s) need ports BASE..BASE+1999"),
])
def test_node_local_storage_and_bad_ports_are_one_line(folder: Path, args: list[str], message: str) -> None:
    refused = slurm_dry_run(folder, "--nodes", "1", "--gpus-per-node", "0", *args)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    assert message in refused.stderr


def driver(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.launch.driver", *args, "--", "run", "grid.yaml"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_driver_gives_up_in_one_line_when_no_head_answers() -> None:
    from servers import free_port

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    given_up = driver("--address", f"127.0.0.1:{free_port()}", "--nodes", "1", "--timeout", "3", env=env)
    assert given_up.returncode == 1 and len(given_up.stderr.splitlines()) == 1
    assert given_up.stderr.startswith("error: after 3 s no Ray head answers at 127.0.0.1:")


def test_driver_gives_up_in_one_line_when_nodes_are_missing(tmp_path: Path) -> None:
    from test_cluster import port_open, ray_node
    from servers import free_port, kill_group, wait_for

    (tmp_path / "token").write_text("a" * 64)
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_AUTH_TOKEN", "RAY_ADDRESS")}
    env.update(PYTHONPATH=str(ROOT), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(tmp_path / "token"))
    port, temp = free_port(), Path(tempfile.mkdtemp(prefix="zfl-"))  # Ray's socket paths must stay short
    head = subprocess.Popen(ray_node(temp, port, head=True), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: port_open(port), "the Ray head")
        given_up = driver("--address", f"127.0.0.1:{port}", "--nodes", "2", "--gpus-per-node", "1", "--timeout", "5",
                          env=env)
    finally:
        kill_group(head)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)
    assert given_up.returncode == 1, given_up.stderr
    assert given_up.stderr.splitlines()[-1] == (f"error: after 5 s only 1 of 2 nodes and 0 of 2 GPUs had joined the Ray "
                                                f"cluster at 127.0.0.1:{port}: see the nodes' lines in this job's log")

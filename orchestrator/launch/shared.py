"""What a sweep on several nodes needs before it is submitted, checked on the submitting machine.

Every node reads the grid's `data_root` and writes `--storage-path` (Ray results, per-trial
checkpoints that a retried trial reads on whichever node it lands) and the driver writes an
SQLite store: all three must be on storage every node mounts at the same path. A folder under a
node's own temporary space cannot be, so it is refused in one line before anything is submitted.
The Ray token is the one `zfsweep run --address` uses (Ray's RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH
or ~/.ray/auth_token); its absence is refused too, since nodes started without it cannot join.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import click

from orchestrator.grid.checks import locate
from orchestrator.grid.expand import Grid
from orchestrator.grid.schema import GridError

NODE_LOCAL = ("/tmp", "/var/tmp", "/dev/shm", "/run")  # each node's own disk or memory, never shared
TOKEN_HELP = "create it once with `ray get-auth-token --generate` (docs/internals.md: On a Ray cluster)"


COMMAND_LINE = "command line"  # where an option's error comes from, in place of a grid file's path


class LaunchError(GridError):
    """A sweep that cannot run on a cluster as asked; one line: where, the option or key, what is allowed."""


def node_local_root(path: Path) -> str | None:
    """The node-local folder `path` lies under (NODE_LOCAL, or this machine's temporary folder), if any."""
    roots = {*NODE_LOCAL, tempfile.gettempdir(), os.environ.get("TMPDIR") or "/tmp"}
    resolved = path.resolve()
    for root in sorted(roots):
        real = Path(root).resolve()
        if resolved == real or real in resolved.parents:
            return root
    return None


def check_shared(where: str, key: str, path: str) -> None:
    """Refuse `path` (relative: to the working directory every node starts in) on a node's local disk."""
    root = node_local_root(Path(path))
    if root is not None:
        raise LaunchError(where, key, f"{path} is under {root}, which each node has for itself; allowed: a "
                                      "folder on storage every node mounts (NFS, Lustre, GPFS...)")


def check_grid_paths(grid: Grid, storage_path: str, tracking_uri: str) -> None:
    """--storage-path, an SQLite store and every trial's data_root must be on shared storage."""
    check_shared(COMMAND_LINE, "--storage-path", storage_path)
    if tracking_uri.startswith("sqlite:///"):
        check_shared(COMMAND_LINE, "--tracking-uri", tracking_uri[len("sqlite:///"):])
    for root in sorted({spec.config.data_root for spec in grid.trials}):
        check_shared(grid.path, locate(grid.source, "data_root"), root)


def check_token() -> None:
    """The Ray token every node and the driver present, found where Ray looks for it."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if os.environ.get("RAY_AUTH_TOKEN") or Path(path or Path.home() / ".ray" / "auth_token").is_file():
        return
    where = f"RAY_AUTH_TOKEN_PATH={path}" if path else "~/.ray/auth_token"
    raise LaunchError("Ray token", where, f"no such file: {TOKEN_HELP}")


def passthrough(command: click.Command, values: Mapping[str, Any], skip: Iterable[str]) -> list[str]:
    """The `command` flags that `values` set away from their defaults, as arguments to pass on.

    Used to hand every `zfsweep run` option given to a launcher to the `zfsweep run` it starts.
    """
    args: list[str] = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in skip or param.name not in values:
            continue
        value, flag = values[param.name], param.opts[0]
        if param.is_flag:
            args += [flag] if value else []
        elif param.multiple:
            for item in value:
                args += [flag, str(item)]
        elif value is not None and value != param.default:
            args += [flag, str(value)]
    return args


def command_line(args: Iterable[str]) -> str:
    return shlex.join(list(args))

"""The entrypoint a launcher runs on the Ray head: wait for every node, then `zfsweep run`.

`python -u -m orchestrator.launch.driver --address A --nodes N --gpus-per-node G --timeout T --
run GRID ...` waits until N nodes with N x G GPUs have joined the Ray cluster at A (a sweep
started early would plan its trials without the late nodes' GPUs), then runs the rest of the
command line as `zfsweep ...` in this process. If they never join it prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

POLL_SECONDS = 2.0


def joined(address: str) -> tuple[int, float]:
    """Alive nodes and their GPUs, as the cluster at `address` reports them."""
    import ray

    nodes = [node for node in ray.nodes() if node["Alive"]]
    return len(nodes), sum(float(node["Resources"].get("GPU", 0.0)) for node in nodes)


def head_answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return True
    except OSError:
        return False


def wait_for_nodes(address: str, nodes: int, gpus_per_node: int, timeout: float) -> str | None:
    """None once every node and GPU has joined; else the line that says what is missing."""
    deadline = time.monotonic() + timeout
    while not head_answers(address):  # Ray's own connect would retry for minutes
        if time.monotonic() > deadline:
            return f"after {timeout:g} s no Ray head answers at {address}: see the head node's lines in this job's log"
        time.sleep(POLL_SECONDS)
    import ray

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        while True:
            count, gpus = joined(address)
            if count >= nodes and gpus >= nodes * gpus_per_node:
                return None
            if time.monotonic() > deadline:
                return (f"after {timeout:g} s only {count} of {nodes} nodes and {gpus:g} of {nodes * gpus_per_node} "
                        f"GPUs had joined the Ray cluster at {address}: see the nodes' lines in this job's log")
            time.sleep(POLL_SECONDS)
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.launch.driver", description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--gpus-per-node", type=int, default=0)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the zfsweep command line")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    missing = wait_for_nodes(args.address, args.nodes, args.gpus_per_node, args.timeout)
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr)
        sys.exit(1)
    from orchestrator.cli import main as zfsweep

    zfsweep(args=command, prog_name="zfsweep")


if __name__ == "__main__":
    main()

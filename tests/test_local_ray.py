"""A local Ray instance started by `zfsweep run` is private: every port it opens listens on
127.0.0.1, and it requires a token of its own, so a client without that token is refused
(a client with it connects, so the refusal is the token's doing)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from typing import Iterator

import psutil
import pytest
import ray

from orchestrator.sweep.tune import start_ray

CONNECT = "import ray; ray.init(address=%r, logging_level='ERROR'); print('connected', ray.cluster_resources()['CPU'])"


@pytest.fixture(scope="module")
def local_instance() -> Iterator[str]:
    if ray.is_initialized():
        ray.shutdown()
    start_ray(None, num_cpus=1)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def listening_addresses() -> set[str]:
    """Addresses that this process or any process it started listens on."""
    me = psutil.Process()
    found = set()
    for process in [me, *me.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:
            continue
        found |= {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def connect(address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CONNECT % address], env=env, capture_output=True, text=True,
                          timeout=180)


def test_every_port_of_a_local_instance_listens_on_loopback_only(local_instance: str) -> None:
    addresses = listening_addresses()
    assert addresses, "no listening socket found"
    assert all(loopback(a) for a in addresses), addresses
    assert local_instance.startswith("127.0.0.1:")


def test_a_client_without_the_instances_token_is_refused(local_instance: str) -> None:
    token = os.environ["RAY_AUTH_TOKEN"]
    assert len(token) == 64 and os.environ["RAY_AUTH_MODE"] == "token"
    stranger = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    refused = connect(local_instance, stranger)
    assert refused.returncode != 0 and "connected" not in refused.stdout
    assert "token" in refused.stderr.lower()
    holder = connect(local_instance, {**stranger, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    assert holder.returncode == 0 and "connected 1.0" in holder.stdout, holder.stderr[-2000:]


def test_each_local_instance_gets_a_fresh_token(local_instance: str) -> None:
    first = os.environ["RAY_AUTH_TOKEN"]
    ray.shutdown()
    start_ray(None, num_cpus=1)
    assert os.environ["RAY_AUTH_TOKEN"] != first
    assert all(loopback(a) for a in listening_addresses())

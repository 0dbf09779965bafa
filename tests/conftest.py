"""Shared fixtures: real server processes and real drivers.

`server` is one node for the whole session (tests use their own keyspaces); `node_factory` makes
fresh nodes for tests that stop, kill or restart them. Sessions use the stock cassandra-driver
with the asyncio reactor (libev is its default on 3.11; asyncio keeps one reactor everywhere).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import ServerProcess

_counter = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    node = ServerProcess(tmp_path_factory.mktemp("node"), extra_args=["--commitlog-sync", "batch", "--smp", "2"]).start()
    yield node
    if node.proc is not None:
        code = node.stop()
        assert code == 0, node.log()[-5000:]


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    nodes: list[ServerProcess] = []

    def make(*extra: str) -> ServerProcess:
        node = ServerProcess(tmp_path / f"node{len(nodes)}", extra_args=list(extra))
        nodes.append(node)
        return node.start()

    yield make
    for n in nodes:
        n.kill()


def unique_keyspace(prefix: str = "ks") -> str:
    return f"{prefix}_{next(_counter)}"


@pytest.fixture
def cluster(server: ServerProcess) -> Iterator[object]:
    from cassandra.cluster import Cluster
    from cassandra.io.asyncioreactor import AsyncioConnection

    c = Cluster([server.host], port=server.cql_port, connection_class=AsyncioConnection, protocol_version=4)
    yield c
    c.shutdown()


@pytest.fixture
def session(cluster: object) -> Iterator[object]:
    from cassandra.cluster import Cluster

    assert isinstance(cluster, Cluster)
    s = cluster.connect()
    yield s

"""Acknowledged writes survive `kill -9` (commitlog_sync batch) and clean restarts; SIGTERM drains
and exits 0; the REST API flushes and compacts what the node holds."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

from cassandra.cluster import Cluster
from cassandra.io.asyncioreactor import AsyncioConnection
from cassandra.query import SimpleStatement

from tests.harness import ServerProcess


def _connect(node: ServerProcess) -> tuple[Cluster, object]:
    c = Cluster([node.host], port=node.cql_port, connection_class=AsyncioConnection, protocol_version=4)
    return c, c.connect()


def _rest(node: ServerProcess, method: str, path: str) -> object:
    req = urllib.request.Request(f"http://{node.host}:{node.api_port}{path}", method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def _write_rows(session: object, ks: str, start: int, count: int) -> None:
    ps = session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")  # type: ignore[attr-defined]
    for i in range(start, start + count):
        session.execute(ps, (i % 7, i, f"value-{i}"))  # type: ignore[attr-defined]


def _read_all(session: object, ks: str) -> dict[int, str]:
    rows = session.execute(SimpleStatement(f"SELECT c, v FROM {ks}.t", fetch_size=100))  # type: ignore[attr-defined]
    return {r.c: r.v for r in rows}


def test_acknowledged_writes_survive_kill_9(node_factory: Callable[..., ServerProcess]) -> None:
    node = node_factory("--commitlog-sync", "batch")
    c, s = _connect(node)
    s.execute("CREATE KEYSPACE d WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")  # type: ignore[attr-defined]
    s.execute("CREATE TABLE d.t (k int, c int, v text, PRIMARY KEY (k, c))")  # type: ignore[attr-defined]
    _write_rows(s, "d", 0, 300)
    c.shutdown()
    node.kill()  # SIGKILL: no flush, no goodbye
    node.start()
    c, s = _connect(node)
    got = _read_all(s, "d")
    assert got == {i: f"value-{i}" for i in range(300)}
    # Data flushed to sstables and data still in the commitlog both survive another kill.
    _rest(node, "POST", "/storage_service/keyspace_flush/d")
    _write_rows(s, "d", 300, 50)
    c.shutdown()
    node.kill()
    node.start()
    c, s = _connect(node)
    assert _read_all(s, "d") == {i: f"value-{i}" for i in range(350)}
    c.shutdown()


def test_clean_restart_and_rest_api(node_factory: Callable[..., ServerProcess]) -> None:
    node = node_factory()
    c, s = _connect(node)
    s.execute("CREATE KEYSPACE r WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")  # type: ignore[attr-defined]
    s.execute("CREATE TABLE r.t (k int, c int, v text, PRIMARY KEY (k, c))")  # type: ignore[attr-defined]
    _write_rows(s, "r", 0, 200)
    host_id = _rest(node, "GET", "/storage_service/hostid/local")
    local = s.execute("SELECT host_id FROM system.local WHERE key = 'local'").one()  # type: ignore[attr-defined]
    assert str(local.host_id) == host_id
    _rest(node, "POST", "/storage_service/keyspace_flush/r?cf=t")
    _write_rows(s, "r", 200, 100)
    _rest(node, "POST", "/storage_service/flush")
    _rest(node, "POST", "/storage_service/keyspace_compaction/r")
    assert _read_all(s, "r") == {i: f"value-{i}" for i in range(300)}
    c.shutdown()
    assert node.stop() == 0  # SIGTERM drains and exits cleanly
    assert "stopped cleanly" in node.log()
    node.start()
    c, s = _connect(node)
    assert _read_all(s, "r") == {i: f"value-{i}" for i in range(300)}
    assert str(s.execute("SELECT host_id FROM system.local WHERE key = 'local'").one().host_id) == host_id  # type: ignore[attr-defined]
    c.shutdown()

"""`scylla-py stress` end to end: the real command against real nodes, checked with the stock
cassandra-driver; plus the pure parts it is built from (histogram, tablet router, source ports,
option parsing)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.protocol import encode_tablets_routing_v1
from cql.protocol.client import decode_tablets_routing_v1
from scylla_py.stress.config import StressConfig, parse_duration_s, parse_ratio
from scylla_py.stress.histogram import LatencyHistogram
from scylla_py.stress.routing import SOURCE_PORT_MAX, SOURCE_PORT_MIN, TabletRouter, source_ports
from tests.conftest import unique_keyspace
from tests.harness import ServerProcess, free_port
from topology.tablets import shard_of_token

ROWS = 1500


def stress(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scylla_py", "stress", *args],
                          capture_output=True, text=True, timeout=timeout_s)


def run_json(tmp_path: Path, node: ServerProcess, *args: str, expect: int = 0) -> dict[str, Any]:
    out = tmp_path / f"summary-{uuid.uuid4().hex}.json"
    proc = stress(*args, "--port", str(node.cql_port), "--interval", "500ms", "--json", str(out))
    assert proc.returncode == expect, proc.stdout + proc.stderr
    summary: dict[str, Any] = json.loads(out.read_text())
    return summary


@pytest.fixture(scope="module")
def written(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A keyspace holding ROWS rows written by `stress write` (3 columns of 20 bytes)."""
    keyspace = unique_keyspace("stress")
    summary = run_json(tmp_path_factory.mktemp("stress"), server, "write", "--ops", str(ROWS),
                       "--keyspace", keyspace, "--columns", "3", "--value-size", "20", "--concurrency", "32")
    return keyspace, summary


def test_write_creates_the_table_and_every_row(written: tuple[str, dict[str, Any]], session: Any) -> None:
    keyspace, summary = written
    assert summary["total"]["ops"] == ROWS
    assert summary["total"]["errors"] == 0
    rows = list(session.execute(f'SELECT key, "C0", "C1", "C2" FROM {keyspace}.standard1'))
    assert len(rows) == ROWS
    assert {r.key for r in rows} == {b"%010d" % i for i in range(ROWS)}
    assert {len(v) for r in rows for v in (r.C0, r.C1, r.C2)} == {20}
    table = session.cluster.metadata.keyspaces[keyspace].tables["standard1"]
    assert [c.name for c in table.partition_key] == ["key"]


def test_read_finds_every_row(written: tuple[str, dict[str, Any]], server: ServerProcess, tmp_path: Path) -> None:
    keyspace, _ = written
    summary = run_json(tmp_path, server, "read", "--ops", "2000", "--rows", str(ROWS), "--keyspace", keyspace,
                       "--columns", "3", "--value-size", "20")
    read = summary["kinds"]["read"]
    assert (read["ops"], read["errors"], read["not_found"]) == (2000, 0, 0)
    assert list(summary["kinds"]) == ["read"]


def test_mixed_in_two_processes(written: tuple[str, dict[str, Any]], server: ServerProcess,
                                tmp_path: Path) -> None:
    keyspace, _ = written
    summary = run_json(tmp_path, server, "mixed", "--duration", "2s", "--rows", str(ROWS), "--keyspace", keyspace,
                       "--columns", "3", "--value-size", "20", "--ratio", "write=1,read=3", "--processes", "2",
                       "--concurrency", "16")
    kinds = summary["kinds"]
    assert set(kinds) == {"write", "read"}
    assert kinds["read"]["ops"] > kinds["write"]["ops"] > 0  # 3:1, by a wide margin in 2 s
    assert summary["total"]["errors"] == 0
    assert kinds["read"]["not_found"] == 0
    assert summary["total"]["ops"] == kinds["read"]["ops"] + kinds["write"]["ops"]
    assert 1.9 < summary["elapsed_s"] < 10
    assert summary["config"]["processes"] == 2


def test_json_summary_fields(written: tuple[str, dict[str, Any]]) -> None:
    _, summary = written
    assert summary["command"] == "write"
    assert summary["config"]["rows"] == ROWS and summary["config"]["consistency"] == "LOCAL_ONE"
    total = summary["total"]
    assert total["op_rate"] > 0 and summary["elapsed_s"] > 0
    lat = total["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    assert lat["mean"] <= lat["max"]
    assert summary["kinds"]["write"] == total
    intervals = summary["intervals"]
    assert intervals and intervals[-1]["ops"] == ROWS
    assert [i["ops"] for i in intervals] == sorted(i["ops"] for i in intervals)
    assert summary["routing"]["mode"] == "shard-aware"
    assert summary["error_samples"] == [] and summary["fatal"] == []


def test_reads_of_missing_rows_are_reported(server: ServerProcess, tmp_path: Path) -> None:
    summary = run_json(tmp_path, server, "read", "--ops", "300", "--keyspace", unique_keyspace("stress_empty"))
    read = summary["kinds"]["read"]
    assert (read["ops"], read["not_found"], read["errors"]) == (300, 300, 0)


def test_progress_output(server: ServerProcess) -> None:
    proc = stress("write", "--port", str(server.cql_port), "--ops", "500", "--keyspace", unique_keyspace("stress"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("scylla-py stress write: 500 ops on 127.0.0.1:")
    assert lines[2].split() == ["time", "total", "ops", "op/s", "p50", "ms", "p95", "ms", "p99", "ms",
                                "max", "ms", "errors"]
    last_progress = lines[lines.index("Results:") - 2].split()
    assert last_progress[1] == "500" and last_progress[-1] == "0"
    assert any(line.split()[:2] == ["write", "500"] for line in lines)


def test_unreachable_node() -> None:
    port = free_port()
    proc = stress("write", "--port", str(port), "--ops", "10")
    assert proc.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in proc.stderr


def test_schema_failure_is_reported(server: ServerProcess) -> None:
    proc = stress("write", "--port", str(server.cql_port), "--ops", "10", "--keyspace", "system")
    assert proc.returncode == 1
    assert "cannot create the schema" in proc.stderr and "system" in proc.stderr


@pytest.mark.parametrize("processes", ["1", "2"])
def test_table_without_the_columns_is_reported(written: tuple[str, dict[str, Any]], server: ServerProcess,
                                               processes: str) -> None:
    keyspace, _ = written
    proc = stress("read", "--port", str(server.cql_port), "--ops", "10", "--keyspace", keyspace, "--columns", "5",
                  "--processes", processes)
    assert proc.returncode == 1
    assert "cannot prepare" in proc.stderr and "C3" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--ops", "10", "--duration", "1s"], "not both"),
    (["--duration", "soon"], "invalid duration"),
    (["--consistency", "MOST"], "unknown consistency"),
    (["--ops", "0"], "--ops must be at least 1"),
    (["--keyspace", "no-dash"], "--keyspace"),
    (["--user", "cassandra"], "--password"),
])
def test_bad_options(args: list[str], message: str) -> None:
    proc = stress("write", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_shard_aware_routing_on_two_shards(node_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    """On a 2-shard node, routing by learned tablets sends (almost) nothing to the wrong shard;
    round-robin sends about half. Only requests issued before their tablet was learned may miss."""
    node = node_factory("--smp", "2")
    keyspace = unique_keyspace("stress_routing")
    aware = run_json(tmp_path, node, "write", "--ops", "2000", "--keyspace", keyspace, "--concurrency", "16")
    routing = aware["routing"]
    assert (routing["mode"], routing["shards"], routing["missing_shards"]) == ("shard-aware", 2, 0)
    assert routing["tablets_learned"] >= 2
    assert aware["routing"]["misrouted"] <= 16 * routing["tablets_learned"]
    blind = run_json(tmp_path, node, "read", "--ops", "2000", "--rows", "2000", "--keyspace", keyspace,
                     "--no-shard-aware")
    assert blind["routing"]["mode"] == "round-robin"
    assert blind["kinds"]["read"]["not_found"] == 0
    assert blind["routing"]["misrouted"] > 2000 // 4


def test_password_authentication(node_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    config = tmp_path / "scylla.yaml"
    config.write_text("authenticator: PasswordAuthenticator\n")
    node = node_factory("--config", str(config), "--smp", "1")
    proc = stress("write", "--port", str(node.cql_port), "--ops", "10")
    assert proc.returncode == 1
    assert "requires authentication" in proc.stderr
    proc = stress("write", "--port", str(node.cql_port), "--ops", "10", "-u", "cassandra", "-p", "wrong")
    assert proc.returncode == 1 and "authentication failed" in proc.stderr
    summary = run_json(tmp_path, node, "write", "--ops", "200", "-u", "cassandra", "-p", "cassandra")
    assert (summary["total"]["ops"], summary["total"]["errors"]) == (200, 0)


# --- the parts ------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=300), st.integers(1, 5))
def test_histogram_percentiles_within_bucket_precision(values: list[int], parts: int) -> None:
    whole = LatencyHistogram()
    pieces = [LatencyHistogram() for _ in range(parts)]
    for i, v in enumerate(values):
        whole.record(v)
        pieces[i % parts].record(v)
    merged = LatencyHistogram()
    for p in pieces:
        merged.merge(LatencyHistogram.from_sparse(p.to_sparse()))
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99, 0.999, 1.0):
        rank = max(1, -(-int(q * len(ordered) * 1_000_000) // 1_000_000))  # nearest rank, ceil(q * n)
        exact = ordered[rank - 1]
        got = merged.percentile_us(q)
        assert got == whole.percentile_us(q)
        assert exact <= got <= max(exact + exact / 64, exact + 1)
    assert (merged.count, merged.max_us, merged.min_us, merged.sum_us) == (
        len(values), max(values), min(values), sum(values))


def test_tablet_router_learns_and_replaces_ranges() -> None:
    host, other = uuid.uuid4(), uuid.uuid4()
    router = TabletRouter(4, 12, host)

    def hint(first: int, last: int, *replicas: tuple[uuid.UUID, int]) -> bool:
        return router.learn(decode_tablets_routing_v1(encode_tablets_routing_v1(first, last, replicas)))

    token = 12345
    assert router.shard_for(token) == shard_of_token(token, 4, 12)  # nothing learned yet
    assert hint(0, 2**40, (other, 1), (host, 3))
    assert router.shard_for(token) == 3 and router.shard_for(2**40) == 3
    assert router.shard_for(0) == shard_of_token(0, 4, 12)  # (first, last]: first is outside
    assert not hint(0, 2**40, (other, 1), (host, 3))  # same tablet again: nothing new
    assert hint(-(2**62), 2**30, (host, 2))  # a split/merge elsewhere replaces what it overlaps
    assert router.ranges() == [(-(2**62), 2**30, 2)]
    assert hint(2**30, 2**50, (other, 0))  # no replica on our node: fall back
    assert router.shard_for(2**31) == shard_of_token(2**31, 4, 12)
    assert len(router) == 2


def test_source_ports_map_to_their_shard() -> None:
    for n in (1, 2, 3, 7, 64):
        for shard in {0, n - 1, n // 2}:
            ports = list(source_ports(shard, n, random.Random(n)))
            assert ports and all(p % n == shard and SOURCE_PORT_MIN <= p <= SOURCE_PORT_MAX for p in ports)
            assert len(set(ports)) == len(ports) == len(range(SOURCE_PORT_MIN + (shard - SOURCE_PORT_MIN) % n,
                                                              SOURCE_PORT_MAX + 1, n))
    with pytest.raises(ValueError):
        list(source_ports(2, 2, random.Random()))


def test_option_parsing() -> None:
    assert [parse_duration_s(t) for t in ("30s", "2m", "500ms", "1.5h", "7")] == [30, 120, 0.5, 5400, 7]
    assert parse_ratio("write=1, read=3") == {"write": 1, "read": 3}
    assert parse_ratio("read=2") == {"write": 0, "read": 2}
    for bad in ("write", "scan=1", "write=x", "write=0", "write=-1,read=2"):
        with pytest.raises(ValueError):
            parse_ratio(bad)
    cfg = StressConfig(command="write", ops=10, processes=3)
    assert [cfg.ops_of_worker(i) for i in range(3)] == [4, 3, 3]
    assert cfg.insert_statement() == ('INSERT INTO "keyspace1"."standard1" (key, "C0", "C1", "C2", "C3", "C4") '
                                      "VALUES (?, ?, ?, ?, ?, ?)")
    with pytest.raises(ValueError, match="exactly one"):
        StressConfig(command="read", ops=None, duration_s=None)


def test_node_going_away_mid_run_stops_with_a_message(node_factory: Callable[..., ServerProcess]) -> None:
    node = node_factory("--smp", "1")
    proc = subprocess.Popen([sys.executable, "-m", "scylla_py", "stress", "write", "--port", str(node.cql_port),
                             "--duration", "60s", "--concurrency", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        while "total ops" not in proc.stdout.readline():  # the load has started
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        node.kill()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert "stopped early" in err and "connection" in err

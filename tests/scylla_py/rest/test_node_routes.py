"""The routes nodetool's status, info, ring, tablets and tablestats use, over the in-memory admin
of fakes.py: paths, parameters, JSON shapes (ScyllaDB's api-doc types) and 400s for bad input."""

from __future__ import annotations

import pytest

from tests.scylla_py.rest.fakes import HOST_ID, OTHER_HOST_ID, T1_STATS, Node


@pytest.mark.parametrize(("path", "expected"), [
    ("/storage_service/load", 2097152.0),
    ("/storage_service/generation_number", 1700000000),
    ("/storage_service/native_transport", True),
    ("/storage_service/gossiping", False),
    ("/system/uptime_ms", 123456),
    ("/snitch/datacenter", "dc1"),
    ("/snitch/rack", "rack1"),
    ("/snitch/rack?host=127.0.0.2", "rack2"),
    ("/storage_service/nodes/joining", []),
    ("/storage_service/nodes/leaving", ["127.0.0.2"]),
    ("/storage_service/nodes/moving", []),
    ("/storage_service/tokens", [str(-(2**63) + 1), "0"]),
    ("/storage_service/tokens/127.0.0.2", [str(2**63 - 1)]),
])
def test_node_facts(node: Node, path: str, expected: object) -> None:
    status, body, _ = node.request("GET", path)
    assert (status, body) == (200, expected)
    assert type(body) is type(expected)  # 2097152.0 must stay a double, 1700000000 an integer


def test_load_map_values_are_numbers(node: Node) -> None:
    # map_string_double, unlike "mapper" whose values are strings.
    assert node.request("GET", "/storage_service/load_map")[:2] == (200, [{"key": "127.0.0.1", "value": 2097152.0}])


@pytest.mark.parametrize(("path", "message"), [
    ("/snitch/datacenter?host=10.9.9.9", "Unknown host 10.9.9.9"),
    ("/storage_service/tokens/10.9.9.9", "Unknown endpoint 10.9.9.9"),
])
def test_unknown_endpoint_is_400(node: Node, path: str, message: str) -> None:
    assert node.request("GET", path)[:2] == (400, {"message": message, "code": 400})


def test_unknown_node_state_is_404(node: Node) -> None:
    assert node.request("GET", "/storage_service/nodes/flying")[0] == 404


@pytest.mark.parametrize(("query", "expected"), [
    ("?replication=tablets", ["ks"]),
    ("?replication=vnodes", ["other", "system", "system_schema"]),
    ("?replication=all", ["ks", "other", "system", "system_schema"]),
    ("?type=user&replication=vnodes", ["other"]),
])
def test_keyspaces_replication_filter(node: Node, query: str, expected: list[str]) -> None:
    assert node.request("GET", "/storage_service/keyspaces" + query)[:2] == (200, expected)


def test_keyspaces_bad_replication_is_400(node: Node) -> None:
    status, body, _ = node.request("GET", "/storage_service/keyspaces?replication=raft")
    assert status == 400 and isinstance(body, dict) and "replication" in str(body["message"])


# -- ownership ----------------------------------------------------------------------------


def _as_floats(body: object) -> dict[str, float]:
    assert isinstance(body, list)
    return {entry["key"]: float(entry["value"]) for entry in body}


def test_ownership_of_a_tablets_table(node: Node) -> None:
    status, body, _ = node.request("GET", "/storage_service/ownership/ks?cf=t1")
    assert status == 200
    assert isinstance(body, list) and all(isinstance(e["value"], str) for e in body)  # a "mapper"
    owned = _as_floats(body)
    assert owned == pytest.approx({"127.0.0.1": 0.75, "127.0.0.2": 0.5})


def test_ownership_of_a_vnodes_keyspace(node: Node) -> None:
    # "other" is SimpleStrategy RF 1 over the ring (MIN+1: .1, 0: .1, MAX: .2): .1 owns the
    # ranges ending at MIN+1 (which wraps from MAX, size 2) and at 0 (size 2**63 - 1).
    owned = _as_floats(node.request("GET", "/storage_service/ownership/other")[1])
    assert owned == pytest.approx({"127.0.0.1": 0.5, "127.0.0.2": 0.5})
    assert sum(owned.values()) == pytest.approx(1.0)
    # LocalStrategy: every node holds its own copy whole.
    assert _as_floats(node.request("GET", "/storage_service/ownership/system")[1]) == {
        "127.0.0.1": 1.0, "127.0.0.2": 1.0}


@pytest.mark.parametrize(("path", "message"), [
    ("/storage_service/ownership/ks", "Keyspace ks uses tablets: effective ownership needs a table (parameter cf)"),
    ("/storage_service/ownership/nope", "Can't find a keyspace nope"),
    ("/storage_service/ownership/ks?cf=zz", "Can't find a column family zz in keyspace ks"),
    ("/storage_service/ownership/system?cf=local", "system.local is a virtual system table: it has no tablets"),
])
def test_ownership_errors_are_400(node: Node, path: str, message: str) -> None:
    assert node.request("GET", path)[:2] == (400, {"message": message, "code": 400})


# -- tables --------------------------------------------------------------------------------


def test_column_family_infos(node: Node) -> None:
    status, body, _ = node.request("GET", "/column_family/")
    assert status == 200 and isinstance(body, list)
    assert body[0] == {"ks": "ks", "cf": "t1", "type": "ColumnFamilies"}
    assert [(e["ks"], e["cf"]) for e in body] == sorted(node.admin.tables())
    assert node.request("GET", "/column_family")[1] == body  # the trailing slash is optional


@pytest.mark.parametrize(("metric", "expected"), [
    ("live_ss_table_count", T1_STATS.sstable_count),
    ("live_disk_space_used", T1_STATS.sstable_bytes),
    ("all_memtables_live_data_size", T1_STATS.memtable_bytes),
    ("estimated_row_count", T1_STATS.sstable_partitions + T1_STATS.memtable_partitions),
])
def test_table_metrics(node: Node, metric: str, expected: int) -> None:
    assert node.request("GET", f"/column_family/metrics/{metric}/ks:t1")[:2] == (200, expected)
    assert node.request("GET", f"/column_family/metrics/{metric}/ks%3At1")[:2] == (200, expected)
    assert node.admin.calls[-1] == ("stats", "ks", "t1")


@pytest.mark.parametrize(("name", "message"), [
    ("t1", "Column family name should be in keyspace:column_family format"),
    ("ks:", "Column family name should be in keyspace:column_family format"),
    ("nope:t1", "Can't find a keyspace nope"),
    ("ks:zz", "Can't find a column family zz in keyspace ks"),
])
def test_table_metric_bad_name_is_400(node: Node, name: str, message: str) -> None:
    assert node.request("GET", f"/column_family/metrics/live_ss_table_count/{name}")[:2] == (
        400, {"message": message, "code": 400})
    assert not [c for c in node.admin.calls if c[0] == "stats"]


def test_unmeasured_metric_is_not_served(node: Node) -> None:
    # We do not measure read latency: no route, rather than an invented 0.
    assert node.request("GET", "/column_family/metrics/read_latency/ks:t1")[0] == 404


def test_tablets_listing(node: Node) -> None:
    status, body, _ = node.request("GET", "/scylla_py/tablets/ks/t1")
    assert status == 200 and isinstance(body, list) and len(body) == 4
    assert body[0] == {"first_token": str(-(2**63)), "last_token": str(-(2**62) - 1),
                       "replicas": [{"host_id": str(HOST_ID), "endpoint": "127.0.0.1", "shard": 0}]}
    assert body[2]["replicas"] == [{"host_id": str(OTHER_HOST_ID), "endpoint": "127.0.0.2", "shard": 0},
                                   {"host_id": str(HOST_ID), "endpoint": "127.0.0.1", "shard": 0}]
    assert [t["last_token"] for t in body][-1] == str(2**63 - 1)


@pytest.mark.parametrize(("path", "status"), [
    ("/scylla_py/tablets/ks/zz", 400),
    ("/scylla_py/tablets/nope/t1", 400),
    ("/scylla_py/tablets/system/local", 400),
    ("/scylla_py/tablets/ks", 404),
])
def test_tablets_listing_errors(node: Node, path: str, status: int) -> None:
    assert node.request("GET", path)[0] == status

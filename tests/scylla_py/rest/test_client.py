"""The REST client nodetool uses, against a real REST server (over the in-memory admin):
JSON answers, the node's error messages, unreachable nodes, keep-alive reuse across the node's
idle timeout, and path encoding."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from scylla_py.rest.client import RestClient, RestError, rest_path
from tests.harness import free_port
from tests.scylla_py.rest.fakes import HOST_ID, InMemoryAdmin, Node


@pytest.fixture
def client(node: Node) -> Iterator[RestClient]:
    c = RestClient("127.0.0.1", node.port, timeout_s=10)
    yield c
    c.close()


def test_get_decodes_json(client: RestClient) -> None:
    assert client.get("/storage_service/hostid/local") == str(HOST_ID)
    assert client.get("/storage_service/keyspaces", {"type": "user"}) == ["ks", "other"]


def test_post_with_empty_answer_returns_none(client: RestClient, node: Node) -> None:
    assert client.post(rest_path("storage_service", "keyspace_flush", "ks"), {"cf": "t1,t2"}) is None
    assert node.admin.calls == [("flush", "ks", ("t1", "t2"))]


def test_error_answer_carries_the_nodes_message(client: RestClient) -> None:
    with pytest.raises(RestError) as info:
        client.post(rest_path("storage_service", "keyspace_flush", "nope"))
    assert (info.value.message, info.value.status) == ("Can't find a keyspace nope", 400)
    with pytest.raises(RestError) as info:
        client.get("/nope")
    assert (info.value.message, info.value.status) == ("Not found: /nope", 404)
    assert client.get("/storage_service/operation_mode") == "NORMAL"  # the connection still works


def test_unreachable_node_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(RestError) as info:
        RestClient("127.0.0.1", port, timeout_s=5).get("/storage_service/hostid/local")
    assert info.value.status is None
    assert f"127.0.0.1:{port}" in info.value.message and "connection refused" in info.value.message


def test_requests_reuse_one_connection_and_survive_the_idle_timeout() -> None:
    node = Node(InMemoryAdmin(), idle_timeout_s=0.2)
    client = RestClient("127.0.0.1", node.port, timeout_s=10)
    try:
        assert client.get("/storage_service/release_version") == "3.0.8"
        first = client._conn
        assert client.get("/storage_service/release_version") == "3.0.8"
        assert client._conn is first  # kept alive
        time.sleep(0.6)  # the node closes the idle connection
        assert client.post("/storage_service/flush") is None  # not lost on the dead connection
        assert client.get("/storage_service/release_version") == "3.0.8"
        assert node.admin.calls == [("flush", None, None)]
    finally:
        client.close()
        node.stop()


def test_rest_path_encodes_each_segment() -> None:
    assert rest_path("column_family", "metrics", "x", "ks:t") == "/column_family/metrics/x/ks%3At"
    assert rest_path("storage_service", "keyspace_flush", "a/b c") == "/storage_service/keyspace_flush/a%2Fb%20c"


def test_ipv6_address_is_bracketed() -> None:
    assert RestClient("::1", 10000).address == "[::1]:10000"

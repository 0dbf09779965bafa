"""The REST server end to end: a real listener on 127.0.0.1, real HTTP clients (http.client,
urllib, raw sockets), and a small in-memory NodeAdmin (fakes.py). What is under test is the HTTP
layer, routing, argument validation and the JSON shapes, not the node behind it. The routes
nodetool's status/info/ring/tablestats use are in test_node_routes.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import urllib.error
import urllib.request

import pytest

from scylla_py.rest import UnknownTable
from tests.scylla_py.rest.fakes import HOST_ID, OTHER_HOST_ID, SCHEMA_VERSION, InMemoryAdmin, Node

# -- storage_service reads --------------------------------------------------------------------


def test_local_host_id(node: Node) -> None:
    assert node.request("GET", "/storage_service/hostid/local")[:2] == (200, str(HOST_ID))


def test_host_id_map_is_a_mapper_list(node: Node) -> None:
    status, body, _ = node.request("GET", "/storage_service/host_id")
    assert status == 200 and body == [{"key": "127.0.0.1", "value": str(HOST_ID)},
                                      {"key": "127.0.0.2", "value": str(OTHER_HOST_ID)}]


@pytest.mark.parametrize(("path", "expected"), [
    ("/storage_service/release_version", "3.0.8"),
    ("/storage_service/scylla_release_version", "6.0.0"),
    ("/storage_service/schema_version", str(SCHEMA_VERSION)),
    ("/storage_service/operation_mode", "NORMAL"),
    ("/gossiper/endpoint/live", ["127.0.0.1"]),
    ("/gossiper/endpoint/live/", ["127.0.0.1"]),
    ("/gossiper/endpoint/down/", ["127.0.0.2"]),
    ("/compaction_manager/metrics/pending_tasks", 3),
])
def test_simple_reads(node: Node, path: str, expected: object) -> None:
    status, body, response = node.request("GET", path)
    assert (status, body) == (200, expected)
    assert response.getheader("Content-Type") == "application/json"


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["ks", "other", "system", "system_schema"]),
    ("?type=all", ["ks", "other", "system", "system_schema"]),
    ("?type=user", ["ks", "other"]),
    ("?type=non_local_strategy", ["ks", "other", "system_schema"]),
])
def test_keyspaces_filter(node: Node, query: str, expected: list[str]) -> None:
    assert node.request("GET", "/storage_service/keyspaces" + query)[:2] == (200, expected)


def test_keyspaces_bad_type_is_400(node: Node) -> None:
    status, body, _ = node.request("GET", "/storage_service/keyspaces?type=bogus")
    assert status == 400 and isinstance(body, dict) and "type" in str(body["message"])


def test_column_family_names(node: Node) -> None:
    status, body, _ = node.request("GET", "/column_family/name")
    assert status == 200
    assert body == ["ks:t1", "ks:t2", "other:x", "system:local", "system:peers", "system_schema:tables"]


def test_tokens_endpoint_ring_and_tablets(node: Node) -> None:
    status, body, _ = node.request("GET", "/storage_service/tokens_endpoint")
    assert status == 200
    assert body == [{"key": str(-(2**63) + 1), "value": "127.0.0.1"}, {"key": "0", "value": "127.0.0.1"},
                    {"key": str(2**63 - 1), "value": "127.0.0.2"}]
    assert node.request("GET", "/storage_service/tokens_endpoint?keyspace=ks&cf=t1")[0] == 200
    assert node.admin.calls[-1] == ("tokens", "ks", "t1")
    assert node.request("GET", "/storage_service/tokens_endpoint?keyspace=ks")[0] == 400
    assert node.request("GET", "/storage_service/tokens_endpoint?keyspace=ks&cf=nope")[0] == 400


def test_compactions(node: Node) -> None:
    status, body, _ = node.request("GET", "/compaction_manager/compactions")
    assert status == 200
    assert body == [{"id": str(HOST_ID), "ks": "ks", "cf": "t1", "task_type": "COMPACTION",
                     "completed": 10, "total": 100, "unit": "bytes"}]


# -- storage_service operations ---------------------------------------------------------------


def test_flush_all(node: Node) -> None:
    status, body, response = node.request("POST", "/storage_service/flush")
    assert (status, body) == (200, None) and response.getheader("Content-Length") == "0"
    assert node.admin.calls == [("flush", None, None)]


def test_keyspace_flush_with_and_without_tables(node: Node) -> None:
    assert node.request("POST", "/storage_service/keyspace_flush/ks")[0] == 200
    assert node.request("POST", "/storage_service/keyspace_flush/ks?cf=t1,t2")[0] == 200
    assert node.request("POST", "/storage_service/keyspace_flush/ks?cf=t1&cf=t2")[0] == 200
    assert node.admin.calls == [("flush", "ks", None), ("flush", "ks", ("t1", "t2")), ("flush", "ks", ("t1", "t2"))]


def test_flush_unknown_keyspace_is_400_with_scylladb_message(node: Node) -> None:
    status, body, _ = node.request("POST", "/storage_service/keyspace_flush/nope")
    assert status == 400 and body == {"message": "Can't find a keyspace nope", "code": 400}
    assert node.admin.calls == []


def test_flush_unknown_table_is_400(node: Node) -> None:
    status, body, _ = node.request("POST", "/storage_service/keyspace_flush/ks?cf=t1,zz")
    assert status == 400 and body == {"message": "Can't find a column family zz in keyspace ks", "code": 400}
    assert node.admin.calls == []


def test_admin_raising_unknown_table_is_400(node: Node) -> None:
    node.admin.fail_with = UnknownTable("ks", "t1")  # e.g. dropped between check and flush
    status, body, _ = node.request("POST", "/storage_service/keyspace_flush/ks?cf=t1")
    assert status == 400 and isinstance(body, dict) and body["message"] == "Can't find a column family t1 in keyspace ks"


def test_admin_bug_is_500_and_logged(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    node.admin.fail_with = RuntimeError("boom")
    status, body, _ = node.request("POST", "/storage_service/flush")
    assert status == 500 and body == {"message": "RuntimeError: boom", "code": 500}
    assert any("REST handler failed" in r.getMessage() for r in caplog.records)


def test_keyspace_compaction(node: Node) -> None:
    assert node.request("POST", "/storage_service/keyspace_compaction/ks?cf=t2")[0] == 200
    assert node.request("POST", "/storage_service/keyspace_compaction/ks?flush_memtables=false")[0] == 200
    assert node.request("POST", "/storage_service/compact")[0] == 200
    assert node.admin.calls == [("compact", "ks", ("t2",), True), ("compact", "ks", None, False),
                                ("compact", None, None, True)]
    assert node.request("POST", "/storage_service/keyspace_compaction/ks?flush_memtables=maybe")[0] == 400
    assert node.request("POST", "/storage_service/keyspace_compaction/nope")[0] == 400


def test_drain_waits_for_completion(node: Node) -> None:
    status, _, _ = node.request("POST", "/storage_service/drain")
    assert status == 200 and node.admin.calls == [("drain",)]
    assert node.request("GET", "/storage_service/operation_mode")[1] == "DRAINED"


def test_urllib_client_works(node: Node) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/storage_service/hostid/local", timeout=10) as r:
        assert json.loads(r.read()) == str(HOST_ID)
    req = urllib.request.Request(f"http://127.0.0.1:{node.port}/storage_service/keyspace_flush/ks?cf=t1",
                                 method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{node.port}/nope", timeout=10)
    assert info.value.code == 404
    assert json.loads(info.value.read()) == {"message": "Not found: /nope", "code": 404}


# -- HTTP-level behaviour ---------------------------------------------------------------------


def test_unknown_path_404_and_wrong_method_405(node: Node) -> None:
    status, body, _ = node.request("GET", "/storage_service/nope")
    assert status == 404 and isinstance(body, dict) and body["code"] == 404
    status, body, response = node.request("GET", "/storage_service/flush")
    assert status == 405 and isinstance(body, dict) and body["code"] == 405
    assert response.getheader("Allow") == "POST"


def test_keep_alive_serves_several_requests_on_one_connection(node: Node) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/storage_service/release_version")
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read()) == "3.0.8"
        conn.request("POST", "/storage_service/keyspace_flush/ks", body=b"{}")
        assert conn.getresponse().read() == b""
        conn.request("GET", "/nope")
        response = conn.getresponse()  # an error answer keeps the connection usable
        assert response.status == 404
        response.read()
        conn.request("GET", "/storage_service/operation_mode")
        assert json.loads(conn.getresponse().read()) == "NORMAL"
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_pipelined_requests_are_answered_in_order_then_close(node: Node) -> None:
    out = raw_exchange(node.port, (
        b"GET /storage_service/release_version HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /storage_service/scylla_release_version HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /storage_service/operation_mode HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ))
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert out.index(b'"3.0.8"') < out.index(b'"6.0.0"') < out.index(b'"NORMAL"')


def test_http_1_0_closes_after_the_answer(node: Node) -> None:
    out = raw_exchange(node.port, b"GET /storage_service/release_version HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b'"3.0.8"')


def test_malformed_request_gets_400_json_and_close(node: Node) -> None:
    out = raw_exchange(node.port, b"THIS IS NOT HTTP\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in head
    assert json.loads(body)["code"] == 400


def test_chunked_body_is_refused_with_501(node: Node) -> None:
    out = raw_exchange(node.port, b"POST /storage_service/flush HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 501 ")
    assert node.admin.calls == []


def test_idle_connection_is_closed() -> None:
    n = Node(InMemoryAdmin(), idle_timeout_s=0.2)
    try:
        with socket.create_connection(("127.0.0.1", n.port), timeout=10) as sock:
            sock.sendall(b"GET /storage_service/release_version HTTP/1.1\r\n")  # never finished
            assert sock.recv(100) == b""  # server hung up
    finally:
        n.stop()


def test_close_cancels_in_flight_requests_and_stops_listening() -> None:
    admin = InMemoryAdmin()
    n = Node(admin)
    started = asyncio.Event()

    async def set_event() -> None:
        admin.drain_started = started

    n.run(set_event())
    sock = socket.create_connection(("127.0.0.1", n.port), timeout=10)
    try:
        sock.sendall(b"POST /storage_service/drain HTTP/1.1\r\nHost: x\r\n\r\n")
        n.run(asyncio.wait_for(started.wait(), 5))
        n.stop()
        assert sock.recv(100) == b""  # cancelled, connection closed without an answer
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", n.port), timeout=2).close()
    finally:
        sock.close()

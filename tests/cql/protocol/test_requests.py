"""Every request, encoded by cassandra-driver itself, decodes to the same fields (v4 spec 4.1)."""

from __future__ import annotations

from typing import Any

from cassandra import protocol as dp
from cassandra.query import UNSET_VALUE
from cassandra.query import BatchType as DriverBatchType
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.protocol import (
    UNSET,
    AuthResponse,
    Batch,
    BatchStatement,
    BatchType,
    Consistency,
    Execute,
    Options,
    Prepare,
    Query,
    Ready,
    Register,
    ServerConnection,
    Startup,
)
from tests.cql.protocol.oracle import request_frame

SETTINGS = settings(max_examples=60, deadline=None)

consistencies = st.sampled_from(list(Consistency))
serials = st.none() | st.sampled_from([Consistency.SERIAL, Consistency.LOCAL_SERIAL])
driver_values = st.lists(st.binary(max_size=40) | st.none() | st.just(UNSET_VALUE), max_size=12)
texts = st.text(max_size=60)
streams = st.integers(0, 0x7FFF)
timestamps = st.none() | st.integers(0, 2**63 - 1)  # the driver packs it unsigned


def _ours(value: Any) -> Any:
    return UNSET if value is UNSET_VALUE else value


def ready_connection(version: int = 4, compression: str | None = None) -> ServerConnection:
    """A connection past STARTUP/READY, so every request opcode is allowed."""
    conn = ServerConnection()
    options = {"CQL_VERSION": "3.0.0"}
    if compression:
        options["COMPRESSION"] = compression
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", options), 1, version))
    assert isinstance(conn.next_event(), Startup)
    conn.send(Ready(), 1)
    return conn


def decode_one(msg: Any, stream: int = 0, version: int = 4, compressed: bool = False) -> Any:
    conn = ready_connection(version, "lz4" if compressed else None)
    conn.receive_data(request_frame(msg, stream, version, compressed))
    event = conn.next_event()
    assert event.stream == stream  # type: ignore[union-attr]
    assert event.version == version  # type: ignore[union-attr]
    return event


@SETTINGS
@given(st.dictionaries(texts, texts, max_size=6), streams)
def test_startup(extra: dict[str, str], stream: int) -> None:
    conn = ServerConnection()
    extra.pop("COMPRESSION", None)
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", extra), stream))
    event = conn.next_event()
    assert isinstance(event, Startup)
    assert event.stream == stream
    assert dict(event.options) == {**extra, "CQL_VERSION": "3.0.0"}


@SETTINGS
@given(streams, st.sampled_from([3, 4]))
def test_options(stream: int, version: int) -> None:
    conn = ServerConnection()
    conn.receive_data(request_frame(dp.OptionsMessage(), stream, version))
    assert conn.next_event() == Options(stream=stream, version=version)


@SETTINGS
@given(
    texts, consistencies, serials, st.none() | st.integers(1, 2**31 - 1),
    st.none() | st.binary(min_size=1, max_size=30), timestamps, streams, st.booleans(),
    st.sampled_from([3, 4]),
)
def test_query(
    query: str, cl: Consistency, serial: Consistency | None, fetch_size: int | None,
    paging_state: bytes | None, timestamp: int | None, stream: int, compressed: bool, version: int,
) -> None:
    msg = dp.QueryMessage(query, cl, serial, fetch_size, paging_state, timestamp)
    event = decode_one(msg, stream, version, compressed)
    assert isinstance(event, Query)
    assert event.query == query
    p = event.params
    assert (p.consistency, p.serial_consistency) == (cl, serial)
    assert p.page_size == fetch_size
    assert p.paging_state == paging_state
    assert p.timestamp == timestamp
    assert p.values == () and p.named_values is None and not p.skip_metadata


@SETTINGS
@given(st.binary(min_size=1, max_size=32), driver_values, consistencies, serials,
       st.none() | st.integers(1, 5000), st.booleans(), timestamps, st.booleans())
def test_execute(
    query_id: bytes, values: list[Any], cl: Consistency, serial: Consistency | None,
    fetch_size: int | None, skip_meta: bool, timestamp: int | None, compressed: bool,
) -> None:
    msg = dp.ExecuteMessage(query_id, values, cl, serial, fetch_size, None, timestamp, skip_meta)
    event = decode_one(msg, 7, 4, compressed)
    assert isinstance(event, Execute)
    assert event.query_id == query_id
    assert event.params.values == tuple(_ours(v) for v in values)
    # cassandra-driver 3.30 accepts skip_meta but never sets flag 0x02 on the wire;
    # test_named_values_and_skip_metadata covers the flag with a hand-built frame.
    assert event.params.skip_metadata is False
    assert event.params.consistency == cl
    assert event.params.serial_consistency == serial
    assert event.params.page_size == fetch_size
    assert event.params.timestamp == timestamp


@SETTINGS
@given(texts, st.sampled_from([3, 4]))
def test_prepare(query: str, version: int) -> None:
    event = decode_one(dp.PrepareMessage(query), 3, version)
    assert event == Prepare(query, stream=3, version=version)


batch_entries = st.lists(
    st.tuples(st.booleans(), texts, st.binary(min_size=1, max_size=16), driver_values),
    max_size=8,
)


@SETTINGS
@given(st.sampled_from([DriverBatchType.LOGGED, DriverBatchType.UNLOGGED, DriverBatchType.COUNTER]), batch_entries, consistencies, serials,
       timestamps, st.booleans())
def test_batch(
    batch_type: Any, entries: list[tuple[bool, str, bytes, list[Any]]], cl: Consistency,
    serial: Consistency | None, timestamp: int | None, compressed: bool,
) -> None:
    queries = [(prepared, qid if prepared else text, values)
               for prepared, text, qid, values in entries]
    msg = dp.BatchMessage(batch_type, queries, cl, serial, timestamp)
    event = decode_one(msg, 9, 4, compressed)
    assert isinstance(event, Batch)
    assert event.batch_type == BatchType(batch_type.value)
    assert event.statements == tuple(
        BatchStatement(s, tuple(_ours(v) for v in values)) for _, s, values in queries
    )
    assert event.consistency == cl
    assert event.serial_consistency == serial
    assert event.timestamp == timestamp


@SETTINGS
@given(st.lists(st.sampled_from(["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]), max_size=3))
def test_register(types: list[str]) -> None:
    event = decode_one(dp.RegisterMessage(types), 2)
    assert event == Register(tuple(types), stream=2)


@SETTINGS
@given(st.binary(max_size=100))
def test_auth_response(token: bytes) -> None:
    conn = ServerConnection()
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {}), 1))
    conn.next_event()
    from cql.protocol import Authenticate

    conn.send(Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"), 1)
    conn.receive_data(request_frame(dp.AuthResponseMessage(token), 5))
    assert conn.next_event() == AuthResponse(token, stream=5)


def test_custom_payload_and_tracing_flags() -> None:
    msg = dp.QueryMessage("SELECT 1", Consistency.ONE)
    msg.custom_payload = {"k": b"v", "empty": b""}
    msg.tracing = True
    event = decode_one(msg, 4)
    assert isinstance(event, Query)
    assert event.tracing is True
    assert event.custom_payload == {"k": b"v", "empty": b""}


def test_named_values_and_skip_metadata() -> None:
    # The driver never sends flag 0x40, so the frame is built by hand: QUERY with two named values.
    body = (
        b"\x00\x00\x00\x08SELECT ?"  # [long string]
        + b"\x00\x01"  # consistency ONE
        + b"\x43"  # values | skip_metadata | names for values
        + b"\x00\x02"
        + b"\x00\x01a" + b"\x00\x00\x00\x01x"
        + b"\x00\x01b" + b"\xff\xff\xff\xfe"
    )
    conn = ready_connection()
    conn.receive_data(b"\x04\x00\x00\x01\x07" + len(body).to_bytes(4, "big") + body)
    event = conn.next_event()
    assert isinstance(event, Query)
    assert event.params.named_values == (("a", b"x"), ("b", UNSET))
    assert event.params.values == ()
    assert event.params.skip_metadata is True


def test_custom_payload_flag_is_ignored_on_v3() -> None:
    # Flag 0x04 only exists from v4 on; v3 "ignores the rest of the flags" (spec v3 section 2.2).
    body = b"\x00\x00\x00\x08SELECT 1" + b"\x00\x01\x00"
    conn = ready_connection(version=3)
    conn.receive_data(b"\x03\x04\x00\x01\x07" + len(body).to_bytes(4, "big") + body)
    event = conn.next_event()
    assert isinstance(event, Query) and event.custom_payload is None and event.query == "SELECT 1"

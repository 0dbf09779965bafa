"""The client codec against the server codec: every request it encodes decodes server-side to the
same fields, every response the server encodes decodes client-side to an equal value (native
protocol v4 sections 2, 4.1, 4.2, 9), fed whole, byte by byte and in random chunks; garbage raises
only ServerProtocolError; stream ids and the handshake state follow the spec."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cql import errors
from cql import protocol_types as pt
from cql.protocol import (
    NEED_DATA,
    UNSET,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    ConnectionClosed,
    ConnectionState,
    Consistency,
    ErrorResponse,
    Execute,
    LocalProtocolError,
    Options,
    Prepare,
    Query,
    Ready,
    Response,
    ResultPrepared,
    ResultRows,
    ResultSchemaChange,
    ResultSetKeyspace,
    ResultVoid,
    SchemaChangeEvent,
    ServerConnection,
    Startup,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
    encode_tablets_routing_v1,
    tablets_routing_payload,
)
from cql.protocol.client import (
    ClientConnection,
    PreparedStatement,
    Received,
    ServerProtocolError,
    ShardingInfo,
    StreamsExhausted,
    TabletRoute,
    UnrecognizedError,
    decode_tablets_routing_v1,
    sasl_plain_token,
    startup_options,
    tablet_route_of,
)
from cql.protocol.frame import HEADER, Opcode
from cql.protocol_types import ColumnSpec
from tests.cql.protocol.test_responses import type_options

SETTINGS = settings(max_examples=60, deadline=None)
SUPPORTED: Mapping[str, Sequence[str]] = {
    "CQL_VERSION": ["3.3.1"],
    "COMPRESSION": ["lz4"],
    "SCYLLA_SHARD": ["1"],
    "SCYLLA_NR_SHARDS": ["4"],
    "SCYLLA_SHARDING_ALGORITHM": ["biased-token-round-robin"],
    "SCYLLA_SHARDING_IGNORE_MSB": ["12"],
    "SCYLLA_SHARD_AWARE_PORT": ["19042"],
    "TABLETS_ROUTING_V1": [""],
}
KV = (ColumnSpec("ks", "t", "k", (pt.BLOB,)), ColumnSpec("ks", "t", "v", (pt.BLOB,)))


def deliver(server: ServerConnection, frame: bytes) -> Any:
    server.receive_data(frame)
    event = server.next_event()
    assert server.next_event() is NEED_DATA
    return event


def answer(client: ClientConnection, frame: bytes) -> Received:
    client.receive_data(frame)
    got = client.next_response()
    assert isinstance(got, Received)
    assert client.next_response() is NEED_DATA
    return got


def connected(version: int = 4, compression: str | None = None,
              extensions: Sequence[str] = ("TABLETS_ROUTING_V1",)) -> tuple[ClientConnection, ServerConnection]:
    """A client and a server past OPTIONS/SUPPORTED and STARTUP/READY."""
    client, server = ClientConnection(version), ServerConnection(supported=SUPPORTED)
    stream, frame = client.options()
    assert isinstance(deliver(server, frame), Options)
    supported = answer(client, server.send(Supported(SUPPORTED), stream)).response
    assert isinstance(supported, Supported)
    options = startup_options(supported.options, compression=compression, extensions=extensions)
    stream, frame = client.startup(options)
    startup = deliver(server, frame)
    assert isinstance(startup, Startup) and dict(startup.options) == options
    assert answer(client, server.send(Ready(), stream)) == Received(stream, Ready())
    assert client.state is ConnectionState.READY
    return client, server


def roundtrip(response: Response, conn: tuple[ClientConnection, ServerConnection] | None = None,
              request: str = "QUERY") -> Response:
    """Send a request of kind `request`, let the server answer `response`, decode it."""
    client, server = conn or connected()
    stream, frame = client.prepare("SELECT 1") if request == "PREPARE" else client.query("SELECT 1")
    deliver(server, frame)
    got = answer(client, server.send(response, stream))
    assert got.stream == stream
    assert client.in_flight == 0
    return got.response


# --- requests ------------------------------------------------------------------------------------

values_st = st.lists(st.binary(max_size=40) | st.none() | st.just(UNSET), max_size=12)
consistencies = st.sampled_from(list(Consistency))
serials = st.none() | st.sampled_from([Consistency.SERIAL, Consistency.LOCAL_SERIAL])
payloads = st.none() | st.dictionaries(st.text(max_size=10), st.binary(max_size=20) | st.none(),
                                       min_size=1, max_size=3)


@SETTINGS
@given(st.text(max_size=80), consistencies, values_st, st.none() | st.integers(-5, 5000),
       st.none() | st.binary(max_size=30), serials, st.none() | st.integers(-(2**63), 2**63 - 1),
       payloads, st.booleans(), st.booleans())
def test_query_round_trip(text: str, cl: Consistency, values: list[Any], page_size: int | None,
                          paging_state: bytes | None, serial: Consistency | None, timestamp: int | None,
                          payload: dict[str, bytes | None] | None, tracing: bool, compressed: bool) -> None:
    client, server = connected(compression="lz4" if compressed else None)
    stream, frame = client.query(text, cl, values, page_size=page_size, paging_state=paging_state,
                                 serial_consistency=serial, timestamp=timestamp,
                                 custom_payload=payload, tracing=tracing)
    event = deliver(server, frame)
    assert isinstance(event, Query)
    assert (event.stream, event.query, event.tracing) == (stream, text, tracing)
    assert event.custom_payload == payload
    p = event.params
    assert (p.consistency, list(p.values), p.page_size, p.paging_state) == (cl, values, page_size, paging_state)
    assert (p.serial_consistency, p.timestamp, p.skip_metadata, p.named_values) == (serial, timestamp, False, None)


@SETTINGS
@given(st.binary(min_size=1, max_size=40), st.lists(st.binary(max_size=30) | st.none(), max_size=8),
       consistencies, st.booleans())
def test_execute_round_trip(statement_id: bytes, values: list[bytes | None], cl: Consistency,
                            returns_rows: bool) -> None:
    client, server = connected()
    binds = tuple(ColumnSpec("ks", "t", f"c{i}", (pt.BLOB,)) for i in range(len(values)))
    statement = PreparedStatement("q", statement_id, binds, (), KV if returns_rows else None)
    stream, frame = client.execute(statement, values, cl)
    event = deliver(server, frame)
    assert isinstance(event, Execute)
    assert (event.stream, event.query_id, list(event.params.values)) == (stream, statement_id, values)
    assert event.params.consistency == cl
    # Skip_metadata by default exactly when the result columns are known.
    assert event.params.skip_metadata == returns_rows


def test_prepare_and_execute_with_skipped_metadata() -> None:
    client, server = connected()
    stream, frame = client.prepare("SELECT k, v FROM ks.t WHERE k = ?")
    event = deliver(server, frame)
    assert isinstance(event, Prepare) and event.query == "SELECT k, v FROM ks.t WHERE k = ?"
    prepared = ResultPrepared(b"\x01\x02", (KV[0],), (0,), KV)
    got = answer(client, server.send(prepared, stream)).response
    assert got == prepared
    assert isinstance(got, ResultPrepared)
    statement = PreparedStatement.from_result(event.query, got)
    assert statement.keyspace_table == ("ks", "t")
    stream, frame = client.execute(statement, [b"key"])
    assert deliver(server, frame).params.skip_metadata
    rows = ResultRows(KV, [[b"key", b"value"]], no_metadata=True)
    assert answer(client, server.send(rows, stream)).response == rows


def test_rows_without_metadata_for_a_request_that_did_not_skip_it() -> None:
    client, server = connected()
    stream, frame = client.query("SELECT k, v FROM ks.t")
    deliver(server, frame)
    client.receive_data(server.send(ResultRows(KV, [], no_metadata=True), stream))
    with pytest.raises(ServerProtocolError, match="did not skip") as info:
        client.next_response()
    assert (info.value.stream, info.value.fatal, client.in_flight) == (stream, False, 0)
    assert client.state is ConnectionState.READY


def test_authentication_handshake() -> None:
    client, server = ClientConnection(), ServerConnection(supported=SUPPORTED)
    stream, frame = client.startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"})
    deliver(server, frame)
    auth = Authenticate("org.apache.cassandra.auth.PasswordAuthenticator")
    assert answer(client, server.send(auth, stream)).response == auth
    assert client.state is ConnectionState.AUTHENTICATING
    with pytest.raises(LocalProtocolError):
        client.query("SELECT 1")
    stream, frame = client.auth_response(sasl_plain_token("cassandra", "secret"))
    event = deliver(server, frame)  # compressed from here on: the server must inflate it
    assert isinstance(event, AuthResponse) and event.token == b"\x00cassandra\x00secret"
    assert answer(client, server.send(AuthChallenge(b"more"), stream)).response == AuthChallenge(b"more")
    stream, frame = client.auth_response(b"again")
    deliver(server, frame)
    assert answer(client, server.send(AuthSuccess(b"ok"), stream)).response == AuthSuccess(b"ok")
    assert client.state is ConnectionState.READY
    assert client.compression == "lz4"


def test_refused_startup_allows_a_new_one() -> None:
    client, server = ClientConnection(), ServerConnection(supported=SUPPORTED)
    stream, frame = client.startup({"CQL_VERSION": "3.0.0"})
    deliver(server, frame)
    got = answer(client, server.send(errors.ProtocolError("no"), stream)).response
    assert isinstance(got, ErrorResponse)
    assert client.state is ConnectionState.AWAIT_STARTUP
    client.startup({"CQL_VERSION": "3.0.0"})
    assert client.state is ConnectionState.STARTING


def test_requests_the_state_forbids() -> None:
    client = ClientConnection()
    statement = PreparedStatement("q", b"id", (), (), None)
    for send in (lambda: client.query("SELECT 1"), lambda: client.prepare("SELECT 1"),
                 lambda: client.execute(statement, []), lambda: client.auth_response(None)):
        with pytest.raises(LocalProtocolError):
            send()
    assert client.in_flight == 0
    client.startup({"CQL_VERSION": "3.0.0"})
    with pytest.raises(LocalProtocolError):
        client.startup({"CQL_VERSION": "3.0.0"})
    client.options()  # OPTIONS is allowed while STARTUP is pending
    with pytest.raises(ValueError, match="CQL_VERSION"):
        ClientConnection().startup({})
    with pytest.raises(ValueError, match="snappy"):
        ClientConnection().startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"})


def test_bad_request_values_change_no_state() -> None:
    client, _ = connected()
    statement = PreparedStatement("q", b"id", KV, (0,), None)
    with pytest.raises(ValueError, match="2 bind markers"):
        client.execute(statement, [b"x"])
    with pytest.raises(ValueError, match="skip_metadata"):
        client.execute(statement, [b"x", b"y"], skip_metadata=True)
    with pytest.raises(ValueError, match="out of range"):
        client.query("SELECT 1", page_size=2**40)
    assert client.in_flight == 0


def test_v3_connection() -> None:
    client, server = connected(version=3)
    with pytest.raises(ValueError, match="v4"):
        client.query("x", values=[UNSET])
    with pytest.raises(ValueError, match="v4"):
        client.query("x", custom_payload={"a": b"b"})
    prepared = ResultPrepared(b"id", KV, (0,), None)
    # v3 PREPARED has no pk indexes (4.2.5.4 is v4).
    assert roundtrip(prepared, (client, server), "PREPARE") == ResultPrepared(b"id", KV, (), None)


# --- responses -----------------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
columns_st = st.lists(st.builds(ColumnSpec, st.sampled_from(["ks", "other"]), st.sampled_from(["t", "u"]),
                                names, type_options), max_size=6).map(tuple)
cells = st.none() | st.binary(max_size=50)


@SETTINGS
@given(columns_st.flatmap(lambda cols: st.tuples(
    st.just(cols), st.lists(st.lists(cells, min_size=len(cols), max_size=len(cols)), max_size=10))),
    st.none() | st.binary(max_size=20))
def test_rows(shape: tuple[tuple[ColumnSpec, ...], list[list[bytes | None]]], paging_state: bytes | None) -> None:
    columns, rows = shape
    response = ResultRows(columns, rows, paging_state=paging_state)
    assert roundtrip(response) == response


@SETTINGS
@given(st.binary(min_size=1, max_size=20), columns_st, st.lists(st.integers(0, 20), max_size=3).map(tuple),
       st.none() | columns_st)
def test_prepared(statement_id: bytes, binds: tuple[ColumnSpec, ...], pk: tuple[int, ...],
                  result: tuple[ColumnSpec, ...] | None) -> None:
    response = ResultPrepared(statement_id, binds, pk, result)
    assert roundtrip(response, request="PREPARE") == response


def test_prepared_lwt_mark() -> None:
    supported = {**SUPPORTED, "SCYLLA_LWT_ADD_METADATA_MARK": ["LWT_OPTIMIZATION_META_BIT_MASK=2147483648"]}
    client, server = ClientConnection(), ServerConnection(supported=supported)
    options = startup_options(supported, extensions=["SCYLLA_LWT_ADD_METADATA_MARK"])
    assert options["SCYLLA_LWT_ADD_METADATA_MARK"] == "LWT_OPTIMIZATION_META_BIT_MASK=2147483648"
    stream, frame = client.startup(options)
    deliver(server, frame)
    answer(client, server.send(Ready(), stream))
    response = ResultPrepared(b"id", KV, (0,), None, lwt=True)
    assert roundtrip(response, (client, server), "PREPARE") == response


@pytest.mark.parametrize("response", [
    ResultVoid(),
    ResultSetKeyspace("ks"),
    ResultSchemaChange("CREATED", "KEYSPACE", "ks"),
    ResultSchemaChange("UPDATED", "TABLE", "ks", "t"),
    ResultSchemaChange("DROPPED", "TYPE", "ks", "ty"),
    ResultSchemaChange("CREATED", "FUNCTION", "ks", "f", ("int", "text")),
    ResultVoid(warnings=("Aggregation query used without partition key",)),
    ResultVoid(tracing_id=uuid.UUID(int=7), warnings=("w",), custom_payload={"k": b"v", "n": None}),
    ResultRows(KV, [[b"a", None]], tracing_id=uuid.UUID(int=1)),
])
def test_results(response: Response) -> None:
    assert roundtrip(response) == response


def test_supported_and_events() -> None:
    client, server = connected()
    stream, frame = client.options()
    deliver(server, frame)
    assert answer(client, server.send(Supported(SUPPORTED), stream)).response == Supported(SUPPORTED)
    for event in (SchemaChangeEvent("CREATED", "TABLE", "ks", "t"),
                  TopologyChangeEvent("NEW_NODE", ipaddress.ip_address("127.0.0.2"), 9042),
                  StatusChangeEvent("DOWN", ipaddress.ip_address("::1"), 19042)):
        assert answer(client, server.send(event, -1)) == Received(-1, event)
    assert client.in_flight == 0


_ERRORS: list[errors.CQLError] = [
    errors.ServerError("boom"), errors.ProtocolError("bad frame"), errors.BadCredentials("no"),
    errors.Overloaded("busy"), errors.IsBootstrapping("wait"), errors.TruncateError("t"),
    errors.SyntaxException("line 1:0"), errors.Unauthorized("who"), errors.InvalidRequest("bad"),
    errors.ConfigurationException("cfg"), errors.AlreadyExists("exists", "ks", "t"),
    errors.Unprepared("unknown id", b"\x00\xff"), errors.Unavailable("down", 4, 3, 1),
    errors.WriteTimeout("wt", 1, 0, 1, "SIMPLE"), errors.ReadTimeout("rt", 6, 1, 2, True),
    errors.ReadFailure("rf", 1, 0, 1, 1, False), errors.WriteFailure("wf", 4, 1, 2, 1, "BATCH"),
    errors.FunctionFailure("ff", "ks", "fn", ["int"]),
]


def _fields(e: Any) -> tuple[Any, ...]:
    return (type(e), e.message, *sorted((k, v) for k, v in vars(e).items() if k != "message"))


@pytest.mark.parametrize("error", _ERRORS, ids=lambda e: type(e).__name__)
def test_errors(error: errors.CQLError) -> None:
    got = roundtrip(ErrorResponse(error))
    assert isinstance(got, ErrorResponse)
    assert _fields(got.error) == _fields(error)


def test_unknown_error_code() -> None:
    client, server = connected()
    stream, frame = client.query("x")
    deliver(server, frame)
    body = b"\x00\x00\x77\x77" + b"\x00\x03odd" + b"extra"
    got = answer(client, HEADER.pack(0x84, 0, stream, Opcode.ERROR, len(body)) + body).response
    assert isinstance(got, ErrorResponse) and isinstance(got.error, UnrecognizedError)
    assert (got.error.error_code, got.error.message) == (0x7777, "odd")


# --- framing: chunking, streams, garbage ----------------------------------------------------------


def _scripted() -> tuple[ClientConnection, bytes, list[Received]]:
    """A client with several requests in flight and the server's answers as one byte string."""
    client, server = connected(compression="lz4")
    statement = PreparedStatement("q", b"id", (KV[0],), (0,), KV)
    wire, expected = b"", []
    answers: list[Response] = [ResultVoid(), ResultRows(KV, [[b"k", b"v" * 300]] * 3, no_metadata=True),
                               ErrorResponse(errors.InvalidRequest("no")), ResultSetKeyspace("ks")]
    for response in answers:
        stream, frame = client.execute(statement, [b"k"])
        deliver(server, frame)
        wire += server.send(response, stream)
        expected.append(Received(stream, response))
    return client, wire, expected


def _same(got: list[Any], expected: list[Any]) -> bool:
    # Exceptions compare by identity; their reprs (class and message) are what must match.
    return repr(got) == repr(expected)


def _drain(client: ClientConnection) -> list[Any]:
    out = []
    while (item := client.next_response()) is not NEED_DATA:
        out.append(item)
        if isinstance(item, ConnectionClosed):
            break
    return out


def test_byte_at_a_time_equals_whole() -> None:
    client, wire, expected = _scripted()
    got = []
    for i in range(len(wire)):
        client.receive_data(wire[i : i + 1])
        got += _drain(client)
    assert _same(got, expected)
    assert client.in_flight == 0 and client.buffered_bytes == 0


@SETTINGS
@given(st.lists(st.integers(1, 200), max_size=30))
def test_arbitrary_chunking(cuts: list[int]) -> None:
    client, wire, expected = _scripted()
    got, pos = [], 0
    for n in [*cuts, len(wire)]:
        if wire[pos : pos + n]:  # (an empty chunk would mean EOF)
            client.receive_data(wire[pos : pos + n])
        pos += n
        got += _drain(client)
    assert _same(got, expected)


def test_eof_with_partial_frame() -> None:
    client, wire, expected = _scripted()
    client.receive_data(wire[:-3])
    client.receive_data(b"")
    assert _same(_drain(client), [*expected[:-1], ConnectionClosed(incomplete_frame=True)])
    assert client.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        client.query("x")


def test_stream_ids_are_unique_bounded_and_reused() -> None:
    client = ClientConnection(max_streams=3)
    streams = [client.options()[0] for _ in range(3)]
    assert sorted(streams) == [0, 1, 2]
    with pytest.raises(StreamsExhausted):
        client.options()
    supported = ServerConnection(supported=SUPPORTED).send(Supported(SUPPORTED), streams[1])
    client.receive_data(supported)
    assert isinstance(client.next_response(), Received)
    assert client.options()[0] == streams[1]


def test_responses_that_answer_nothing() -> None:
    client, server = connected()
    client.receive_data(server.send(ResultVoid(), 5))
    with pytest.raises(ServerProtocolError, match="not in flight") as info:
        client.next_response()
    assert not info.value.fatal
    stream, frame = client.query("x")
    deliver(server, frame)
    client.receive_data(server.send(Supported(SUPPORTED), stream))
    with pytest.raises(ServerProtocolError, match="SUPPORTED cannot answer QUERY"):
        client.next_response()
    assert client.in_flight == 0 and client.state is ConnectionState.READY


@pytest.mark.parametrize("header", [
    HEADER.pack(0x04, 0, 0, Opcode.RESULT, 4),       # request direction
    HEADER.pack(0x84, 0, 0, Opcode.RESULT, -1),      # negative length
])
def test_fatal_header_errors(header: bytes) -> None:
    client, _ = connected()
    client.receive_data(header)
    for _ in range(2):
        with pytest.raises(ServerProtocolError) as info:
            client.next_response()
        assert info.value.fatal
    assert client.state is ConnectionState.ERROR


@SETTINGS
@given(st.binary(min_size=1, max_size=300), st.integers(0, 3), st.sampled_from(list(Opcode)))
def test_garbage_raises_only_the_protocol_error(body: bytes, flags: int, opcode: Opcode) -> None:
    client, _ = connected()
    stream, _frame = client.query("x")
    client.receive_data(HEADER.pack(0x84, flags, stream, opcode, len(body)) + body + body)
    for _ in range(4):
        try:
            item = client.next_response()
        except ServerProtocolError:
            continue
        if item is NEED_DATA:
            break
        assert isinstance(item, Received)


# --- ScyllaDB extensions -------------------------------------------------------------------------

tokens = st.integers(-(2**63), 2**63 - 1)


@SETTINGS
@given(tokens, tokens, st.lists(st.tuples(st.uuids(), st.integers(0, 2**31 - 1)), max_size=4))
def test_tablets_routing_payload_round_trip(a: int, b: int, replicas: list[tuple[uuid.UUID, int]]) -> None:
    first, last = min(a, b), max(a, b)
    value = encode_tablets_routing_v1(first, last, replicas)
    if first == last:
        with pytest.raises(ServerProtocolError, match="empty token range"):
            decode_tablets_routing_v1(value)
    else:
        assert decode_tablets_routing_v1(value) == TabletRoute(first, last, tuple(replicas))
        with pytest.raises(ServerProtocolError):
            decode_tablets_routing_v1(value[:-1])


@pytest.mark.parametrize("negotiate", [True, False])
def test_tablets_routing_payload_only_when_negotiated(negotiate: bool) -> None:
    host = uuid.uuid4()
    conn = connected(extensions=("TABLETS_ROUTING_V1",) if negotiate else ())
    assert ("TABLETS_ROUTING_V1" in conn[0].negotiated_extensions) == negotiate
    got = roundtrip(ResultVoid(custom_payload=tablets_routing_payload(-10, 99, [(host, 3)])), conn)
    expected = TabletRoute(-10, 99, ((host, 3),)) if negotiate else None
    assert tablet_route_of(got) == expected


def test_sharding_info() -> None:
    assert ShardingInfo.from_supported(SUPPORTED) == ShardingInfo(1, 4, 12, 19042)
    assert ShardingInfo.from_supported({"CQL_VERSION": ["3.3.1"]}) is None
    no_port = {k: v for k, v in SUPPORTED.items() if k != "SCYLLA_SHARD_AWARE_PORT"}
    assert ShardingInfo.from_supported(no_port) == ShardingInfo(1, 4, 12, None)
    other = {**SUPPORTED, "SCYLLA_SHARDING_ALGORITHM": ["something-else"]}
    assert ShardingInfo.from_supported(other) is None
    for bad in ({"SCYLLA_NR_SHARDS": ["x"]}, {"SCYLLA_SHARD": ["4"]}):
        with pytest.raises(ServerProtocolError):
            ShardingInfo.from_supported({**SUPPORTED, **bad})


def test_startup_options() -> None:
    assert startup_options(SUPPORTED, driver_name="d") == {
        "CQL_VERSION": "3.3.1", "TABLETS_ROUTING_V1": "", "DRIVER_NAME": "d"}
    assert startup_options({"CQL_VERSION": ["3.3.1"]}) == {"CQL_VERSION": "3.3.1"}
    assert startup_options(SUPPORTED, compression="LZ4")["COMPRESSION"] == "lz4"
    with pytest.raises(ValueError, match="snappy"):
        startup_options(SUPPORTED, compression="snappy")


def test_routing_key() -> None:
    single = PreparedStatement("q", b"id", KV, (1,), None)
    assert single.routing_key([b"x", b"pk"]) == b"pk"
    assert single.routing_key([b"x", None]) is None
    # Composite partition key: per component [short] length, bytes, 0x00 (pk order, not bind order).
    composite = PreparedStatement("q", b"id", (*KV, KV[0]), (2, 0), None)
    assert composite.routing_key([b"ab", b"-", b"c"]) == b"\x00\x01c\x00\x00\x02ab\x00"
    assert PreparedStatement("q", b"id", KV, (), None).routing_key([b"a", b"b"]) is None

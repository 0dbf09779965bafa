"""The connection state machine: handshake, version negotiation, compression, framing, limits."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from cassandra import protocol as dp
from hypothesis import given, settings
from hypothesis import strategies as st

from cql import errors
from cql.protocol import (
    NEED_DATA,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    ClientProtocolError,
    ConnectionClosed,
    ConnectionState,
    ErrorResponse,
    LocalProtocolError,
    Options,
    Prepare,
    Query,
    Ready,
    ResultPrepared,
    ResultVoid,
    ServerConnection,
    Startup,
    Supported,
)
from cql.protocol_types import INT, ColumnSpec
from tests.cql.protocol.oracle import decode_response, lz4_compress, request_frame, split_frame
from tests.cql.protocol.test_requests import ready_connection

SUPPORTED = {"CQL_VERSION": ["3.3.1"], "COMPRESSION": ["lz4"]}


def frame(version: int, opcode: int, body: bytes, stream: int = 0, flags: int = 0) -> bytes:
    return struct.pack(">BBhBi", version, flags, stream, opcode, len(body)) + body


def query_frame(text: str, stream: int, version: int = 4) -> bytes:
    return request_frame(dp.QueryMessage(text, 1), stream, version)


def events(conn: ServerConnection) -> list[Any]:
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return out


def test_full_handshake_with_lz4() -> None:
    conn = ServerConnection(supported=SUPPORTED)
    conn.receive_data(request_frame(dp.OptionsMessage(), 0))
    assert conn.next_event() == Options(stream=0)
    supported = decode_response(conn.send(Supported(conn.supported), 0))
    assert supported.options["COMPRESSION"] == ["lz4"]

    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {"COMPRESSION": "lz4"}), 1))
    startup = conn.next_event()
    assert isinstance(startup, Startup) and startup.compression == "lz4"
    assert conn.state is ConnectionState.STARTING and conn.compression == "lz4"
    ready = conn.send(Ready(), 1)
    assert ready == b"\x84\x00\x00\x01\x02\x00\x00\x00\x00"  # READY is never compressed
    assert conn.state is ConnectionState.READY

    conn.receive_data(request_frame(dp.QueryMessage("SELECT * FROM t", 1), 2, compressed=True))
    query = conn.next_event()
    assert isinstance(query, Query) and query.query == "SELECT * FROM t"
    out = conn.send(ResultVoid(warnings=["careful"]), 2)
    assert split_frame(out)[1] & 0x01, "responses after READY are compressed"
    msg = decode_response(out)
    assert msg.kind == dp.RESULT_KIND_VOID and msg.warnings == ["careful"]


def test_authentication_flow_compresses_after_authenticate() -> None:
    conn = ServerConnection()
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {"COMPRESSION": "lz4"}), 1))
    conn.next_event()
    first = conn.send(Authenticate("PasswordAuthenticator"), 1)
    assert not split_frame(first)[1] & 0x01
    assert conn.state is ConnectionState.AUTHENTICATING
    conn.receive_data(frame(4, 0x07, b"", 3))  # QUERY before auth completes
    with pytest.raises(ClientProtocolError, match="expecting AUTH_RESPONSE") as info:
        conn.next_event()
    assert info.value.stream == 3 and not info.value.fatal
    conn.receive_data(request_frame(dp.AuthResponseMessage(b"\x00u\x00p"), 2, compressed=True))
    assert conn.next_event() == AuthResponse(b"\x00u\x00p", stream=2)
    out = conn.send(AuthSuccess(), 2)
    assert split_frame(out)[1] & 0x01
    assert conn.state is ConnectionState.READY


@pytest.mark.parametrize("version", [5, 0x41, 0x42, 1, 2, 6, 0x7F, 0])
def test_unsupported_version_is_refused_on_the_same_stream(version: int) -> None:
    conn = ServerConnection()
    if version in (1, 2):
        conn.receive_data(struct.pack(">BBbBi", version, 0, 7, 0x05, 0))
    else:
        conn.receive_data(frame(version, 0x05, b"", 7))
    with pytest.raises(ClientProtocolError) as info:
        conn.next_event()
    exc = info.value
    assert exc.stream == 7 and not exc.fatal
    assert "unsupported protocol version" in exc.message
    out = conn.send(ErrorResponse.from_exception(exc), 7)
    assert out[0] == 0x84, "refusals travel in a plain v4 response header"
    msg = decode_response(out)
    assert isinstance(msg, dp.ProtocolException) and msg.stream_id == 7
    assert "unsupported protocol version" in msg.message
    # The client steps down and retries on the same connection.
    conn.receive_data(request_frame(dp.OptionsMessage(), 8, 4))
    assert conn.next_event() == Options(stream=8, version=4)
    assert conn.version == 4


def test_driver_v5_options_frame_is_refused() -> None:
    conn = ServerConnection()
    conn.receive_data(request_frame(dp.OptionsMessage(), 0, 5))
    with pytest.raises(ClientProtocolError, match="unsupported protocol version"):
        conn.next_event()
    assert conn.version is None


def test_version_is_fixed_by_first_frame() -> None:
    conn = ServerConnection()
    conn.receive_data(request_frame(dp.OptionsMessage(), 0, 3))
    assert conn.next_event() == Options(stream=0, version=3)
    conn.receive_data(request_frame(dp.OptionsMessage(), 1, 4))
    with pytest.raises(ClientProtocolError, match="previous messages") as info:
        conn.next_event()
    assert info.value.stream == 1
    assert conn.send(info.value, 1)[0] == 0x83  # answered in the connection's version


@pytest.mark.parametrize("opcode", [0x07, 0x09, 0x0A, 0x0B, 0x0D, 0x0F])
def test_requests_before_startup_are_refused(opcode: int) -> None:
    conn = ServerConnection()
    conn.receive_data(frame(4, opcode, b"\x00" * 16, 5))
    with pytest.raises(ClientProtocolError, match="expecting STARTUP or OPTIONS") as info:
        conn.next_event()
    assert info.value.stream == 5 and not info.value.fatal
    conn.receive_data(request_frame(dp.OptionsMessage(), 6))
    assert conn.next_event() == Options(stream=6)


def test_second_startup_is_refused() -> None:
    conn = ready_connection()
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {}), 4))
    with pytest.raises(ClientProtocolError, match="already initialized"):
        conn.next_event()


@pytest.mark.parametrize(
    ("options", "match"),
    [({"COMPRESSION": "snappy", "CQL_VERSION": "3.0.0"}, "Unknown compression"),
     ({"DRIVER_NAME": "x"}, "CQL_VERSION")],
)
def test_bad_startup(options: dict[str, str], match: str) -> None:
    conn = ServerConnection()
    body = bytearray(struct.pack(">H", len(options)))
    for k, v in options.items():
        body += struct.pack(">H", len(k)) + k.encode() + struct.pack(">H", len(v)) + v.encode()
    conn.receive_data(frame(4, 0x01, bytes(body), 2))
    with pytest.raises(ClientProtocolError, match=match):
        conn.next_event()
    assert conn.state is ConnectionState.AWAIT_STARTUP


def test_startup_refused_by_server_allows_retry() -> None:
    conn = ServerConnection()
    conn.receive_data(request_frame(dp.StartupMessage("9.9.9", {"COMPRESSION": "lz4"}), 1))
    conn.next_event()
    conn.send(errors.ProtocolError("bad CQL version"), 1)
    assert conn.state is ConnectionState.AWAIT_STARTUP and conn.compression is None
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {}), 2))
    assert isinstance(conn.next_event(), Startup)


def test_send_rejects_out_of_state_responses() -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError):
        conn.send(Ready(), 0)
    with pytest.raises(LocalProtocolError):
        conn.send(AuthSuccess(), 0)
    with pytest.raises(ValueError):
        conn.send(ResultVoid(), -5)


def test_byte_at_a_time_equals_whole() -> None:
    frames = (
        request_frame(dp.OptionsMessage(), 0)
        + request_frame(dp.StartupMessage("3.0.0", {"DRIVER_NAME": "x"}), 1)
    )
    whole = ServerConnection()
    whole.receive_data(frames)
    expected = events(whole)
    assert len(expected) == 2
    trickle = ServerConnection()
    got = []
    for i in range(len(frames)):
        trickle.receive_data(frames[i : i + 1])
        got.extend(events(trickle))
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_arbitrary_chunking(chunks: list[int]) -> None:
    data = b"".join(query_frame(f"SELECT {i}", i) for i in range(5))
    conn = ready_connection()
    got: list[Any] = []
    pos = 0
    for size in chunks * 20:
        if pos >= len(data):
            break
        conn.receive_data(data[pos : pos + size])
        pos += size
        got.extend(events(conn))
    if pos < len(data):
        conn.receive_data(data[pos:])  # (b"" would mean EOF)
        got.extend(events(conn))
    assert [(e.stream, e.query) for e in got] == [(i, f"SELECT {i}") for i in range(5)]


def test_trailing_garbage_waits_for_more_data() -> None:
    conn = ready_connection()
    conn.receive_data(query_frame("SELECT 1", 3) + b"\x04\x00\x00")
    assert isinstance(conn.next_event(), Query)
    assert conn.next_event() is NEED_DATA
    assert conn.buffered_bytes == 3
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed(incomplete_frame=True)


def test_clean_eof() -> None:
    conn = ready_connection()
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed(incomplete_frame=False)
    assert conn.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"more")


def test_oversized_frame_is_skipped_without_buffering() -> None:
    conn = ServerConnection(max_frame_size_bytes=100)
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {}), 0))
    conn.next_event()
    conn.send(Ready(), 0)
    big = query_frame("x" * 1000, 9)
    conn.receive_data(big[:50])
    with pytest.raises(ClientProtocolError, match="too big") as info:
        conn.next_event()
    assert info.value.stream == 9 and not info.value.fatal
    assert conn.buffered_bytes == 0
    for i in range(50, len(big), 100):
        conn.receive_data(big[i : i + 100])
        assert conn.buffered_bytes == 0
        assert conn.next_event() is NEED_DATA
    conn.receive_data(query_frame("SELECT 1", 10))
    event = conn.next_event()
    assert isinstance(event, Query) and event.stream == 10


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (frame(4, 0x42, b"", 3), "Unknown opcode"),
        (frame(4, 0x02, b"", 3), "not a request"),
        (frame(4, 0x07, b"\x00\x00\x00\x02\xff\xfe\x00\x01\x00", 3), "UTF-8"),
        (frame(4, 0x07, b"\x00\x00\x00\x08SELECT 1", 3), "Truncated"),
        (frame(4, 0x07, b"\x00\x00\x00\x01x\x00\x63\x00", 3), "consistency"),
        (frame(4, 0x07, b"\x00\x00\x00\x01x\x00\x01\x01\x00\x01\xff\xff\xff\xfd", 3), "Invalid"),
        (frame(4, 0x0B, b"\x00\x01\x00\x03FOO", 3), "Invalid value"),
        (frame(4, 0x0D, b"\x07\x00\x00", 3), "batch type"),
        (frame(4, 0x0D, b"\x00\x00\x01\x02\x00", 3), "query kind"),
        (frame(4, 0x0D, b"\x00\x00\x00\x00\x01\x40", 3), "Named values"),
        (frame(4, 0x07, b"\x00\x00\x00\x01x", 3, flags=0x01), "no compression"),
    ],
)
def test_malformed_frames_are_non_fatal(data: bytes, match: str) -> None:
    conn = ready_connection()
    conn.receive_data(data + query_frame("SELECT 2", 4))
    with pytest.raises(ClientProtocolError, match=match) as info:
        conn.next_event()
    assert info.value.stream == 3 and not info.value.fatal
    msg = decode_response(conn.send(ErrorResponse.from_exception(info.value), 3))
    assert isinstance(msg, dp.ProtocolException)
    event = conn.next_event()
    assert isinstance(event, Query) and event.stream == 4


def test_v3_rejects_unset_values() -> None:
    conn = ready_connection(version=3)
    body = b"\x00\x02id" + b"\x00\x01\x01\x00\x01\xff\xff\xff\xfe"
    conn.receive_data(frame(3, 0x0A, body, 1))
    with pytest.raises(ClientProtocolError, match="Invalid"):
        conn.next_event()


def test_garbage_lz4_body() -> None:
    conn = ready_connection(compression="lz4")
    for body in (b"\x00\x00", b"\x00\x00\x00\x10\xff\xff\xff\xff", b"\x7f\xff\xff\xff\x00",
                 b"\xff\xff\xff\xff\x00"):
        conn.receive_data(frame(4, 0x07, body, 2, flags=0x01))
        with pytest.raises(ClientProtocolError) as info:
            conn.next_event()
        assert info.value.stream == 2 and not info.value.fatal
    compressed = lz4_compress(b"\x00\x00\x00\x01x\x00\x01\x00")
    conn.receive_data(frame(4, 0x07, compressed, 2, flags=0x01))
    assert isinstance(conn.next_event(), Query)


@pytest.mark.parametrize(
    "data",
    [b"\x84\x00\x00\x01\x02\x00\x00\x00\x00",  # a response frame from the client
     frame(4, 0x05, b"", -1),  # negative stream
     struct.pack(">BBhBi", 4, 0, 3, 0x05, -5)],  # negative length
)
def test_fatal_header_errors(data: bytes) -> None:
    conn = ServerConnection()
    conn.receive_data(data)
    with pytest.raises(ClientProtocolError) as info:
        conn.next_event()
    assert info.value.fatal
    assert conn.state is ConnectionState.ERROR
    with pytest.raises(ClientProtocolError):
        conn.next_event()


def test_lwt_flag_only_when_negotiated() -> None:
    supported = {**SUPPORTED, "SCYLLA_LWT_ADD_METADATA_MARK": ["LWT_OPTIMIZATION_META_BIT_MASK=2147483648"]}
    prepared = ResultPrepared(b"id", [ColumnSpec("ks", "t", "k", (INT,))], [0], None, lwt=True)
    for options, expected in (({"SCYLLA_LWT_ADD_METADATA_MARK": "2147483648"}, 0x80000000), ({}, 0)):
        conn = ServerConnection(supported=supported)
        conn.receive_data(request_frame(dp.StartupMessage("3.0.0", options), 1))
        conn.next_event()
        conn.send(Ready(), 1)
        body = split_frame(conn.send(prepared, 2))[4]
        # kind(4) + [short bytes] id(2 + 2), then the prepared metadata flags
        flags = struct.unpack_from(">I", body, 8)[0]
        assert flags & 0x80000000 == expected
        assert decode_response(conn.send(prepared, 2)).query_id == b"id"


class _RateLimited(errors.CQLError):
    code = errors.ErrorCode.RATE_LIMIT

    def __init__(self) -> None:
        super().__init__("rate limit reached")
        self.op_type = 0
        self.rejected_by_coordinator = True


def test_rate_limit_error_code_negotiation() -> None:
    supported = {**SUPPORTED, "SCYLLA_RATE_LIMIT_ERROR": ["ERROR_CODE=61440"]}
    conn = ServerConnection(supported=supported)
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {}), 1))
    conn.next_event()
    assert decode_response(conn.send(_RateLimited(), 1)).code == errors.ErrorCode.CONFIG_ERROR
    conn = ServerConnection(supported=supported)
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {"SCYLLA_RATE_LIMIT_ERROR": ""}), 1))
    conn.next_event()
    body = split_frame(conn.send(_RateLimited(), 1))[4]
    assert struct.unpack_from(">i", body)[0] == 61440
    assert body[-2:] == b"\x00\x01"


def test_constructor_validates_supported() -> None:
    with pytest.raises(ValueError, match="COMPRESSION"):
        ServerConnection(supported={"CQL_VERSION": ["3.3.1"]})
    with pytest.raises(ValueError, match="snappy"):
        ServerConnection(supported={"CQL_VERSION": ["3.3.1"], "COMPRESSION": ["lz4", "snappy"]})


def test_prepare_while_ready() -> None:
    conn = ready_connection()
    conn.receive_data(request_frame(dp.PrepareMessage("SELECT * FROM t WHERE k = ?"), 12))
    assert conn.next_event() == Prepare("SELECT * FROM t WHERE k = ?", stream=12)


def test_unsupported_version_refused_before_its_body_arrives() -> None:
    conn = ServerConnection()
    v5_startup = frame(5, 0x01, b"\x00\x01\x00\x0bCQL_VERSION\x00\x053.0.0", 3)
    conn.receive_data(v5_startup[:12])
    with pytest.raises(ClientProtocolError, match="unsupported protocol version") as info:
        conn.next_event()
    assert info.value.stream == 3 and not info.value.fatal
    conn.receive_data(v5_startup[12:] + request_frame(dp.OptionsMessage(), 4))
    assert conn.next_event() == Options(stream=4)


def test_non_cql_bytes_are_fatal() -> None:
    conn = ServerConnection()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ClientProtocolError, match="Not a CQL frame") as info:
        conn.next_event()
    assert info.value.fatal


def test_register_is_answered_with_ready() -> None:
    conn = ready_connection(compression="lz4")
    conn.receive_data(request_frame(dp.RegisterMessage(["SCHEMA_CHANGE"]), 6, compressed=True))
    assert conn.next_event().stream == 6  # type: ignore[union-attr]
    assert isinstance(decode_response(conn.send(Ready(), 6)), dp.ReadyMessage)
    assert conn.state is ConnectionState.READY


def test_negotiated_extensions_and_tablets_payload_gate() -> None:
    supported = {**SUPPORTED, "TABLETS_ROUTING_V1": [""], "SCYLLA_NR_SHARDS": ["2"]}
    payload = {"tablets-routing-v1": b"\x00", "other": b"\x01"}
    for options, expected in (({"TABLETS_ROUTING_V1": "", "DRIVER_NAME": "d"}, payload),
                              ({"DRIVER_NAME": "d"}, {"other": b"\x01"})):
        conn = ServerConnection(supported=supported)
        conn.receive_data(request_frame(dp.StartupMessage("3.0.0", options), 1))
        conn.next_event()
        assert conn.negotiated_extensions == ({"TABLETS_ROUTING_V1"} if len(expected) == 2 else set())
        conn.send(Ready(), 1)
        assert decode_response(conn.send(ResultVoid(custom_payload=payload), 2)).custom_payload == expected


def test_supported_without_required_keys_is_a_server_bug() -> None:
    with pytest.raises(ValueError, match="COMPRESSION"):
        ServerConnection().send(Supported({"CQL_VERSION": ["3.3.1"]}), 0)


def test_unhashable_type_options_are_encoded_uncached() -> None:
    from cql.protocol_types import UDT

    udt = (UDT, "ks", "addr", [("street", (0x000D,))])  # a list inside: not hashable
    msg = decode_response(ready_connection().send(
        ResultPrepared(b"i", [ColumnSpec("ks", "t", "a", udt)], [], None), 1))
    assert msg.bind_metadata[0].type.fieldnames == ("street",)


def test_requests_read_before_eof_can_still_be_answered() -> None:
    conn = ServerConnection()
    conn.receive_data(request_frame(dp.StartupMessage("3.0.0", {}), 1))
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), Startup)
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is ConnectionState.CLOSED
    assert decode_response(conn.send(Ready(), 1)).stream_id == 1


def test_malformed_extension_parameters_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="ERROR_CODE"):
        ServerConnection(supported={**SUPPORTED, "SCYLLA_RATE_LIMIT_ERROR": ["ERROR_CODE=x"]})


@pytest.mark.parametrize(
    "response",
    [ResultPrepared(b"i", [ColumnSpec("ks", "t", "a", (INT,))], [70000], None),
     errors.Unavailable("u", 70000, 1, 1),
     ResultVoid(warnings=["x" * 70000])],
)
def test_unencodable_responses_raise_value_error(response: Any) -> None:
    conn = ready_connection()
    with pytest.raises(ValueError):
        conn.send(response, 1)
    assert conn.state is ConnectionState.READY

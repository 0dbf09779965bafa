"""The fast paths of ServerConnection agree with the general ones.

`decode_fast` (QUERY/EXECUTE read in place) must return exactly what the general decoder returns
for every body the general decoder accepts, and None (never an exception) for every body it
rejects, so that the connection's errors stay those of the general path. The chunked receive
buffer must deliver the same events however the bytes are split. Responses sent through the
fast encoders must be byte-identical to the general encoders' output.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from cassandra import protocol as dp
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.protocol import (
    NEED_DATA,
    ClientProtocolError,
    ConnectionClosed,
    Execute,
    Options,
    Prepare,
    Query,
    ResultRows,
    ResultVoid,
    ServerConnection,
)
from cql.protocol.frame import Opcode
from cql.protocol.requests import DECODERS, FrameInfo, decode_fast
from cql.protocol.wire import BodyReader
from cql.protocol_types import BLOB, INT, ColumnSpec
from tests.cql.protocol.oracle import decode_response, lz4_compress, request_frame, split_frame
from tests.cql.protocol.test_requests import ready_connection

_OPCODES = [int(Opcode.EXECUTE), int(Opcode.QUERY)]


def _value(v: bytes | int) -> bytes:
    """A [value]: bytes, or an int standing for a negative length (-1 null, -2 unset, -3 bad)."""
    if isinstance(v, int):
        return struct.pack(">i", v)
    return struct.pack(">i", len(v)) + v


@st.composite
def bodies(draw: st.DrawFn) -> tuple[int, bytes]:
    """QUERY/EXECUTE bodies over every flag combination, with out-of-range fields now and then."""
    opcode = draw(st.sampled_from(_OPCODES))
    if opcode == Opcode.EXECUTE:
        query_id = draw(st.binary(max_size=20))
        body = struct.pack(">H", len(query_id)) + query_id
    else:
        text = draw(st.text(max_size=20)).encode() if draw(st.booleans()) else draw(st.binary(max_size=8))
        body = struct.pack(">i", len(text)) + text
    flags = draw(st.integers(0, 0xFF))
    body += struct.pack(">HB", draw(st.integers(0, 12)), flags)
    if flags & 0x01:
        values = draw(st.lists(st.binary(max_size=12) | st.sampled_from([-1, -2, -3]), max_size=8))
        if flags & 0x40:
            body += struct.pack(">H", len(values))
            for i, v in enumerate(values):
                name = f"v{i}".encode()
                body += struct.pack(">H", len(name)) + name + _value(v)
        else:
            body += struct.pack(">H", len(values)) + b"".join(_value(v) for v in values)
    if flags & 0x04:
        body += struct.pack(">i", draw(st.integers(-(2**31), 2**31 - 1)))
    if flags & 0x08:
        body += _value(draw(st.binary(max_size=12) | st.sampled_from([-1, -5])))
    if flags & 0x10:
        body += struct.pack(">H", draw(st.integers(0, 12)))
    if flags & 0x20:
        body += struct.pack(">q", draw(st.integers(-(2**63), 2**63 - 1)))
    body += draw(st.binary(max_size=3))  # trailing bytes are ignored
    return opcode, body


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[int, bytes]:
    opcode, body = draw(bodies())
    data = bytearray(body)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["flip", "truncate", "insert"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
    return opcode, bytes(data)


def _general(opcode: int, body: bytes, version: int, tracing: bool) -> Any:
    try:
        return DECODERS[opcode](BodyReader(body), FrameInfo(5, version, tracing, None))
    except ClientProtocolError:
        return ClientProtocolError


@settings(max_examples=800, deadline=None)
@given(mutated_bodies(), st.sampled_from([3, 4]), st.booleans(), st.binary(max_size=4))
def test_decode_fast_agrees_with_the_general_decoder(
    case: tuple[int, bytes], version: int, tracing: bool, around: bytes
) -> None:
    opcode, body = case
    expected = _general(opcode, body, version, tracing)
    # The body sits inside a larger buffer, as in the receive buffer: nothing outside is read.
    data = around + body + around
    got = decode_fast(opcode, data, len(around), len(around) + len(body), 5, version, tracing)
    if expected is ClientProtocolError:
        assert got is None
        return
    if got is None:
        # Only named values may take the general path when the general decoder accepts the body.
        assert expected.params.named_values is not None
        return
    assert got == expected
    assert type(got.params.values) is tuple
    assert all(type(v) is bytes for v in got.params.values if isinstance(v, bytes))


@settings(max_examples=200, deadline=None)
@given(bodies(), st.sampled_from([3, 4]))
def test_decode_fast_takes_every_positional_request(case: tuple[int, bytes], version: int) -> None:
    opcode, body = case
    expected = _general(opcode, body, version, False)
    got = decode_fast(opcode, body, 0, len(body), 5, version, False)
    if expected is not ClientProtocolError and expected.params.named_values is None:
        assert got == expected


def _execute_body(query_id: bytes, values: list[bytes | int], tail: bytes = b"") -> bytes:
    return (struct.pack(">H", len(query_id)) + query_id + struct.pack(">HBH", 1, 0x01, len(values))
            + b"".join(_value(v) for v in values) + tail)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from([b"", b"a", b"bb", b"c" * 34, -1, -2, -3]), max_size=4),
                min_size=1, max_size=12),
       st.integers(0, 3), st.sampled_from([3, 4]))
def test_value_layouts_of_a_statement(rows: list[list[bytes | int]], cut: int, version: int) -> None:
    """One statement executed again and again with values of repeating or changing lengths
    (learned layouts hit, miss, are rebuilt and given up), sometimes cut short: always the
    general decoder's result."""
    from cql.protocol import requests

    query_id = b"layout-test-%d" % version
    requests._LAYOUTS.pop(query_id, None)
    for i, row in enumerate(rows):
        body = _execute_body(query_id, row)
        if cut and i % 2:
            body = body[:-cut]
        expected = _general(Opcode.EXECUTE, body, version, False)
        got = decode_fast(int(Opcode.EXECUTE), body + b"\x00\x00\x00\x05trail", 0, len(body), 5, version, False)
        if expected is ClientProtocolError:
            assert got is None
        else:
            assert got == expected


def test_repeated_value_lengths_are_read_with_one_struct() -> None:
    from cql.protocol import requests

    query_id = b"layout-hit"
    requests._LAYOUTS.pop(query_id, None)
    values: list[bytes | int] = [b"k" * 10, b"v" * 34, b""]
    body = _execute_body(query_id, values)
    first = decode_fast(int(Opcode.EXECUTE), body, 0, len(body), 1, 4, False)
    layout = requests._LAYOUTS[query_id]
    assert layout[0] is not None and layout[1] == (10, 34, 0)
    again = _execute_body(query_id, [b"K" * 10, b"w" * 34, b""])
    got = decode_fast(int(Opcode.EXECUTE), again, 0, len(again), 1, 4, False)
    assert requests._LAYOUTS[query_id] is layout  # a hit: nothing relearned
    assert first is not None and first.params.values == (b"k" * 10, b"v" * 34, b"")
    assert got is not None and got.params.values == (b"K" * 10, b"w" * 34, b"")
    # Lengths that keep changing: rebuilt a few times, then no longer tried.
    for n in range(10):
        body = _execute_body(query_id, [b"x" * n])
        got = decode_fast(int(Opcode.EXECUTE), body, 0, len(body), 1, 4, False)
        assert got is not None and got.params.values == (b"x" * n,)
    assert requests._LAYOUTS[query_id][0] is None


def test_decode_fast_declines_other_opcodes() -> None:
    for opcode in (Opcode.PREPARE, Opcode.BATCH, Opcode.OPTIONS, 0x42):
        assert decode_fast(int(opcode), b"\x00" * 32, 0, 32, 1, 4, False) is None


# --- the receive buffer --------------------------------------------------------------------------


def _mixed_frames() -> tuple[bytes, list[tuple[type, int]]]:
    """A pipeline mixing fast-path frames (EXECUTE/QUERY, lz4 too) and general ones."""
    frames = [
        (request_frame(dp.ExecuteMessage(b"\x01\x02", [b"k" * 10, None, b"v" * 40], 1, None, 5000,
                                         None, 17), 1, compressed=True), Execute, 1),
        (request_frame(dp.OptionsMessage(), 2), Options, 2),
        (request_frame(dp.QueryMessage("SELECT * FROM t WHERE k = 1", 1), 3), Query, 3),
        (request_frame(dp.PrepareMessage("SELECT 1"), 4), Prepare, 4),
        (request_frame(dp.ExecuteMessage(b"\x09" * 16, [b"x" * 300] * 6, 4), 5), Execute, 5),
        (request_frame(dp.QueryMessage("SELECT 2", 1), 6, compressed=True), Query, 6),
    ]
    return b"".join(f for f, _, _ in frames), [(t, s) for _, t, s in frames]


def _drain(conn: ServerConnection) -> list[Any]:
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=30), st.sampled_from([bytes, bytearray, memoryview]))
def test_any_chunking_gives_the_same_events(chunks: list[int], kind: type) -> None:
    data, expected = _mixed_frames()
    whole = ready_connection(compression="lz4")
    whole.receive_data(data)
    reference = _drain(whole)
    assert [(type(e), e.stream) for e in reference] == expected
    conn = ready_connection(compression="lz4")
    got: list[Any] = []
    pos = 0
    for size in chunks * 40:
        if pos >= len(data):
            break
        conn.receive_data(kind(data[pos : pos + size]))
        pos += size
        got.extend(_drain(conn))
        assert conn.buffered_bytes == min(pos, len(data)) - sum(len(_frame_of(e, data)) for e in got)
    if pos < len(data):
        conn.receive_data(data[pos:])
        got.extend(_drain(conn))
    assert got == reference
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed(incomplete_frame=False)


def _frame_of(event: Any, data: bytes) -> bytes:
    """The frame of `event` within `data` (frames are found by walking the headers)."""
    pos = 0
    while pos < len(data):
        length = struct.unpack_from(">i", data, pos + 5)[0]
        stream = struct.unpack_from(">h", data, pos + 2)[0]
        if stream == event.stream:
            return data[pos : pos + 9 + length]
        pos += 9 + length
    raise AssertionError(f"no frame for stream {event.stream}")


def test_received_bytearray_is_copied() -> None:
    conn = ready_connection()
    chunk = bytearray(request_frame(dp.ExecuteMessage(b"id", [b"abc"], 1), 3))
    conn.receive_data(chunk)
    chunk[:] = b"\x00" * len(chunk)  # the caller reuses its buffer
    event = conn.next_event()
    assert isinstance(event, Execute) and event.params.values == (b"abc",) and event.stream == 3


def test_fast_path_errors_are_the_general_ones() -> None:
    """A malformed EXECUTE fails with the general decoder's message, on its stream, and the
    frame after it is still decoded."""
    good = request_frame(dp.ExecuteMessage(b"id", [b"abc"], 1), 4)
    bad_body = b"\x00\x02id" + b"\x00\x01\x01\x00\x02\x00\x00\x00\x09abc"  # value longer than body
    bad = struct.pack(">BBhBi", 4, 0, 3, 0x0A, len(bad_body)) + bad_body
    conn = ready_connection()
    conn.receive_data(bad + good)
    with pytest.raises(ClientProtocolError, match=r"Truncated frame body: \[value\] needs 9 bytes at offset 13") as info:
        conn.next_event()
    assert info.value.stream == 3 and not info.value.fatal
    event = conn.next_event()
    assert isinstance(event, Execute) and event.stream == 4


def test_corrupt_lz4_execute_fails_on_its_stream() -> None:
    conn = ready_connection(compression="lz4")
    body = b"\x00\x00\x00\x10\xff\xff\xff\xff"
    conn.receive_data(struct.pack(">BBhBi", 4, 0x01, 8, 0x0A, len(body)) + body)
    with pytest.raises(ClientProtocolError, match="lz4") as info:
        conn.next_event()
    assert info.value.stream == 8 and not info.value.fatal


def test_compressed_execute_before_compression_was_negotiated() -> None:
    conn = ready_connection()
    body = lz4_compress(b"\x00\x02id\x00\x01\x00")
    conn.receive_data(struct.pack(">BBhBi", 4, 0x01, 8, 0x0A, len(body)) + body)
    with pytest.raises(ClientProtocolError, match="no compression was negotiated"):
        conn.next_event()


# --- responses -----------------------------------------------------------------------------------

_COLUMNS = tuple(ColumnSpec("ks", "t", f"c{i}", (BLOB,) if i else (INT,)) for i in range(6))
_ROW = [b"\x00\x00\x00\x07", b"a" * 34, None, b"", b"b" * 1500, b"c"]  # 1500: past the small lengths


def _general_frame(conn: ServerConnection, response: Any, stream: int) -> bytes:
    """The frame written out by hand from the spec (sections 2.2, 4.2.5.1, 4.2.5.2), with the
    column specs from the value-keyed `_specs_of`, independent of the fast paths' caches."""
    from cql.protocol.frame import lz4_compress
    from cql.protocol.responses import _specs_of

    version = conn._ctx.version
    flags = 0
    body = b""
    if version >= 4 and response.warnings:
        flags |= 0x08
        body += struct.pack(">H", len(response.warnings))
        for w in response.warnings:
            body += struct.pack(">H", len(w)) + w.encode()
    if version >= 4 and response.custom_payload:
        flags |= 0x04
        body += struct.pack(">H", len(response.custom_payload))
        for k, v in response.custom_payload.items():
            body += struct.pack(">H", len(k)) + k.encode() + _value(v)
    if isinstance(response, ResultVoid):
        body += struct.pack(">i", 1)
    else:
        spec_flag, specs = _specs_of(response.columns)
        meta_flags = (0x04 if response.no_metadata else spec_flag) | (0x02 if response.paging_state is not None else 0)
        body += struct.pack(">iii", 2, meta_flags, len(response.columns))
        if response.paging_state is not None:
            body += _value(response.paging_state)
        if not response.no_metadata:
            body += specs
        body += struct.pack(">i", len(response.rows))
        for row in response.rows:
            body += b"".join(_value(-1 if cell is None else cell) for cell in row)
    if conn._compress_out:
        body = lz4_compress(body)
        flags |= 0x01
    return struct.pack(">BBhBi", 0x80 | version, flags, stream, 0x08, len(body)) + body


@pytest.mark.parametrize("compression", [None, "lz4"])
@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize(
    "response",
    [
        ResultVoid(),
        ResultVoid(warnings=("w",)),
        ResultRows(_COLUMNS, [_ROW]),
        ResultRows(_COLUMNS, [_ROW, _ROW], no_metadata=True),
        ResultRows(list(_COLUMNS), [_ROW], paging_state=b"ps"),
        ResultRows(_COLUMNS, [], paging_state=b"", no_metadata=True),
        ResultRows(_COLUMNS, [_ROW], custom_payload={"k": b"v"}),
        ResultRows((), []),
    ],
    ids=lambda r: f"{type(r).__name__}-{len(getattr(r, 'rows', ()))}rows",
)
def test_fast_encoders_match_the_general_encoder(response: Any, version: int, compression: str | None) -> None:
    conn = ready_connection(version, compression)
    for _ in range(2):  # the second time from the caches
        sent = conn.send(response, 77)
        assert sent == _general_frame(conn, response, 77)
        assert type(sent) is bytes
    if getattr(response, "columns", True) and not getattr(response, "no_metadata", False):
        decode_response(sent)  # the driver reads it
    assert split_frame(sent)[2] == 77


def test_rows_of_the_wrong_width_are_a_value_error() -> None:
    conn = ready_connection()
    with pytest.raises(ValueError, match="Row has 2 cells, metadata has 6 columns"):
        conn.send(ResultRows(_COLUMNS, [[b"a", b"b"]]), 1)
    with pytest.raises(ValueError, match="out of range"):
        conn.send(ResultVoid(), 0x8000)


def test_rows_metadata_cache_sees_a_changed_column_list() -> None:
    """The metadata cache is keyed by the column sequence object; a list changed in place
    between two responses must not be answered with the old metadata."""
    conn = ready_connection()
    columns = list(_COLUMNS[:2])
    row = [b"\x00\x00\x00\x01", b"x"]
    first = conn.send(ResultRows(columns, [row]), 1)
    assert first == _general_frame(conn, ResultRows(list(_COLUMNS[:2]), [row]), 1)
    columns[1] = ColumnSpec("ks", "t", "renamed", (BLOB,))
    second = conn.send(ResultRows(columns, [row]), 1)
    assert second != first
    assert second == _general_frame(conn, ResultRows(list(columns), [row]), 1)
    columns.append(ColumnSpec("ks", "t", "c9", (BLOB,)))
    third = conn.send(ResultRows(columns, [[*row, b""]]), 1)
    assert third == _general_frame(conn, ResultRows(list(columns), [[*row, b""]]), 1)

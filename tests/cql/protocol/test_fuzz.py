"""Garbage in, only ClientProtocolError out (h11's fuzzing rule), on fresh and ready connections."""

from __future__ import annotations

from cassandra import protocol as dp
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.protocol import NEED_DATA, ClientProtocolError, ConnectionClosed, ServerConnection
from tests.cql.protocol.oracle import request_frame
from tests.cql.protocol.test_requests import ready_connection

VALID_FRAMES = [
    request_frame(dp.OptionsMessage(), 1),
    request_frame(dp.StartupMessage("3.0.0", {"COMPRESSION": "lz4", "DRIVER_NAME": "d"}), 2),
    request_frame(dp.QueryMessage("SELECT * FROM ks.t WHERE k = 1", 1, 8, 5000, b"ps", 17), 3),
    request_frame(dp.ExecuteMessage(b"\x01\x02", [b"a", None, b""], 4, None, 100), 4),
    request_frame(dp.PrepareMessage("INSERT INTO t (a) VALUES (?)"), 5),
    request_frame(dp.RegisterMessage(["SCHEMA_CHANGE", "STATUS_CHANGE"]), 6),
    request_frame(dp.AuthResponseMessage(b"\x00cassandra\x00cassandra"), 7),
    request_frame(dp.ExecuteMessage(b"\x09", [b"x" * 300], 1), 8, compressed=True),
]


def drain(conn: ServerConnection, limit: int = 200) -> None:
    """Pull events until NEED_DATA/close/fatal; only ClientProtocolError may escape next_event."""
    for _ in range(limit):
        try:
            event = conn.next_event()
        except ClientProtocolError as exc:
            assert exc.stream is None or -0x8000 <= exc.stream <= 0x7FFF
            if exc.fatal:
                return
            conn.send(exc, exc.stream if exc.stream is not None else 0)  # answering must work
            continue
        if event is NEED_DATA or isinstance(event, ConnectionClosed):
            return


def fresh() -> ServerConnection:
    return ServerConnection(max_frame_size_bytes=4096)


def ready() -> ServerConnection:
    return ready_connection(compression="lz4")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes(data: bytes, is_ready: bool) -> None:
    conn = ready() if is_ready else fresh()
    conn.receive_data(data)
    drain(conn)
    conn.receive_data(b"")
    drain(conn)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(VALID_FRAMES), min_size=1, max_size=3))))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[pos : pos + draw(st.integers(1, 8))]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(mutated(), st.booleans(), st.integers(1, 50))
def test_mutated_frames(data: bytes, is_ready: bool, chunk: int) -> None:
    conn = ready() if is_ready else fresh()
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])
        drain(conn)

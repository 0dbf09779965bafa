"""Replays the worked example of docs/protocol.md byte for byte (leveldb habit: the format spec's
example is a test, so the doc cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

from cql import protocol_types as pt
from cql.protocol import (
    NEED_DATA,
    ClientProtocolError,
    Options,
    Query,
    Ready,
    Response,
    ResultRows,
    ServerConnection,
    Startup,
    Supported,
)
from cql.protocol_types import ColumnSpec

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def transcript() -> list[tuple[str, bytes]]:
    text = DOC.read_text()
    block = re.search(r"```transcript\n(.*?)```", text, re.S)
    assert block, "docs/protocol.md lost its transcript"
    frames: list[tuple[str, bytes]] = []
    for line in block.group(1).splitlines():
        code = line.split("#", 1)[0]
        if not code.strip():
            continue
        if code[:2] in ("C:", "S:"):
            frames.append((code[0], b""))
            code = code[2:]
        hexdigits = re.sub(r"\s", "", code)
        side, data = frames[-1]
        frames[-1] = (side, data + bytes.fromhex(hexdigits))
    return frames


def answer(conn: ServerConnection) -> Response | ClientProtocolError:
    try:
        event = conn.next_event()
    except ClientProtocolError as exc:
        return exc
    assert event is not NEED_DATA
    if isinstance(event, Options):
        return Supported(conn.supported)
    if isinstance(event, Startup):
        return Ready()
    assert isinstance(event, Query) and event.query == "SELECT k FROM ks.t"
    return ResultRows((ColumnSpec("ks", "t", "k", (pt.INT,)),), [[(42).to_bytes(4, "big")]])


def test_transcript_replays() -> None:
    frames = transcript()
    assert [side for side, _ in frames] == ["C", "S"] * 4
    conn = ServerConnection(supported={"CQL_VERSION": ["3.3.1"], "COMPRESSION": ["lz4"]})
    for (_, request), (_, expected) in zip(frames[::2], frames[1::2]):
        conn.receive_data(request)
        response = answer(conn)
        stream = int.from_bytes(request[2:4], "big")
        assert conn.send(response, stream) == expected
    assert conn.next_event() is NEED_DATA

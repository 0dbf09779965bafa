"""A tiny threaded CQL server built on the codec, for tests with real drivers over real sockets.

It answers a fixed script (see `_answer`), enough to exercise the handshake, version refusal,
compression, rows, prepared statements, errors, warnings and custom payloads.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from cql import errors
from cql import protocol_types as pt
from cql.protocol import (
    NEED_DATA,
    AuthResponse,
    AuthSuccess,
    ClientProtocolError,
    ConnectionClosed,
    Execute,
    Options,
    Prepare,
    Query,
    Ready,
    Register,
    Request,
    Response,
    ResultPrepared,
    ResultRows,
    ResultSetKeyspace,
    ResultVoid,
    ServerConnection,
    Startup,
    Supported,
    tablets_routing_payload,
)
from cql.protocol_types import ColumnSpec

SUPPORTED = {
    "CQL_VERSION": ["3.3.1"],
    "COMPRESSION": ["lz4"],
    "SCYLLA_LWT_ADD_METADATA_MARK": ["LWT_OPTIMIZATION_META_BIT_MASK=2147483648"],
    "SCYLLA_RATE_LIMIT_ERROR": ["ERROR_CODE=61440"],
    "TABLETS_ROUTING_V1": [""],
}
ROW_COLUMNS = (
    ColumnSpec("ks", "t", "k", (pt.INT,)),
    ColumnSpec("ks", "t", "v", (pt.VARCHAR,)),
    ColumnSpec("ks", "t", "tags", (pt.LIST, (pt.VARCHAR,))),
)
TABLET_HOST = uuid.UUID("12345678-1234-5678-1234-567812345678")


def _row(k: int, v: str | None) -> list[bytes | None]:
    tags = b"\x00\x00\x00\x01" + b"\x00\x00\x00\x01a"  # list<text> ['a']
    return [k.to_bytes(4, "big", signed=True), None if v is None else v.encode(), tags]


def _answer(request: Request) -> Response | errors.CQLError:
    if isinstance(request, Options):
        return Supported(SUPPORTED)
    if isinstance(request, Startup | Register):
        return Ready()
    if isinstance(request, AuthResponse):
        return AuthSuccess()
    if isinstance(request, Prepare):
        binds = [ColumnSpec("ks", "t", "k", (pt.INT,))]
        return ResultPrepared(b"\x0a\x0b", binds, [0], None if "INSERT" in request.query else ROW_COLUMNS,
                              lwt="IF NOT EXISTS" in request.query)
    if isinstance(request, Execute):
        k = request.params.values[0]
        assert isinstance(k, bytes)
        return ResultRows(ROW_COLUMNS, [_row(int.from_bytes(k, "big", signed=True), "executed")],
                          no_metadata=request.params.skip_metadata)
    assert isinstance(request, Query)
    q = request.query
    if q == "SELECT rows":
        return ResultRows(ROW_COLUMNS, [_row(1, "one"), _row(2, None), _row(-3, "ünï")])
    if q == "SELECT paged":
        return ResultRows(ROW_COLUMNS, [_row(1, "one")], paging_state=b"page-2")
    if q == "USE ks":
        return ResultSetKeyspace("ks")
    if q == "FAIL unavailable":
        return errors.Unavailable("Cannot achieve consistency level QUORUM", 4, 2, 1)
    if q == "FAIL rate":
        exc = errors.CQLError("rate limit reached")
        exc.code = errors.ErrorCode.RATE_LIMIT
        return exc
    if q == "WARN":
        return ResultVoid(warnings=["Batch too large"])
    if q == "TABLET":
        return ResultVoid(custom_payload=tablets_routing_payload(-100, 200, [(TABLET_HOST, 3)]))
    return errors.InvalidRequest(f"unknown test query {q!r}")


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        conn = ServerConnection(max_frame_size_bytes=1 << 20, supported=SUPPORTED)
        while True:
            data = sock.recv(65536)
            conn.receive_data(data)
            while True:
                try:
                    event = conn.next_event()
                except ClientProtocolError as exc:
                    if exc.stream is not None:
                        sock.sendall(conn.send(exc, exc.stream))
                    if exc.fatal:
                        return
                    continue
                if event is NEED_DATA:
                    break
                if isinstance(event, ConnectionClosed):
                    return
                sock.sendall(conn.send(_answer(event), event.stream))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def live_server() -> Iterator[int]:
    """Serve on 127.0.0.1; yields the port."""
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()

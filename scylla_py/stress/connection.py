"""The asyncio shell around the sans-IO client codec (`cql.protocol.client`): one TCP connection.

Owns the socket, the handshake (OPTIONS, STARTUP with the extensions the server advertises,
SASL PLAIN), and the dispatch of responses to per-request callbacks. Requests are written
coalesced: frames queued while responses are being processed (or within one event-loop iteration)
go out in one `transport.write`. Many requests may be in flight; the codec hands out stream ids.

The hot path is callback based, not a coroutine per request: `execute(statement, values,
consistency, callback)` and, when the answer arrives, `callback(response, latency_ns)` runs inside
`data_received`, so a load generator can issue the next request from it without a task switch.
Latency runs from the call that queued the request to the read that delivered its answer; all
responses of one read share that timestamp. `request()` is an awaitable for the setup path.

Invariants: every callback runs exactly once, with the response, or with an exception (a
malformed answer on its stream, or `ConnectionError` when the connection is lost or closed).
Events (stream -1) are dropped: we never REGISTER.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, cast

from cql.protocol import Consistency, ErrorResponse, Response, Supported
from cql.protocol.client import (
    MAX_STREAMS,
    TABLETS_ROUTING_V1,
    ClientConnection,
    PreparedStatement,
    Received,
    ServerProtocolError,
    ShardingInfo,
    sasl_plain_token,
    startup_options,
)
from cql.protocol.responses import Authenticate, AuthSuccess, Ready, ResultPrepared
from cql.protocol.wire import Value

from .config import StressError

log = logging.getLogger(__name__)

Callback = Callable[[Response | Exception, int], None]
"""Called with (response or exception, latency in ns)."""

DRIVER_NAME: Final = "scylla-py stress"
SHARD_AWARE_PORT_RANGE: Final = (49152, 65535)


class CQLConnection(asyncio.Protocol):
    """One connection. Create with `connect()`; see the module docstring."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.codec = ClientConnection()
        self.supported: Mapping[str, Sequence[str]] = {}
        self.sharding: ShardingInfo | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._callbacks: list[Callback | None] = [None] * MAX_STREAMS
        self._sent_at = [0] * MAX_STREAMS
        self._writes: list[bytes] = []
        self._flush_scheduled = False
        self._receiving = False
        self._now = 0

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small frames, answered one by one: Nagle would add a round trip of latency.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        codec = self.codec
        codec.receive_data(data)
        callbacks = self._callbacks
        sent_at = self._sent_at
        self._receiving = True
        self._now = now = time.perf_counter_ns()
        try:
            while True:
                try:
                    item = codec.next_response()
                except ServerProtocolError as exc:
                    if exc.fatal:
                        self._fail(ConnectionError(f"{self.name}: protocol error: {exc.message}"))
                        return
                    if exc.stream is not None and exc.stream >= 0:
                        self._complete(exc.stream, exc, now)
                    continue
                if item.__class__ is not Received:
                    break  # NEED_DATA, or ConnectionClosed (connection_lost follows)
                stream = item.stream
                if stream < 0:
                    continue  # an EVENT: never registered for, nothing to do
                callback = callbacks[stream]
                callbacks[stream] = None
                if callback is not None:
                    callback(item.response, now - sent_at[stream])
        finally:
            self._receiving = False
        if self._writes:
            self._flush()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost fails what is in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        reason = f"{self.name}: connection lost" + (f": {exc}" if exc else "")
        self._fail(ConnectionError(reason))

    # --- requests ------------------------------------------------------------------------------

    def execute(self, statement: PreparedStatement, values: Sequence[Value],
                consistency: Consistency, callback: Callback) -> None:
        """Queue an EXECUTE; `callback` gets its answer. Hot path. ConnectionError once lost."""
        if self._transport is None:
            raise ConnectionError(f"{self.name}: connection is closed")
        stream, frame = self.codec.execute(statement, values, consistency)
        self._callbacks[stream] = callback
        self._sent_at[stream] = self._now if self._receiving else time.perf_counter_ns()
        self._write(frame)

    def send(self, make: Callable[[ClientConnection], tuple[int, bytes]], callback: Callback) -> None:
        """Queue any request built by `make(codec)`. ConnectionError once lost."""
        if self._transport is None:
            raise ConnectionError(f"{self.name}: connection is closed")
        stream, frame = make(self.codec)
        self._callbacks[stream] = callback
        self._sent_at[stream] = time.perf_counter_ns()
        self._write(frame)

    async def request(self, make: Callable[[ClientConnection], tuple[int, bytes]]) -> Response:
        """Send one request and await its response (an exception is raised, an ERROR returned)."""
        future: asyncio.Future[Response] = self._loop.create_future()

        def done(result: Response | Exception, latency_ns: int) -> None:
            if future.done():
                return
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

        self.send(make, done)
        return await future

    async def query(self, text: str, consistency: Consistency = Consistency.ONE) -> Response:
        """Run a statement; raise StressError if the server answers with an ERROR."""
        response = await self.request(lambda c: c.query(text, consistency))
        if isinstance(response, ErrorResponse):
            raise StressError(f"{text}: {response.error.message}")
        return response

    async def prepare(self, text: str) -> PreparedStatement:
        response = await self.request(lambda c: c.prepare(text))
        if isinstance(response, ErrorResponse):
            raise StressError(f"cannot prepare {text}: {response.error.message}")
        if not isinstance(response, ResultPrepared):
            raise StressError(f"cannot prepare {text}: unexpected {type(response).__name__}")
        return PreparedStatement.from_result(text, response)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # --- internals -----------------------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        self._writes.append(frame)
        if not self._receiving and not self._flush_scheduled:
            # Requests queued outside data_received (the first burst, timers) leave together at
            # the end of this loop iteration.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._writes:
            return
        data = b"".join(self._writes)
        self._writes.clear()
        if self._transport is not None:
            self._transport.write(data)

    def _complete(self, stream: int, result: Response | Exception, now: int) -> None:
        callback = self._callbacks[stream]
        self._callbacks[stream] = None
        if callback is not None:
            callback(result, now - self._sent_at[stream])

    def _fail(self, exc: ConnectionError) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._writes.clear()
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        now = time.perf_counter_ns()
        for stream, callback in enumerate(self._callbacks):
            if callback is not None:
                self._complete(stream, exc, now)


# --- connecting ----------------------------------------------------------------------------------


async def connect(
    host: str,
    port: int,
    *,
    name: str,
    credentials: tuple[str, str] | None = None,
    local_port: int | None = None,
    timeout_s: float = 10.0,
) -> CQLConnection:
    """Open a connection (from `local_port` if given) and run the handshake.

    Raises OSError for socket failures (refused, unreachable, source port in use) and
    StressError for a handshake the server refuses.
    """
    loop = asyncio.get_running_loop()
    sock = await asyncio.wait_for(_connected_socket(host, port, local_port), timeout_s)
    try:
        _, conn = await loop.create_connection(lambda: CQLConnection(name), sock=sock)
    except BaseException:
        sock.close()
        raise
    try:
        await asyncio.wait_for(_handshake(conn, credentials), timeout_s)
    except TimeoutError:
        conn.close()
        raise StressError(f"{name}: no answer to the handshake within {timeout_s:g} s") from None
    except BaseException:
        conn.close()
        raise
    return conn


async def _connected_socket(host: str, port: int, local_port: int | None) -> socket.socket:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(errno.EHOSTUNREACH, f"cannot resolve {host}")
    family, type_, proto, _, address = infos[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setblocking(False)
        if local_port is not None:
            # SO_REUSEADDR lets us take a port still in TIME_WAIT from an earlier run.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", local_port))
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


async def _handshake(conn: CQLConnection, credentials: tuple[str, str] | None) -> None:
    supported = await conn.request(lambda c: c.options())
    if not isinstance(supported, Supported):
        raise StressError(f"{conn.name}: OPTIONS answered with {_describe(supported)}")
    conn.supported = supported.options
    conn.sharding = ShardingInfo.from_supported(supported.options)
    options = startup_options(supported.options, extensions=(TABLETS_ROUTING_V1,), driver_name=DRIVER_NAME)
    answer = await conn.request(lambda c: c.startup(options))
    if isinstance(answer, Ready):
        return
    if not isinstance(answer, Authenticate):
        raise StressError(f"{conn.name}: STARTUP answered with {_describe(answer)}")
    if credentials is None:
        raise StressError(f"the server requires authentication ({answer.authenticator}); "
                          "pass --user and --password")
    token = sasl_plain_token(*credentials)
    reply = await conn.request(lambda c: c.auth_response(token))
    if isinstance(reply, ErrorResponse):
        raise StressError(f"authentication failed: {reply.error.message}")
    if not isinstance(reply, AuthSuccess):
        raise StressError(f"{conn.name}: unexpected {_describe(reply)} during authentication")


def _describe(response: Response) -> str:
    if isinstance(response, ErrorResponse):
        return f"error: {response.error.message}"
    return type(response).__name__

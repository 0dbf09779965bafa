"""The CQL native-protocol server: sockets in, `QueryProcessor` calls, frames out.

Owns the asyncio side of client connections only: serving the connections the supervisor accepted
on the native port (9042) and the shard-aware port (19042) and handed to this shard, feeding bytes to the sans-IO codec (`cql.protocol.ServerConnection`),
handshake and authentication, running each request eagerly and, when it must wait, as its own
task so many streams of one connection are answered out of order, pushing SCHEMA_CHANGE events to connections that
REGISTERed, and draining in-flight requests on shutdown.

Invariants:
- Every request gets exactly one response on its stream; a failure becomes an ERROR frame
  (unexpected exceptions are logged as bugs and sent as SERVER_ERROR), never a dropped stream.
- A protocol error that makes the byte stream unusable closes only that connection.
- `close()` stops accepting, lets in-flight requests finish, then closes connections.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from typing import Any, cast

from cql.errors import CQLError, ErrorCode, ServerError
from cql.protocol import (
    NEED_DATA,
    AuthResponse,
    Batch,
    ConnectionClosed,
    Execute,
    Options,
    Prepare,
    Query,
    Register,
    ServerConnection,
    Startup,
)
from cql.protocol.requests import Request
from cql.protocol.responses import (
    Authenticate,
    AuthSuccess,
    ErrorResponse,
    Ready,
    Response,
    ResultRows,
    ResultVoid,
    SchemaChangeEvent,
    Supported,
)
from cql.protocol.wire import ClientProtocolError

from .auth import PASSWORD_AUTHENTICATOR, authenticate
from .metadata import MetadataStore
from .metrics import REQUEST_OPCODES, ShardMetrics
from .query_processor import QueryProcessor, Session
from .statements.schema_change import SchemaChange

log = logging.getLogger(__name__)


def start_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coro` now, up to its first suspension. Most requests (a local write in periodic
    commitlog mode, a read served from memory or the page cache) finish without ever waiting, and
    then no Task is made at all: a Task costs a scheduling round trip and weak-set bookkeeping,
    which was a tenth of a request's CPU. A request that does wait continues in a Task from that
    point. (Python 3.12's eager task factory does this; we run on 3.11.)"""
    try:
        pending = coro.send(None)
    except StopIteration:
        return None
    except Exception:
        # What a Task would have kept to itself: a bug must not reach data_received (which would
        # close the connection and drop the answers already queued).
        log.exception("bug: request handler failed")
        return None
    return asyncio.get_running_loop().create_task(_continue(coro, pending))


async def _continue(coro: Coroutine[Any, Any, None], pending: Any) -> None:
    await _Resume(coro, pending)


class _Resume:
    """Awaitable that hands the future `coro` already yielded to the awaiting Task and then
    relays everything between that Task and `coro` (what `await coro` would do, had it started
    inside the Task)."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:
                try:
                    pending = coro.throw(e)
                except StopIteration:
                    return
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration:
                    return


class CQLConnection(asyncio.Protocol):
    def __init__(self, server: CQLServer, shard: int) -> None:
        self._server = server
        self._codec = ServerConnection(server.max_frame_size_bytes, server.supported_for(shard))
        self._transport: asyncio.Transport | None = None
        self._session = Session()
        self._tasks: set[asyncio.Task[None]] = set()
        self.events: frozenset[str] = frozenset()
        self._closing = False
        # Responses finished in one event-loop iteration go out in one write (one syscall):
        # with many streams in flight that is most of the per-request transport cost.
        self._pending: list[bytes] = []
        self._flush_scheduled = False
        self._receiving = False  # inside data_received: it writes what it answered when done
        self._input_closed = False  # the client half-closed: no more requests will come

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)
        self._server.metrics.cql_connections += 1
        self._server.metrics.current_connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self in self._server.connections:
            self._server.connections.discard(self)
            self._server.metrics.current_connections -= 1

    def data_received(self, data: bytes) -> None:
        self._codec.receive_data(data)
        self._receiving = True
        try:
            self._drain_events()
        finally:
            self._receiving = False
        if self._pending and not self._flush_scheduled:
            self._flush()  # the requests answered eagerly, in one write

    def eof_received(self) -> bool | None:
        self._codec.receive_data(b"")
        self._drain_events()
        # The client shut down its sending side (TCP half-close); keep ours open until every
        # request it sent before has been answered (`_close_when_answered`).
        return True

    # --- request handling ---------------------------------------------------------------------

    def _drain_events(self) -> None:
        codec = self._codec
        while not self._closing:
            try:
                event = codec.next_event()
            except ClientProtocolError as e:
                self._server.metrics.cql_errors[ErrorCode.PROTOCOL_ERROR] += 1
                if e.stream is not None:
                    self._write(codec.send(ErrorResponse(e), e.stream))
                if e.fatal:
                    log.debug("closing connection after fatal protocol error: %s", e.message)
                    self._close()
                    return
                continue
            if event is NEED_DATA:
                return
            if isinstance(event, ConnectionClosed):
                self._close_when_answered()
                return
            self._dispatch(event)

    def _dispatch(self, req: Request) -> None:
        server = self._server
        m = server.metrics
        m.requests_served += 1
        m.cql_requests[REQUEST_OPCODES[type(req)]] += 1
        if isinstance(req, (Execute, Query)):
            # Nearly every request: through `QueryProcessor.execute_now`/`query_now`, answered
            # right here when the processor finished it without waiting (no coroutine, no Task:
            # the write hot path), else finished by `_finish`. Same answers and metrics as `_run`.
            # (`requests_serving` counts only the requests that wait: one that does not is in
            # flight while no scrape can run.)
            try:
                if isinstance(req, Execute):
                    resp = server.processor.execute_now(self._session, req.query_id, req.params)
                else:
                    resp = server.processor.query_now(self._session, req.query, req.params)
            except Exception as e:
                resp = self._error_response(e, req)
            # The two hot results' exact classes first: isinstance() against the ABC-derived
            # Response costs more.
            if resp.__class__ is not ResultVoid and resp.__class__ is not ResultRows \
                    and not isinstance(resp, Response):
                m.requests_serving += 1
                self._start(self._finish(req, resp))
                return
            try:  # (`_answer`, inline)
                self._write(self._codec.send(resp, req.stream))
            except Exception as e:
                self._encoding_failed(e, req.stream)
            return
        codec = self._codec
        if isinstance(req, Options):
            self._write(codec.send(Supported(codec.supported), req.stream))
        elif isinstance(req, Startup):
            if server.authenticator == PASSWORD_AUTHENTICATOR:
                self._write(codec.send(Authenticate(PASSWORD_AUTHENTICATOR), req.stream))
            else:
                self._write(codec.send(Ready(), req.stream))
        elif isinstance(req, AuthResponse):
            try:
                user = authenticate(req.token or b"", server.metadata.current.roles)
            except CQLError as e:
                m.cql_errors[e.code] += 1
                self._write(codec.send(e, req.stream))
                return
            self._session.user = user
            self._write(codec.send(AuthSuccess(), req.stream))
        elif isinstance(req, Register):
            self.events = self.events | frozenset(req.event_types)
            self._write(codec.send(Ready(), req.stream))  # REGISTER is answered with READY (4.1.8)
        else:
            self._start(self._run(req))

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = start_eagerly(coro)
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    async def _finish(self, req: Request, pending: Awaitable[Response]) -> None:
        """Await the rest of a request `_dispatch` started; `requests_serving` was counted."""
        try:
            resp = await pending
        except Exception as e:
            resp = self._error_response(e, req)
        finally:
            self._server.metrics.requests_serving -= 1
        if self._closing:
            return
        self._answer(resp, req.stream)

    async def _run(self, req: Request) -> None:
        """A request other than EXECUTE and QUERY (see `_dispatch`), in a coroutine."""
        server = self._server
        processor = server.processor
        m = server.metrics
        m.requests_serving += 1
        try:
            if isinstance(req, Prepare):
                resp: Response = processor.prepare(self._session, req.query)
            elif isinstance(req, Batch):
                resp = await processor.batch(self._session, req)
            else:
                raise ServerError(f"Unexpected request {type(req).__name__}")
        except Exception as e:
            resp = self._error_response(e, req)
        finally:
            m.requests_serving -= 1
        if self._closing:
            return
        self._answer(resp, req.stream)

    def _error_response(self, e: Exception, req: Request) -> ErrorResponse:
        """The ERROR answering `req`, which raised `e`: a CQLError as itself; anything else is a
        bug, logged and answered as SERVER_ERROR. Counted in `cql_errors`."""
        m = self._server.metrics
        if isinstance(e, CQLError):
            m.cql_errors[e.code] += 1
            return ErrorResponse(e)
        m.cql_errors[ErrorCode.SERVER_ERROR] += 1
        log.error("bug: unexpected error while serving %s", type(req).__name__, exc_info=e)
        return ErrorResponse(ServerError(f"Internal server error: {type(e).__name__}: {e}"))

    def _answer(self, resp: Response, stream: int) -> None:
        try:
            self._write(self._codec.send(resp, stream))
        except Exception as e:
            self._encoding_failed(e, stream)

    def _encoding_failed(self, e: Exception, stream: int) -> None:
        log.error("bug: response could not be encoded", exc_info=e)
        self._write(self._codec.send(ServerError(f"Response could not be encoded: {e}"), stream))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._input_closed and not self._tasks:
            self._close()

    def _close_when_answered(self) -> None:
        """No more requests will come: close once the ones in flight are answered."""
        self._input_closed = True
        if not self._tasks:
            self._close()

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._closing:
            return
        self._pending.append(data)
        if not self._flush_scheduled and not self._receiving:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pending and self._transport is not None and not self._transport.is_closing():
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._transport.write(data)
        self._pending.clear()

    def _close(self) -> None:
        self._flush()
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def send_event(self, event: SchemaChangeEvent) -> None:
        if "SCHEMA_CHANGE" in self.events and not self._closing:
            self._write(self._codec.send(event, -1))

    async def drain(self) -> None:
        """Wait for the requests in flight on this connection."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class CQLServer:
    def __init__(
        self,
        processor: QueryProcessor,
        metadata: MetadataStore,
        authenticator: str,
        supported_for: Callable[[int], Mapping[str, Sequence[str]]],
        max_frame_size_bytes: int,
        metrics: ShardMetrics,
        shard_count: int = 1,
        shard: int = 0,
    ) -> None:
        self.processor = processor
        self.metadata = metadata
        self.authenticator = authenticator
        self.supported_for = supported_for
        self.max_frame_size_bytes = max_frame_size_bytes
        self.shard_count = shard_count
        self.shard = shard
        self.connections: set[CQLConnection] = set()
        self.metrics = metrics
        self._accepting: set[asyncio.Task[object]] = set()
        self._closing = False

    def accept(self, sock: socket.socket, *, shard_aware: bool = False) -> None:
        """Serve a client connection the supervisor accepted and handed to this shard. On the
        shard-aware port the supervisor already picked this shard from the client's source port;
        either way the connection reports this shard in SUPPORTED."""
        if self._closing:
            sock.close()
            return
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.connect_accepted_socket(lambda: CQLConnection(self, self.shard), sock))
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)

    def broadcast_schema_change(self, change: SchemaChange) -> None:
        event = SchemaChangeEvent(change.change_type, change.target, change.keyspace, change.name)
        for c in list(self.connections):
            c.send_event(event)

    async def close(self, drain_timeout_s: float = 30.0) -> None:
        self._closing = True
        if self._accepting:
            await asyncio.gather(*list(self._accepting), return_exceptions=True)
        conns = list(self.connections)
        if conns:
            try:
                await asyncio.wait_for(asyncio.gather(*(c.drain() for c in conns)), drain_timeout_s)
            except TimeoutError:
                log.warning("gave up waiting for in-flight requests after %.0f s", drain_timeout_s)
        for c in conns:
            c._close()

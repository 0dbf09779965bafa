"""The asyncio binding of the REST API: sockets in, `RequestParser` + `Router` + handlers out.

Owns: the listening socket, one task per connection, keep-alive and idle timeouts, mapping of
exceptions to JSON error responses, and orderly shutdown.

Invariants:
- Requests on one connection are answered in order, one at a time (pipelining is allowed but
  not parallelised), so a slow POST (drain, compaction) never reorders answers.
- Every exception from routing or a handler becomes a response: `HttpError` -> its status,
  `AdminError` -> 400, anything else -> 500 and an ERROR log with the traceback (a bug).
  A protocol error is answered and then the connection is closed.
- `close()` stops accepting, cancels in-flight connections and returns when they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus

from scylla_py.rest.admin import AdminError, NodeAdmin
from scylla_py.rest.http import HttpError, Request, RequestParser, Response, error_response, render_response
from scylla_py.rest.router import MethodNotAllowed, Router
from scylla_py.rest.routes import build_router

__all__ = ["RestServer", "start_rest_server"]

logger = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024


class RestServer:
    """A running REST API server. Create with `start_rest_server`; stop with `close()`."""

    def __init__(self, router: Router, idle_timeout_s: float) -> None:
        self._router = router
        self._idle_timeout_s = idle_timeout_s
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False

    async def _listen(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve_connection, host, port, reuse_address=True)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound; the port is the real one when 0 was requested."""
        assert self._server is not None, "not listening"
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    @property
    def port(self) -> int:
        return self.address[1]

    async def close(self) -> None:
        if self._server is None:
            return
        self._closing = True
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closing:
            # Accepted just before close(); close() no longer waits for us, so do not start.
            writer.close()
            return
        self._connections.add(task)
        parser = RequestParser()
        try:
            while True:
                try:
                    request = parser.next_request()
                except HttpError as e:
                    writer.write(render_response(error_response(e.status, e.message), keep_alive=False))
                    await writer.drain()
                    return
                if request is None:
                    try:
                        data = await asyncio.wait_for(reader.read(_READ_CHUNK), self._idle_timeout_s)
                    except TimeoutError:
                        return  # idle (or stalled mid-request) too long
                    if not data:
                        return  # client closed; a partial request is simply dropped
                    parser.receive_data(data)
                    continue
                response = await self._dispatch(request)
                writer.write(render_response(response, request.keep_alive))
                await writer.drain()
                if not request.keep_alive:
                    return
        except ConnectionError:
            return  # the client went away mid-response; nothing to answer
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _dispatch(self, request: Request) -> Response:
        logger.debug("REST %s %s", request.method, request.target)
        try:
            handler, params = self._router.resolve(request.method, request.path)
            return await handler(request, params)
        except MethodNotAllowed as e:
            return error_response(e.status, e.message, headers=(("Allow", ", ".join(e.allowed)),))
        except HttpError as e:
            return error_response(e.status, e.message)
        except AdminError as e:
            return error_response(HTTPStatus.BAD_REQUEST, str(e))
        except Exception as e:
            logger.exception("REST handler failed: %s %s", request.method, request.target)
            return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(e).__name__}: {e}")


async def start_rest_server(
    host: str, port: int, admin: NodeAdmin, *, idle_timeout_s: float = 60.0,
) -> RestServer:
    """Listen on (host, port) — port 0 picks a free one, see `RestServer.port` — and serve."""
    server = RestServer(build_router(admin), idle_timeout_s)
    await server._listen(host, port)
    logger.info("REST API listening on %s:%d", *server.address)
    return server

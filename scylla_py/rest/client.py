"""A small blocking client for the node's REST API, for command-line tools (nodetool).

Owns: building request targets (each path segment percent-encoded, query parameters encoded),
one keep-alive HTTP/1.1 connection reused for sequential requests, decoding JSON answers, and
turning every failure into one exception type, `RestError`, whose message is fit to show a user:
the node's own error message for a 4xx/5xx answer, or what went wrong reaching it.

Reuse and retries: before each request an idle connection the node has closed (its idle timeout)
is replaced. A GET is sent again once, on a fresh connection, if a reused connection still fails
(the node closed it just then). A POST is never retried: an operation (flush, compaction, drain)
may have run even when its answer was lost.
"""

from __future__ import annotations

import http.client
import json
import select
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["RestClient", "RestError", "rest_path"]

_READ_TIMEOUT_S = 60.0


class RestError(Exception):
    """A request that failed; `status` is the HTTP status, or None if no answer came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def rest_path(*segments: str) -> str:
    """"/" + the segments, each percent-encoded whole (a "/" inside a name stays inside it)."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


class RestClient:
    """Sends requests to http://host:port; not thread-safe (one request at a time).

    `timeout_s` bounds connecting and each GET; POST operations (flush, compaction, drain) answer
    only when they have finished, so they wait without a read timeout.
    """

    def __init__(self, host: str, port: int, timeout_s: float = _READ_TIMEOUT_S) -> None:
        self.host = host
        self.port = port
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._request("GET", path, params, self._timeout_s)

    def post(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._request("POST", path, params, None)

    def _connection(self) -> http.client.HTTPConnection:
        sock = self._conn.sock if self._conn is not None else None
        if sock is not None and select.select([sock], [], [], 0)[0]:
            # Readable while idle: the node closed it (idle timeout). Reconnect before sending,
            # so even a POST, which is never retried, does not go out on a dead connection.
            self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout_s)
        return self._conn

    def _request(self, method: str, path: str, params: Mapping[str, str] | None, read_timeout_s: float | None) -> Any:
        target = path + ("?" + urlencode(params) if params else "")
        try:
            reused = self._conn is not None
            try:
                status, reason, body = self._exchange(method, target, read_timeout_s)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not (reused and method == "GET"):
                    raise
                status, reason, body = self._exchange(method, target, read_timeout_s)
        except ConnectionRefusedError:
            raise RestError(f"cannot connect to the node's REST API at {self.address}: connection refused "
                            "(is the node running, and is this its api_port?)") from None
        except TimeoutError:
            raise RestError(f"{method} {target}: no answer from {self.address} within {self._timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as e:
            raise RestError(f"{method} {target}: cannot talk to {self.address}: {e or type(e).__name__}") from None
        if status >= 400:
            raise RestError(self._error_message(body) or f"{method} {target}: {status} {reason}", status)
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise RestError(f"{method} {target}: the answer is not JSON: {body[:200]!r}", status) from None

    def _exchange(self, method: str, target: str, read_timeout_s: float | None) -> tuple[int, str, bytes]:
        conn = self._connection()
        try:
            conn.request(method, target, body=b"" if method == "POST" else None,
                         headers={"Accept": "application/json"})
            if conn.sock is not None:
                # The connect used the timeout; the answer to an operation may take longer.
                conn.sock.settimeout(read_timeout_s)
            response = conn.getresponse()
            body = response.read()
        except BaseException:
            self.close()  # the connection's state is unknown now; the next request reconnects
            raise
        if response.will_close:
            self.close()
        return response.status, response.reason, body

    @staticmethod
    def _error_message(body: bytes) -> str | None:
        """The node's message from a ScyllaDB error body {"message": ..., "code": ...}."""
        try:
            decoded = json.loads(body)
        except ValueError:
            return None
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            message: str = decoded["message"]
            return message
        return None


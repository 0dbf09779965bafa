"""A minimal HTTP/1.1 server-side protocol, sans I/O: bytes in, `Request` events out.

Owns: parsing request heads and Content-Length bodies, keep-alive semantics, and rendering
responses to bytes. It never touches sockets, the event loop or the clock; `server.py` is the
asyncio binding.

Scope, deliberately small (a REST API for admin tools, not a web server):
- origin-form targets only ("/path?query"); methods are opaque tokens;
- bodies only via Content-Length; `Transfer-Encoding` is refused with 501 (Python's http.client,
  urllib, requests and curl all send Content-Length for the bodies our routes accept);
- pipelined requests are parsed in order from one buffer;
- limits on head and body size keep a misbehaving client from growing the buffer without bound.

Invariant: the only exception that escapes `RequestParser` is `HttpError` (status + message);
after one, the parser is dead and the connection must be closed after answering it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote

__all__ = [
    "HttpError",
    "Request",
    "RequestParser",
    "Response",
    "error_response",
    "json_response",
    "render_response",
    "split_path",
]

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

# RFC 9110 §5.6.2 token: the characters allowed in methods and header names.
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HTTP_VERSION = re.compile(rb"^HTTP/1\.([01])$")


class HttpError(Exception):
    """A request the server cannot parse or will not serve; answered with `status`, then close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request.

    `path` is the percent-encoded path as sent (routing decodes per segment, so an encoded "/"
    stays inside its segment); `query` maps each parameter to all its values in order.
    """

    method: str
    target: str
    path: str
    query: Mapping[str, tuple[str, ...]]
    headers: tuple[tuple[str, str], ...]  # (lower-cased name, value), in order
    body: bytes
    http_minor: int  # 0 or 1
    keep_alive: bool

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def query_value(self, name: str) -> str | None:
        """The last value of query parameter `name`, or None."""
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True, slots=True)
class _Head:
    method: str
    target: str
    path: str
    query: Mapping[str, tuple[str, ...]]
    headers: tuple[tuple[str, str], ...]
    http_minor: int
    keep_alive: bool
    content_length: int


class RequestParser:
    """Feed bytes with `receive_data`, pull requests with `next_request` until it returns None."""

    def __init__(self, max_head_bytes: int = MAX_HEAD_BYTES, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._buffer = bytearray()
        self._head: _Head | None = None  # set while waiting for the body
        self._dead = False
        self._max_head = max_head_bytes
        self._max_body = max_body_bytes

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    @property
    def has_partial_request(self) -> bool:
        """True if bytes of an incomplete request are buffered (EOF now would truncate it)."""
        return bool(self._buffer) or self._head is not None

    def next_request(self) -> Request | None:
        """The next complete request, or None if more data is needed. Raises HttpError."""
        if self._dead:
            raise HttpError(HTTPStatus.BAD_REQUEST, "connection is in an error state")
        try:
            return self._next_request()
        except HttpError:
            self._dead = True
            raise

    def _next_request(self) -> Request | None:
        if self._head is None:
            # Tolerate blank lines between pipelined requests (RFC 9112 §2.2).
            while self._buffer[:2] == b"\r\n" or self._buffer[:1] == b"\n":
                del self._buffer[: 2 if self._buffer[:1] == b"\r" else 1]
            end, sep_len = _find_head_end(self._buffer)
            if end < 0:
                if len(self._buffer) > self._max_head:
                    raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
                return None
            if end > self._max_head:
                raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
            head_bytes = bytes(self._buffer[:end])
            del self._buffer[: end + sep_len]
            self._head = self._parse_head(head_bytes)
        head = self._head
        if len(self._buffer) < head.content_length:
            return None
        body = bytes(self._buffer[: head.content_length])
        del self._buffer[: head.content_length]
        self._head = None
        return Request(
            method=head.method, target=head.target, path=head.path, query=head.query,
            headers=head.headers, body=body, http_minor=head.http_minor, keep_alive=head.keep_alive,
        )

    def _parse_head(self, raw: bytes) -> _Head:
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
        method_b, target_b, version_b = parts
        if not _TOKEN.match(method_b):
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed method")
        version = _HTTP_VERSION.match(version_b)
        if version is None:
            raise HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "only HTTP/1.0 and HTTP/1.1 are supported")
        http_minor = int(version.group(1))
        try:
            target = target_b.decode("ascii")
        except UnicodeDecodeError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "request target must be ASCII") from None
        if not target.startswith("/") or any(c <= " " or c == "\x7f" for c in target):
            raise HttpError(HTTPStatus.BAD_REQUEST, "request target must be an absolute path")

        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t"):
                # Obsolete line folding (RFC 9112 §5.2): servers may reject it; we do.
                raise HttpError(HTTPStatus.BAD_REQUEST, "obsolete header line folding")
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.match(name):
                raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header line")
            try:
                text = value.strip(b" \t").decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header value") from None
            if any(c in text for c in "\r\n\x00"):
                raise HttpError(HTTPStatus.BAD_REQUEST, "malformed header value")
            headers.append((name.decode("ascii").lower(), text))

        content_length = self._content_length(headers)
        connection = {
            token.strip().lower()
            for key, value in headers if key == "connection"
            for token in value.split(",")
        }
        keep_alive = ("keep-alive" in connection) if http_minor == 0 else ("close" not in connection)
        path, _, query_string = target.partition("?")
        try:
            pairs = parse_qsl(query_string, keep_blank_values=True, strict_parsing=False,
                              encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "query string is not valid UTF-8") from None
        query: dict[str, list[str]] = {}
        for param, param_value in pairs:
            query.setdefault(param, []).append(param_value)
        return _Head(
            method=method_b.decode("ascii"), target=target, path=path,
            query=MappingProxyType({k: tuple(v) for k, v in query.items()}),
            headers=tuple(headers), http_minor=http_minor, keep_alive=keep_alive,
            content_length=content_length,
        )

    def _content_length(self, headers: list[tuple[str, str]]) -> int:
        if any(key == "transfer-encoding" for key, _ in headers):
            raise HttpError(HTTPStatus.NOT_IMPLEMENTED, "Transfer-Encoding is not supported; send Content-Length")
        values = {value for key, value in headers if key == "content-length"}
        if not values:
            return 0
        # Repeated identical values are allowed (RFC 9110 §8.6); differing ones are an attack.
        if len(values) != 1:
            raise HttpError(HTTPStatus.BAD_REQUEST, "conflicting Content-Length headers")
        (value,) = values
        if not value.isdigit() or not value.isascii():
            raise HttpError(HTTPStatus.BAD_REQUEST, "malformed Content-Length")
        length = int(value)
        if length > self._max_body:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body larger than {self._max_body} bytes")
        return length


def _find_head_end(buffer: bytearray) -> tuple[int, int]:
    """Index of the blank line ending the head and its length; (-1, 0) if not there yet."""
    crlf = buffer.find(b"\r\n\r\n")
    lf = buffer.find(b"\n\n")  # bare-LF clients (RFC 9112 §2.2 allows accepting them)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def split_path(path: str) -> list[str]:
    """Percent-decoded path segments; "/a/b/" and "/a/b" give the same segments."""
    return [unquote(segment, errors="strict") for segment in path.strip("/").split("/") if segment != ""]


# -- responses ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(value: object, status: int = HTTPStatus.OK) -> Response:
    return Response(status, json.dumps(value).encode("utf-8"))


def error_response(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """ScyllaDB's error body shape: {"message": ..., "code": <status>}."""
    return Response(status, json.dumps({"message": message, "code": int(status)}).encode("utf-8"),
                    headers=headers)


def render_response(response: Response, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Length: {len(response.body)}",
        f"Content-Type: {response.content_type}",
        "Server: scylla-py",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body

"""Routing: (method, path) -> handler and path parameters.

Owns the route table and the matching rules. Patterns are ScyllaDB api-doc paths such as
"/storage_service/keyspace_flush/{keyspace}"; a `{name}` segment matches exactly one non-empty,
percent-decoded path segment. A trailing slash is insignificant (ScyllaDB's api-doc spells some
paths with one, e.g. "/gossiper/endpoint/live/", and tools call them both ways).

Errors: `RouteNotFound` (404) when no pattern matches the path, `MethodNotAllowed` (405, with the
allowed methods) when patterns match but none for this method, `HttpError` 400 for a path that is
not valid percent-encoded UTF-8. Literal segments win over parameters when both match.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType

from scylla_py.rest.http import HttpError, Request, Response, split_path

__all__ = ["Handler", "MethodNotAllowed", "RouteNotFound", "Router"]

Handler = Callable[[Request, Mapping[str, str]], Awaitable[Response]]


class RouteNotFound(HttpError):
    def __init__(self, path: str) -> None:
        super().__init__(HTTPStatus.NOT_FOUND, f"Not found: {path}")


class MethodNotAllowed(HttpError):
    def __init__(self, method: str, path: str, allowed: tuple[str, ...]) -> None:
        super().__init__(HTTPStatus.METHOD_NOT_ALLOWED, f"Method {method} not allowed for {path}")
        self.allowed = allowed


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    segments: tuple[str, ...]  # literal text, or "{name}" for a parameter
    handler: Handler

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, actual in zip(self.segments, segments, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                params[pattern[1:-1]] = actual
            elif pattern != actual:
                return None
        return params

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if not s.startswith("{"))


class Router:
    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        segments = tuple(s for s in pattern.strip("/").split("/") if s)
        for existing in self._routes:
            if existing.method == method and existing.segments == segments:
                raise ValueError(f"duplicate route {method} {pattern}")
        self._routes.append(_Route(method, segments, handler))

    def routes(self) -> list[tuple[str, str]]:
        """(method, pattern) of every route, in registration order (for docs and tests)."""
        return [(r.method, "/" + "/".join(r.segments)) for r in self._routes]

    def resolve(self, method: str, path: str) -> tuple[Handler, Mapping[str, str]]:
        try:
            segments = split_path(path)
        except UnicodeDecodeError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "path is not valid percent-encoded UTF-8") from None
        best: tuple[int, _Route, dict[str, str]] | None = None
        allowed: list[str] = []
        for route in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method != method:
                if route.method not in allowed:
                    allowed.append(route.method)
                continue
            if best is None or route.literal_count > best[0]:
                best = (route.literal_count, route, params)
        if best is not None:
            return best[1].handler, MappingProxyType(best[2])
        if allowed:
            raise MethodNotAllowed(method, path, tuple(allowed))
        raise RouteNotFound(path)

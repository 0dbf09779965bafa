"""Router: literal and {param} segments, trailing slashes, 404 vs 405, precedence."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from scylla_py.rest.http import HttpError, Request, Response
from scylla_py.rest.router import Handler, MethodNotAllowed, RouteNotFound, Router
from scylla_py.rest.routes import build_router


def make_handler(name: str) -> Handler:
    async def handler(request: Request, params: Mapping[str, str]) -> Response:
        return Response(200, name.encode())

    return handler


@pytest.fixture
def router() -> Router:
    r = Router()
    r.add("GET", "/storage_service/keyspaces", make_handler("keyspaces"))
    r.add("POST", "/storage_service/keyspace_flush/{keyspace}", make_handler("flush"))
    r.add("GET", "/gossiper/endpoint/live/", make_handler("live"))
    r.add("GET", "/things/{name}", make_handler("thing"))
    r.add("GET", "/things/special", make_handler("special"))
    return r


def name_of(router: Router, method: str, path: str) -> tuple[str, dict[str, str]]:
    handler, params = router.resolve(method, path)
    request = Request("GET", "/", "/", {}, (), b"", 1, True)

    async def call() -> Response:
        return await handler(request, params)

    response = asyncio.run(call())
    return response.body.decode(), dict(params)


def test_literal_route(router: Router) -> None:
    assert name_of(router, "GET", "/storage_service/keyspaces") == ("keyspaces", {})


def test_param_route_is_percent_decoded(router: Router) -> None:
    assert name_of(router, "POST", "/storage_service/keyspace_flush/my%20ks") == ("flush", {"keyspace": "my ks"})


def test_trailing_slash_is_insignificant(router: Router) -> None:
    assert name_of(router, "GET", "/gossiper/endpoint/live")[0] == "live"
    assert name_of(router, "GET", "/gossiper/endpoint/live/")[0] == "live"
    assert name_of(router, "GET", "/storage_service/keyspaces/")[0] == "keyspaces"


def test_literal_beats_parameter_regardless_of_order(router: Router) -> None:
    assert name_of(router, "GET", "/things/special")[0] == "special"
    assert name_of(router, "GET", "/things/other") == ("thing", {"name": "other"})


def test_unknown_path_is_404(router: Router) -> None:
    with pytest.raises(RouteNotFound) as info:
        router.resolve("GET", "/nope")
    assert info.value.status == 404
    with pytest.raises(RouteNotFound):
        router.resolve("POST", "/storage_service/keyspace_flush")  # missing {keyspace}


def test_wrong_method_is_405_with_allowed_methods(router: Router) -> None:
    with pytest.raises(MethodNotAllowed) as info:
        router.resolve("GET", "/storage_service/keyspace_flush/ks")
    assert info.value.status == 405 and info.value.allowed == ("POST",)


def test_undecodable_path_is_400(router: Router) -> None:
    with pytest.raises(HttpError) as info:
        router.resolve("GET", "/things/%ff")
    assert info.value.status == 400


def test_duplicate_route_is_rejected(router: Router) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        router.add("GET", "/storage_service/keyspaces/", make_handler("again"))


def test_routes_lists_patterns(router: Router) -> None:
    assert ("POST", "/storage_service/keyspace_flush/{keyspace}") in router.routes()


def test_docs_list_exactly_the_served_routes() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "rest-api.md").read_text()
    documented = set(re.findall(r"^\| (GET|POST|DELETE) \| `([^`]+)` \|", doc, flags=re.MULTILINE))
    served = set(build_router(None).routes())  # type: ignore[arg-type]  # routes never call admin here
    assert documented == served

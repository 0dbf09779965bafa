"""The sans-IO HTTP/1.1 request parser and response rendering.

As h11's tests do: input fed whole, byte by byte, pipelined, and as garbage; only HttpError may
escape the parser.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scylla_py.rest.http import (
    HttpError,
    Request,
    RequestParser,
    Response,
    error_response,
    json_response,
    render_response,
    split_path,
)

GET = b"GET /storage_service/keyspaces?type=user&x=1&x=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"
POST = (b"POST /storage_service/keyspace_flush/ks?cf=a,b HTTP/1.1\r\nHost: h\r\n"
        b"Content-Length: 5\r\n\r\nhello")


def parse_all(data: bytes) -> list[Request]:
    parser = RequestParser()
    parser.receive_data(data)
    out = []
    while (request := parser.next_request()) is not None:
        out.append(request)
    return out


def test_get_request_fields() -> None:
    (r,) = parse_all(GET)
    assert (r.method, r.path, r.http_minor, r.body, r.keep_alive) == (
        "GET", "/storage_service/keyspaces", 1, b"", True)
    assert r.target == "/storage_service/keyspaces?type=user&x=1&x=2"
    assert r.query["x"] == ("1", "2") and r.query_value("x") == "2"
    assert r.query_value("type") == "user" and r.query_value("nope") is None
    assert r.header("HOST") == "h" and r.header("missing") is None


def test_post_with_body() -> None:
    (r,) = parse_all(POST)
    assert r.method == "POST" and r.body == b"hello" and r.query["cf"] == ("a,b",)


def test_byte_at_a_time_gives_the_same_requests() -> None:
    parser = RequestParser()
    out = []
    for byte in GET + POST:
        parser.receive_data(bytes([byte]))
        while (request := parser.next_request()) is not None:
            out.append(request)
    assert out == parse_all(GET) + parse_all(POST)
    assert not parser.has_partial_request


def test_pipelined_requests_come_out_in_order() -> None:
    requests = parse_all(GET + POST + GET)
    assert [r.method for r in requests] == ["GET", "POST", "GET"]


def test_incomplete_request_waits_for_more() -> None:
    parser = RequestParser()
    parser.receive_data(POST[:-2])
    assert parser.next_request() is None and parser.has_partial_request
    parser.receive_data(POST[-2:])
    assert parser.next_request() is not None


def test_bare_lf_line_endings_are_accepted() -> None:
    (r,) = parse_all(b"GET /a HTTP/1.1\nHost: h\n\n")
    assert r.path == "/a"


@pytest.mark.parametrize(("head", "keep_alive"), [
    (b"GET / HTTP/1.1\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
])
def test_keep_alive_rules(head: bytes, keep_alive: bool) -> None:
    (r,) = parse_all(head)
    assert r.keep_alive is keep_alive


@pytest.mark.parametrize(("data", "status"), [
    (b"GET /\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"G(T / HTTP/1.1\r\n\r\n", 400),
    (b"GET http://x/ HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"GET /?q=%ff HTTP/1.1\r\n\r\n", 400),
    (b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
])
def test_malformed_requests_raise_http_error(data: bytes, status: int) -> None:
    with pytest.raises(HttpError) as info:
        parse_all(data)
    assert info.value.status == status


def test_repeated_identical_content_length_is_fine() -> None:
    (r,) = parse_all(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab")
    assert r.body == b"ab"


def test_oversized_head_is_refused_before_it_ends() -> None:
    parser = RequestParser(max_head_bytes=100)
    parser.receive_data(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 200)
    with pytest.raises(HttpError) as info:
        parser.next_request()
    assert info.value.status == 431


def test_parser_is_dead_after_an_error() -> None:
    parser = RequestParser()
    parser.receive_data(b"nonsense\r\n\r\n" + GET)
    with pytest.raises(HttpError):
        parser.next_request()
    with pytest.raises(HttpError):
        parser.next_request()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=17))
def test_garbage_only_raises_http_error(data: bytes, chunk: int) -> None:
    parser = RequestParser(max_head_bytes=256, max_body_bytes=64)
    try:
        for i in range(0, len(data), chunk):
            parser.receive_data(data[i:i + chunk])
            while parser.next_request() is not None:
                pass
    except HttpError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100))
def test_valid_request_followed_by_garbage_still_parses_first(garbage: bytes) -> None:
    parser = RequestParser()
    parser.receive_data(POST + garbage)
    first = parser.next_request()
    assert first is not None and first.body == b"hello"


def test_split_path_decodes_segments_and_ignores_trailing_slash() -> None:
    assert split_path("/a/b%2Fc/") == ["a", "b/c"]
    assert split_path("/") == []
    with pytest.raises(UnicodeDecodeError):
        split_path("/%ff")


def test_render_response() -> None:
    raw = render_response(json_response(["ks"]), keep_alive=True)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 6" in head and b"Content-Type: application/json" in head
    assert b"Connection: close" not in head
    assert body == b'["ks"]'
    assert b"Connection: close" in render_response(Response(200), keep_alive=False)


def test_error_response_has_scylladb_shape() -> None:
    response = error_response(400, "Can't find a keyspace x")
    assert response.status == 400
    assert json.loads(response.body) == {"message": "Can't find a keyspace x", "code": 400}

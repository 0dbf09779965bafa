"""Murmur3 tokens against the driver's own implementation (cassandra.murmur3)."""

from __future__ import annotations

import pytest
from cassandra.murmur3 import murmur3
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.token import MAX_TOKEN, _cassandra_hash64, murmur3_token, token_from_string, token_to_string


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=80))
def test_token_equals_driver(key: bytes) -> None:
    assert murmur3_token(key) == murmur3(key)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_pure_python_path_equals_driver(key: bytes) -> None:
    h = _cassandra_hash64(key)
    h = h - (1 << 64) if h >= 1 << 63 else h
    assert (MAX_TOKEN if h == -(1 << 63) else h) == murmur3(key)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=3), st.binary(min_size=8, max_size=15))
def test_sign_extension_inside_the_first_tail_word(blocks: int, tail: bytes) -> None:
    # Tails of 8 bytes, and longer ones whose bytes past the first word are < 0x80, take the
    # rewritten-key path; setting the last byte's high bit sends the longer ones to the other path.
    key = bytes(16 * blocks) + tail[:8] + bytes(b & 0x7F for b in tail[8:])
    assert murmur3_token(key) == murmur3(key)
    flipped = key[:-1] + bytes([key[-1] | 0x80])
    assert murmur3_token(flipped) == murmur3(flipped)


def test_sign_extended_tail_bytes() -> None:
    # stock murmur3 (mmh3) zero-extends tail bytes; Cassandra sign-extends them
    for key in (b"\x80", b"\xff" * 7, b"a" * 16 + b"\x90"):
        assert murmur3_token(key) == murmur3(key)


def test_token_strings() -> None:
    assert token_from_string(token_to_string(-5)) == -5
    with pytest.raises(ValueError):
        token_from_string(str(1 << 63))

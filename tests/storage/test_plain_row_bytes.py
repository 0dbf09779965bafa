"""PlainRowEncoder joins msgpack pieces instead of packing: its bytes against the packer's at every
boundary where msgpack changes encoding (int widths and signs, bin 8/16/32 headers), which random
draws rarely hit. (tests/storage/test_write_lane.py checks it against the Mutation path at random.)"""

from __future__ import annotations

import itertools

import pytest

from storage.codec import PlainRowEncoder, encode_mutation_summarized, encode_plain_row
from storage.mutation import Cell, LivenessInfo, Mutation, Row

# each side of every msgpack int boundary, from int 64 to uint 64
INT_BOUNDARIES = sorted({s * (1 << b) + d for b in (5, 7, 8, 15, 16, 31, 32, 63) for s in (1, -1) for d in (-1, 0, 1)
                         if -(1 << 63) <= s * (1 << b) + d < 1 << 63} | {0})
LENGTHS = (0, 1, 31, 32, 255, 256, 65535, 65536)


def _mutation(token: int, key: bytes, ck: bytes, marker: bool, cols: list[str], vals: list[bytes], ts: int,
              ttl: int, expiry: int) -> Mutation:
    m = Mutation(token, key)
    m.rows[ck] = Row(LivenessInfo(ts, ttl, expiry) if marker else None, None,
                     {(c, b""): Cell(ts, v, ttl, expiry) for c, v in zip(cols, vals, strict=True)})
    return m


@pytest.mark.parametrize("marker", [True, False])
def test_ints_at_every_encoding_boundary(marker: bool) -> None:
    enc = PlainRowEncoder(["a", "é" * 20])  # a fixstr and a str 8 column name
    for v in INT_BOUNDARIES:
        ttl = min(abs(v), 2**31)
        for token, ts, t in ((v, 7, 0), (7, v, 0), (7, 7, ttl)):
            expiry = (v & 0x7FFFFFFF) if t else 0
            got = enc.encode(token, b"k", b"", marker, [b"x", b"y"], ts, t, expiry, 0)
            assert got == encode_mutation_summarized(_mutation(token, b"k", b"", marker, ["a", "é" * 20],
                                                               [b"x", b"y"], ts, t, expiry)), (token, ts, t)


def test_bin_headers_at_every_length_boundary() -> None:
    enc = PlainRowEncoder(["v", "w"])
    for n_key, n_ck, n_val in itertools.product((1, 255, 256, 65535), (0, 255, 256, 70000), LENGTHS):
        key, ck, val = b"k" * n_key, b"c" * n_ck, b"v" * n_val
        got = enc.encode(-5, key, ck, True, [val, b"w"], 1 << 40, 0, 0, 0)
        assert got == encode_mutation_summarized(_mutation(-5, key, ck, True, ["v", "w"], [val, b"w"], 1 << 40,
                                                           0, 0)), (n_key, n_ck, n_val)
    # the bin 32 header of a value
    big = b"v" * 70000
    assert enc.encode(1, b"k", b"", False, [b"", big], 3, 0, 0, 0) == \
        encode_plain_row(1, b"k", b"", False, ["v", "w"], [b"", big], 3, 0, 0, 0)


def test_tombstones_and_wrong_value_counts_take_encode_plain_row() -> None:
    enc = PlainRowEncoder(["a", "b"])
    assert enc.encode(1, b"k", b"", True, [None, b"x"], 5, 0, 0, 9) == \
        encode_plain_row(1, b"k", b"", True, ["a", "b"], [None, b"x"], 5, 0, 0, 9)
    for vals in ([b"1"], [b"1", b"2", b"3"], [None], [b"1", None, b"3"]):
        with pytest.raises(ValueError):
            enc.encode(1, b"k", b"", True, vals, 5, 0, 0, 0)

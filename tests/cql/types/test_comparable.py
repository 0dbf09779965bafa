"""Comparable encodings: byte order == CQL order, self-delimiting, invertible (contracts 2.3)."""

from __future__ import annotations

import decimal
import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.types import (
    DECIMAL,
    DOUBLE,
    DURATION,
    FLOAT,
    INT,
    TEXT,
    TIMEUUID,
    UUID,
    VARINT,
    CQLTypeError,
    parse_type,
)

from .strategies import COLLECTION_CASES, NATIVE_CASES, Case

KEYABLE = [c for c in NATIVE_CASES + COLLECTION_CASES if c.keyable]


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


@pytest.mark.parametrize("case", KEYABLE, ids=lambda c: c.cql)
def test_byte_order_is_cql_order(case: Case) -> None:
    t = parse_type(case.cql)

    @settings(max_examples=50, deadline=None)
    @given(st.lists(case.values, min_size=2, max_size=8))
    def check(values: list[Any]) -> None:
        wires = [t.serialize(v) for v in values]
        comps = [t.to_comparable(w) for w in wires]
        for i in range(len(values)):
            for j in range(len(values)):
                assert _cmp(comps[i], comps[j]) == _cmp(case.key(values[i]), case.key(values[j])), \
                    (values[i], values[j])
        for c in comps:
            # invertible (up to canonical form) and self-delimiting: trailing bytes are left alone
            back, end = t.from_comparable(c + b"\x99tail", 0)
            assert end == len(c)
            assert t.to_comparable(back) == c

    check()


@pytest.mark.parametrize("case", [c for c in NATIVE_CASES if c.keyable], ids=lambda c: c.cql)
def test_empty_value_sorts_first(case: Case) -> None:
    t = parse_type(case.cql)

    @settings(max_examples=20, deadline=None)
    @given(case.values)
    def check(v: Any) -> None:
        w = t.serialize(v)
        assert t.to_comparable(b"") <= t.to_comparable(w)
        assert t.from_comparable(t.to_comparable(b""), 0) == (b"", len(t.to_comparable(b"")))

    check()


def test_exact_wire_round_trip_for_canonical_types() -> None:
    for t, v in [(INT, -5), (TEXT, "a\x00b"), (UUID, __import__("uuid").uuid4()),
                 (TIMEUUID, __import__("uuid").uuid1()), (VARINT, -(2**130))]:
        w = t.serialize(v)
        assert t.from_comparable(t.to_comparable(w), 0) == (w, len(t.to_comparable(w)))


def test_float_special_values() -> None:
    order = [float("-inf"), -1.5, -0.0, 0.0, 1e-300, float("inf"), float("nan")]
    comps = [DOUBLE.to_comparable(DOUBLE.serialize(v)) for v in order]
    assert comps == sorted(comps) and len(set(comps)) == len(comps)
    # every NaN bit pattern is the same NaN
    assert FLOAT.to_comparable(b"\x7f\xc0\x00\x01") == FLOAT.to_comparable(b"\xff\xc0\x00\x00")


def test_decimal_scale_is_canonicalised() -> None:
    a = DECIMAL.serialize(decimal.Decimal("1.0"))
    b = DECIMAL.serialize(decimal.Decimal("1.00"))
    assert a != b and DECIMAL.to_comparable(a) == DECIMAL.to_comparable(b)
    back, _ = DECIMAL.from_comparable(DECIMAL.to_comparable(DECIMAL.serialize(decimal.Decimal("100"))), 0)
    assert DECIMAL.deserialize(back) == decimal.Decimal("100") and back[:4] == b"\x00\x00\x00\x00"


def test_varint_non_minimal_wire_compares_numerically() -> None:
    assert VARINT.to_comparable(b"\x00\x00\x01") == VARINT.to_comparable(b"\x01")


def test_duration_has_no_comparable() -> None:
    with pytest.raises(CQLTypeError, match="not allowed"):
        DURATION.to_comparable(DURATION.serialize("1h"))


def test_sets_and_maps_canonicalise_wire_order() -> None:
    s = parse_type("frozen<set<int>>")
    unsorted = s.join([INT.serialize(2), INT.serialize(1), INT.serialize(2)], 3)
    assert s.to_comparable(unsorted) == s.to_comparable(s.serialize({1, 2}))
    m = parse_type("frozen<map<int, int>>")
    raw = m.join([INT.serialize(2), INT.serialize(0), INT.serialize(1), INT.serialize(0)], 2)
    assert m.to_comparable(raw) == m.to_comparable(m.serialize({1: 0, 2: 0}))


def test_sorted_with_cmp_to_key_matches_bytes() -> None:
    # a readable transcript of one ordering, as documented in docs/types.md
    t = parse_type("frozen<list<int>>")
    vals = [[1, 2], [], [1], [0, 5], [-1]]
    by_bytes = sorted(vals, key=lambda v: t.to_comparable(t.serialize(v)))
    assert by_bytes == sorted(vals, key=functools.cmp_to_key(lambda a, b: _cmp(a, b)))

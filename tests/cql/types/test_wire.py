"""Wire format: every type against the cassandra-driver's serializers (the oracle)."""

from __future__ import annotations

import contextlib
import ipaddress
import math
from typing import Any

import pytest
from cassandra import cqltypes, util
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cql.types import (
    INT,
    NATIVE,
    TEXT,
    CQLTypeError,
    Date,
    Duration,
    Time,
    parse_type,
)

from .strategies import COLLECTION_CASES, NATIVE_CASES, Case

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _to_driver(v: Any) -> Any:
    """Our value classes -> the driver's, recursively."""
    if isinstance(v, Date):
        return util.Date(v.days_from_epoch)
    if isinstance(v, Time):
        return util.Time(v.nanosecond_time)
    if isinstance(v, Duration):
        return util.Duration(v.months, v.days, v.nanoseconds)
    return v


def _in_cql_order(v: Any) -> Any:
    """The driver writes sets and maps in iteration order; we write them in CQL order."""
    if isinstance(v, set | frozenset):
        return sorted(v, key=lambda x: x.encode() if isinstance(x, str) else x)
    if isinstance(v, dict):
        return dict(sorted(v.items()))
    return v


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


@pytest.mark.parametrize("case", NATIVE_CASES + COLLECTION_CASES, ids=lambda c: c.cql)
def test_round_trip_against_driver(case: Case) -> None:
    t = parse_type(case.cql)
    oracle = cqltypes.lookup_casstype(case.java)

    @SETTINGS
    @given(case.values)
    def check(v: Any) -> None:
        ours = t.serialize(v)
        assert ours == oracle.serialize(_in_cql_order(_to_driver(v)), 4)
        t.validate(ours)
        back = t.deserialize(ours)
        if case.cql == "inet":
            assert ipaddress.ip_address(back) == ipaddress.ip_address(v)
        elif case.cql in ("float", "double"):
            assert _same(back, oracle.deserialize(ours, 4))
        elif case.cql.startswith("frozen<list<frozen<tuple"):
            assert [tuple(x) for x in back] == [tuple(x) for x in v]
        elif case.cql.startswith("frozen<set"):
            assert set(back) == v
        else:
            assert back == v
        assert t.serialize(back) == ours

    check()


@pytest.mark.parametrize("name", sorted(set(NATIVE) - {"varchar"}))
def test_empty_value_is_valid_and_null_like(name: str) -> None:
    t = NATIVE[name]
    t.validate(b"")
    if name not in ("text", "ascii", "blob"):
        assert t.deserialize(b"") is None


@pytest.mark.parametrize("name,data,message", [
    ("int", b"\x00\x00\x01", "Expected 4 or 0 byte int (3)"),
    ("bigint", b"\x00", "Expected 8 or 0 byte long (1)"),
    ("smallint", b"\x00", "2 bytes for a smallint"),
    ("tinyint", b"\x00\x00", "1 byte for a tinyint"),
    ("text", b"\xff\xfe", "Invalid UTF-8"),
    ("ascii", b"caf\xc3\xa9", "Invalid byte for ascii"),
    ("uuid", b"\x00" * 15, "UUID should be 16 or 0 bytes (15)"),
    ("timeuuid", bytes.fromhex("80b8e52fd171430fb011c49fe5df5e51"), "version (4)"),
    ("inet", b"\x01\x02\x03", "4 or 16 byte"),
    ("boolean", b"\x00\x01", "boolean"),
    ("time", (86_400 * 10**9).to_bytes(8, "big"), "out of range"),
    ("duration", b"\x02\x01\x02", "same sign"),
    ("decimal", b"\x00\x01", "at least 4 bytes"),
])
def test_validate_messages(name: str, data: bytes, message: str) -> None:
    with pytest.raises(CQLTypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        NATIVE[name].validate(data)


def test_collection_validation() -> None:
    t = parse_type("list<int>")
    good = t.serialize([1, 2])
    t.validate(good)
    with pytest.raises(CQLTypeError, match="extraneous"):
        t.validate(good + b"\x00")
    with pytest.raises(CQLTypeError, match="Not enough bytes"):
        t.validate(good[:-1])
    with pytest.raises(CQLTypeError, match="null is not supported"):
        t.validate(b"\x00\x00\x00\x01\xff\xff\xff\xff")
    with pytest.raises(CQLTypeError, match="Expected 4 or 0 byte int"):
        t.validate(b"\x00\x00\x00\x01\x00\x00\x00\x01\x05")
    tup = parse_type("tuple<int, text>")
    tup.validate(b"\xff\xff\xff\xff")           # a null field is fine in a tuple
    with pytest.raises(CQLTypeError, match="more than 2 fields"):
        tup.validate(tup.serialize((1, "a")) + b"\xff\xff\xff\xff")


def test_serialize_rejects_bad_python_values() -> None:
    with pytest.raises(CQLTypeError):
        INT.serialize(2**31)
    with pytest.raises(CQLTypeError):
        INT.serialize("1")
    with pytest.raises(CQLTypeError):
        TEXT.serialize(b"x")
    with pytest.raises(CQLTypeError, match="null is not supported"):
        parse_type("list<int>").serialize([1, None])


def test_set_and_map_serialize_in_element_order() -> None:
    s = parse_type("set<int>")
    assert s.serialize([3, 1, 2, 1]) == s.serialize([1, 2, 3])
    m = parse_type("map<text, int>")
    assert m.deserialize(m.serialize({"b": 2, "a": 1})) == {"a": 1, "b": 2}
    assert list(m.deserialize(m.serialize({"b": 2, "a": 1}))) == ["a", "b"]


def test_udt_wire_and_python_values() -> None:
    from cql.types import UserType
    u = UserType("ks", "address", ("street", "zip"), (TEXT, INT))
    data = u.serialize({"street": "Main", "zip": 5})
    oracle = cqltypes.UserType.make_udt_class(
        "ks", "address", ("street", "zip"), (cqltypes.UTF8Type, cqltypes.Int32Type))
    assert data == oracle.serialize(("Main", 5), 4)
    assert u.deserialize(data) == {"street": "Main", "zip": 5}
    assert u.deserialize(u.serialize({"street": "x"})) == {"street": "x", "zip": None}
    with pytest.raises(CQLTypeError, match="Unknown field 'nope'"):
        u.serialize({"nope": 1})


ALL_TYPES = [parse_type(c.cql) for c in NATIVE_CASES + COLLECTION_CASES] + [
    parse_type("map<text, frozen<set<int>>>"), parse_type("tuple<int, duration>")]


@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.cql_name())
def test_garbage_raises_only_cql_type_error(t: Any) -> None:
    @settings(max_examples=150, deadline=None)
    @given(st.binary(max_size=40))
    def check(data: bytes) -> None:
        try:
            t.validate(data)
        except CQLTypeError:
            return
        t.deserialize(data)   # valid bytes must deserialize
        if not t.references_duration():
            c = t.to_comparable(data)
            assert t.from_comparable(c, 0)[1] == len(c)

    check()


@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.cql_name())
def test_garbage_comparable_raises_only_cql_type_error(t: Any) -> None:
    @settings(max_examples=100, deadline=None)
    @given(st.binary(max_size=40))
    def check(data: bytes) -> None:
        with contextlib.suppress(CQLTypeError):
            t.from_comparable(data, 0)

    check()

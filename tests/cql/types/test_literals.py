"""from_literal (statement literals -> wire) and to_cql_literal (wire -> CQL text)."""

from __future__ import annotations

import datetime
import decimal
import math
import uuid

import pytest
from cassandra import cqltypes, util

from cql import terms as T
from cql.errors import InvalidRequest
from cql.types import (
    NATIVE,
    UserType,
    from_literal,
    parse_type,
    to_cql_literal,
)

K = T.LiteralKind


def lit(kind: T.LiteralKind, text: str) -> T.Literal:
    return T.Literal(kind, text)


@pytest.mark.parametrize("type_name,kind,text,value", [
    ("int", K.INTEGER, "-42", -42),
    ("bigint", K.INTEGER, "9223372036854775807", 2**63 - 1),
    ("varint", K.INTEGER, "123456789012345678901234567890", 123456789012345678901234567890),
    ("double", K.FLOAT, "1.5e3", 1500.0),
    ("double", K.INTEGER, "3", 3.0),
    ("float", K.FLOAT, "-Infinity", float("-inf")),
    ("decimal", K.FLOAT, "1.250", decimal.Decimal("1.250")),
    ("boolean", K.BOOLEAN, "true", True),
    ("text", K.STRING, "it's", "it's"),
    ("blob", K.BLOB, "0xCAFE", b"\xca\xfe"),
    ("uuid", K.UUID, "01234567-89ab-cdef-0123-456789abcdef",
     uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")),
    ("timestamp", K.STRING, "2024-01-02 03:04:05+0000", datetime.datetime(2024, 1, 2, 3, 4, 5)),
    ("timestamp", K.STRING, "2024-01-02T03:04:05.123+01:00", datetime.datetime(2024, 1, 2, 2, 4, 5, 123000)),
    ("timestamp", K.STRING, "2024-01-02", datetime.datetime(2024, 1, 2)),
    ("timestamp", K.INTEGER, "1000", datetime.datetime(1970, 1, 1, 0, 0, 1)),
    ("inet", K.STRING, "::1", "::1"),
])
def test_constants(type_name: str, kind: T.LiteralKind, text: str, value: object) -> None:
    t = NATIVE[type_name]
    assert t.deserialize(from_literal(t, lit(kind, text)) or b"") == value


def test_nan_date_time_duration() -> None:
    d = NATIVE["double"]
    assert math.isnan(d.deserialize(from_literal(d, lit(K.FLOAT, "NaN")) or b""))
    date = NATIVE["date"]
    assert from_literal(date, lit(K.STRING, "2024-01-02")) == \
        cqltypes.SimpleDateType.serialize(util.Date("2024-01-02"), 4)
    assert from_literal(date, lit(K.INTEGER, str(2**31))) == (2**31).to_bytes(4, "big")
    time = NATIVE["time"]
    assert time.deserialize(from_literal(time, lit(K.STRING, "01:02:03.000000004")) or b"") \
        .nanosecond_time == 3723 * 10**9 + 4
    dur = NATIVE["duration"]
    for text, expect in [("1h30m", (0, 0, 5400 * 10**9)), ("-3d", (0, -3, 0)), ("P1Y2M3DT4H", (14, 3, 4 * 3600 * 10**9)),
                         ("P2W", (0, 14, 0)), ("1y2mo3w4d5h6m7s8ms9us10ns", (14, 25, 18367008009010)),
                         ("P0001-02-03T04:05:06", (14, 3, 14706 * 10**9))]:
        v = dur.deserialize(from_literal(dur, lit(K.DURATION, text)) or b"")
        assert (v.months, v.days, v.nanoseconds) == expect, text


@pytest.mark.parametrize("type_name,kind,text,message", [
    ("int", K.STRING, "abc", 'Invalid STRING constant (abc) for "v" of type int'),
    ("text", K.INTEGER, "1", 'Invalid INTEGER constant (1) for "v" of type text'),
    ("int", K.INTEGER, "2147483648", "Unable to make int from '2147483648'"),
    ("tinyint", K.INTEGER, "128", "Unable to make byte from '128'"),
    ("timestamp", K.STRING, "yesterday", "Unable to coerce 'yesterday' to a formatted date"),
    ("timeuuid", K.UUID, "01234567-89ab-4def-8123-456789abcdef", "version"),
    ("ascii", K.STRING, "é", "ASCII"),
    ("inet", K.STRING, "1.2.3", "inet"),
    ("duration", K.DURATION, "1m1h", "duration"),
    ("date", K.STRING, "2024-02-30", "date"),
    ("time", K.STRING, "25:00:00", "Hour out of bounds"),
])
def test_constant_errors(type_name: str, kind: T.LiteralKind, text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        from_literal(NATIVE[type_name], lit(kind, text), "v")
    assert message in e.value.message


def test_collections_tuples_udts() -> None:
    one, two = lit(K.INTEGER, "1"), lit(K.INTEGER, "2")
    lt = parse_type("list<int>")
    assert lt.deserialize(from_literal(lt, T.ListLiteral((two, one))) or b"") == [2, 1]
    st = parse_type("set<int>")
    assert st.deserialize(from_literal(st, T.SetLiteral((two, one, two))) or b"") == {1, 2}
    assert from_literal(st, T.MapLiteral(())) == b"\x00\x00\x00\x00"
    mt = parse_type("map<text, int>")
    m = from_literal(mt, T.MapLiteral(((lit(K.STRING, "b"), one), (lit(K.STRING, "a"), two))))
    assert mt.deserialize(m or b"") == {"a": 2, "b": 1}
    tt = parse_type("tuple<int, text>")
    assert tt.deserialize(from_literal(tt, T.TupleLiteral((one, lit(K.NULL, "null")))) or b"") == (1, None)
    u = UserType("ks", "address", ("street", "zip"), (NATIVE["text"], NATIVE["int"]))
    v = from_literal(u, T.UserTypeLiteral((("zip", one),)))
    assert u.deserialize(v or b"") == {"street": None, "zip": 1}
    assert from_literal(NATIVE["int"], lit(K.NULL, "null")) is None
    with pytest.raises(InvalidRequest, match="null is not supported inside collections"):
        from_literal(lt, T.ListLiteral((lit(K.NULL, "null"),)))
    with pytest.raises(InvalidRequest, match="Invalid list literal for l of type set<int>"):
        from_literal(st, T.ListLiteral((one,)), "l")
    with pytest.raises(InvalidRequest, match="Unknown field 'nope'"):
        from_literal(u, T.UserTypeLiteral((("nope", one),)))
    with pytest.raises(InvalidRequest):
        from_literal(lt, T.BindMarker(0))
    assert from_literal(NATIVE["int"], T.TypeCast("int", one)) == b"\x00\x00\x00\x01"


@pytest.mark.parametrize("type_name,value,text", [
    ("int", 5, "5"), ("text", "it's", "'it''s'"), ("blob", b"\x01", "0x01"),
    ("boolean", False, "false"), ("double", 1.0, "1.0"), ("float", 0.1, "0.1"),
    ("double", 1e300, "1.0E300"), ("double", 1e7, "1.0E7"), ("double", 9999999.0, "9999999.0"),
    ("double", 1e-4, "1.0E-4"), ("double", -0.0, "-0.0"), ("float", 1e10, "1.0E10"), ("timestamp", datetime.datetime(2024, 1, 2, 3, 4, 5),
                                   "'2024-01-02 03:04:05.000000+0000'"),
    ("date", "2024-01-02", "'2024-01-02'"), ("time", 1, "'00:00:00.000000001'"),
    ("duration", "1h30m", "1h30m"), ("inet", "127.0.0.1", "'127.0.0.1'"),
    ("decimal", decimal.Decimal("1.50"), "1.50"),
])
def test_to_cql_literal(type_name: str, value: object, text: str) -> None:
    t = NATIVE[type_name]
    assert to_cql_literal(t, t.serialize(value)) == text


def test_to_cql_literal_collections() -> None:
    assert to_cql_literal(parse_type("map<text, frozen<list<int>>>"),
                          parse_type("map<text, frozen<list<int>>>").serialize({"a": [1]})) == "{'a': [1]}"
    assert to_cql_literal(parse_type("tuple<int, text>"), b"\x00\x00\x00\x04\x00\x00\x00\x07\xff\xff\xff\xff") \
        == "(7, null)"
    assert to_cql_literal(parse_type("int"), None) == "null"

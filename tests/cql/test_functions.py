"""Native functions against the stock driver's own conversions as the oracle."""

from __future__ import annotations

import datetime
import uuid

import pytest
from cassandra import util as driver_util
from cassandra.cqltypes import DateType, SimpleDateType

from cql import functions as F
from cql.errors import InvalidRequest
from cql.types import BIGINT, BLOB, DATE, DECIMAL, DOUBLE, INT, TEXT, TIMESTAMP, TIMEUUID

NOW_US = 1_700_000_000_123_456
clock = F.FunctionClock(lambda: NOW_US)


def call(name: str, types: list, args: list) -> bytes | None:
    return F.resolve(name, types).execute(args, clock)


def test_now_is_a_version_1_uuid_at_the_clock_time() -> None:
    u = uuid.UUID(bytes=call("now", [], []))
    assert u.version == 1
    assert driver_util.unix_time_from_uuid1(u) == pytest.approx(NOW_US / 1e6, abs=1e-3)
    ticking = F.FunctionClock(iter(range(NOW_US, NOW_US + 10)).__next__)  # like the node's generator
    now = F.resolve("now", [])
    assert now.execute([], ticking) != now.execute([], ticking)


def test_time_conversions_match_the_driver() -> None:
    u = uuid.uuid1()
    ts = call("totimestamp", [TIMEUUID], [u.bytes])
    assert DateType.deserialize(ts, 4) == driver_util.datetime_from_uuid1(u).replace(
        microsecond=driver_util.datetime_from_uuid1(u).microsecond // 1000 * 1000)
    d = call("todate", [TIMESTAMP], [ts])
    assert SimpleDateType.deserialize(d, 4).date() == driver_util.datetime_from_uuid1(u).date()
    when = datetime.datetime(2020, 5, 6, 7, 8, 9, 10000, tzinfo=datetime.UTC)
    ms = int(when.timestamp() * 1000)
    lo = uuid.UUID(bytes=call("mintimeuuid", [TIMESTAMP], [ms.to_bytes(8, "big")]))
    hi = uuid.UUID(bytes=call("maxtimeuuid", [TIMESTAMP], [ms.to_bytes(8, "big")]))
    assert lo.version == hi.version == 1
    assert int(driver_util.unix_time_from_uuid1(lo) * 1000) == ms
    assert lo.time < hi.time
    assert call("tounixtimestamp", [TIMESTAMP], [ms.to_bytes(8, "big")]) == ms.to_bytes(8, "big")


def test_blob_conversions_and_cast() -> None:
    seven = (7).to_bytes(4, "big")
    assert call("intasblob", [INT], [seven]) == seven
    assert call("blobasint", [BLOB], [seven]) == seven
    with pytest.raises(InvalidRequest):
        call("blobasint", [BLOB], [b"\x01"])
    assert call("cast_as_text", [INT], [seven]) == b"7"
    assert call("cast_as_double", [INT], [seven]) == DOUBLE.serialize(7.0)
    assert call("cast_as_bigint", [DOUBLE], [DOUBLE.serialize(2.9)]) == BIGINT.serialize(2)
    assert call("cast_as_decimal", [INT], [seven]) == DECIMAL.serialize(__import__("decimal").Decimal(7))
    assert call("blobastext", [BLOB], [None]) is None


def test_aggregates() -> None:
    values = [INT.serialize(v) for v in (5, -3, 9, 1)] + [None]
    for name, expected in (("min", -3), ("max", 9), ("sum", 12), ("avg", 3)):
        agg = F.resolve(name, [INT]).new_aggregate()
        for v in values:
            agg.add([v])
        assert INT.deserialize(agg.result()) == expected, name
    with pytest.raises(InvalidRequest):
        F.resolve("sum", [TEXT])


def test_unknown_function_and_wrong_types() -> None:
    with pytest.raises(InvalidRequest, match="Unknown function"):
        F.resolve("nosuchfunction", [])
    with pytest.raises(InvalidRequest, match="none of its type signatures match"):
        F.resolve("totimestamp", [INT])
    with pytest.raises(InvalidRequest, match="1 required but 0 provided"):
        F.resolve("mintimeuuid", [])
    with pytest.raises(InvalidRequest, match=r"argument 0 of function system\.mintimeuuid of type timestamp"):
        F.resolve("mintimeuuid", [INT])
    assert DATE.validate(call("currentdate", [], [])) is None


def test_token_matches_the_driver() -> None:
    from cassandra.murmur3 import murmur3

    k = INT.serialize(42)
    assert BIGINT.deserialize(call("token", [INT], [k])) == murmur3(k)
    parts = [INT.serialize(1), TEXT.serialize("x")]
    composite = b"".join(len(p).to_bytes(2, "big") + p + b"\x00" for p in parts)
    assert BIGINT.deserialize(call("token", [INT, TEXT], parts)) == murmur3(composite)
    assert F.resolve("token", [INT, TEXT]).return_type == BIGINT


def test_count_star_and_count_column() -> None:
    star = F.resolve("count", []).new_aggregate()
    col = F.resolve("count", [INT]).new_aggregate()
    for v in (INT.serialize(1), None, INT.serialize(3)):
        star.add([])
        col.add([v])
    assert BIGINT.deserialize(star.result()) == 3
    assert BIGINT.deserialize(col.result()) == 2


def test_avg_truncates_toward_zero_and_sum_of_nothing_is_zero() -> None:
    agg = F.resolve("avg", [BIGINT]).new_aggregate()
    for v in (-7, 0):
        agg.add([BIGINT.serialize(v)])
    assert BIGINT.deserialize(agg.result()) == -3
    assert INT.deserialize(F.resolve("sum", [INT]).new_aggregate().result()) == 0
    with pytest.raises(InvalidRequest):
        F.resolve("max", [__import__("cql.types", fromlist=["DURATION"]).DURATION])


@pytest.mark.parametrize("src,value,text", [
    (TIMESTAMP, datetime.datetime(2011, 2, 3, 4, 5), "2011-02-03T04:05:00.000Z"),
    (BLOB, b"\xca\xfe", "cafe"),
    (DOUBLE, 1e300, "1.0E300"),
    (DATE, datetime.date(2024, 1, 2), "2024-01-02"),
    (TEXT, "it's", "it's"),
])
def test_cast_to_text(src: object, value: object, text: str) -> None:
    assert call("cast_as_text", [src], [src.serialize(value)]) == text.encode()  # type: ignore[attr-defined]


def test_functions_use_only_the_given_clock() -> None:
    ts = call("currenttimestamp", [], [])
    assert TIMESTAMP.deserialize(ts) == datetime.datetime(2023, 11, 14, 22, 13, 20, 123000)
    assert call("currentdate", [], []) == DATE.serialize(datetime.date(2023, 11, 14))
    assert call("currenttime", [], []) == ((NOW_US * 1000) % (86_400 * 10**9)).to_bytes(8, "big")


@pytest.mark.parametrize("value,dst,expected", [
    (float("nan"), INT, 0), (1e20, INT, 2**31 - 1), (1e20, BIGINT, 2**63 - 1), (-2.9, INT, -2),
    (70000.0, __import__("cql.types", fromlist=["SMALLINT"]).SMALLINT, 4464),   # (short)(int)d
])
def test_cast_double_to_integers_like_java(value: float, dst: object, expected: int) -> None:
    out = call(f"cast_as_{dst.name}", [DOUBLE], [DOUBLE.serialize(value)])  # type: ignore[attr-defined]
    assert dst.deserialize(out) == expected  # type: ignore[attr-defined]

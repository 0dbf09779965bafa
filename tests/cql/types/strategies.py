"""Hypothesis strategies per CQL type: Python values, the driver's class name (the oracle's
serializer) and a sort key giving the type's CQL order on those values."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import math
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from cql.types import Date, Duration, Time


@dataclass(frozen=True)
class Case:
    cql: str                       # our type name
    java: str                      # the driver's casstype (oracle serializer)
    values: st.SearchStrategy[Any]
    key: Callable[[Any], Any]      # CQL order of the values
    keyable: bool = True


def _float_key(v: float) -> Any:
    if math.isnan(v):
        return (1, 0.0, 0.0)
    return (0, v, math.copysign(1.0, v))


def _signed_bytes(b: bytes) -> tuple[int, ...]:
    return tuple(x - 256 if x > 127 else x for x in b)


def _timeuuid_key(u: uuid.UUID) -> Any:
    return (u.time, _signed_bytes(u.bytes[8:]))


def _uuid_key(u: uuid.UUID) -> Any:
    if u.version == 1 or (u.bytes[6] >> 4) == 1:
        return ((u.bytes[6] >> 4), u.time, _signed_bytes(u.bytes[8:]))
    return ((u.bytes[6] >> 4), u.bytes)


def _decimal_values() -> st.SearchStrategy[decimal.Decimal]:
    return st.builds(lambda u, s: decimal.Decimal(f"{u}E{-s}"),
                     st.integers(-(10**40), 10**40) | st.integers(-1000, 1000), st.integers(-60, 60))


def _duration_values() -> st.SearchStrategy[Duration]:
    pos = st.builds(Duration, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1),
                    st.integers(0, 2**63 - 1))
    return pos | pos.map(lambda d: Duration(-d.months, -d.days, -d.nanoseconds))


_any_uuid = st.uuids() | st.uuids(version=1) | st.builds(
    lambda b: uuid.UUID(bytes=b), st.binary(min_size=16, max_size=16))
_text = st.text(max_size=20)
_ts = st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31))

NATIVE_CASES = [
    Case("ascii", "AsciiType", st.text(st.characters(max_codepoint=127), max_size=20),
         lambda v: v.encode()),
    Case("bigint", "LongType", st.integers(-(2**63), 2**63 - 1), lambda v: v),
    Case("blob", "BytesType", st.binary(max_size=20), lambda v: v),
    Case("boolean", "BooleanType", st.booleans(), lambda v: v),
    Case("date", "SimpleDateType", st.integers(-(2**31), 2**31 - 1).map(Date),
         lambda v: v.days_from_epoch),
    Case("decimal", "DecimalType", _decimal_values(), lambda v: v),
    Case("double", "DoubleType", st.floats(), _float_key),
    Case("duration", "DurationType", _duration_values(), lambda v: v, keyable=False),
    Case("float", "FloatType", st.floats(width=32), _float_key),
    Case("inet", "InetAddressType",
         st.ip_addresses().map(str), lambda v: ipaddress.ip_address(v).packed),
    Case("int", "Int32Type", st.integers(-(2**31), 2**31 - 1), lambda v: v),
    Case("smallint", "ShortType", st.integers(-(2**15), 2**15 - 1), lambda v: v),
    Case("text", "UTF8Type", _text, lambda v: v.encode()),
    Case("time", "TimeType", st.integers(0, 86_400 * 10**9 - 1).map(Time), lambda v: v.nanosecond_time),
    Case("timestamp", "TimestampType", _ts.map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
         lambda v: v),
    Case("timeuuid", "TimeUUIDType", st.uuids(version=1), _timeuuid_key),
    Case("tinyint", "ByteType", st.integers(-128, 127), lambda v: v),
    Case("uuid", "UUIDType", _any_uuid, _uuid_key),
    Case("varint", "IntegerType", st.integers(-(2**200), 2**200) | st.integers(-300, 300), lambda v: v),
]
BY_NAME = {c.cql: c for c in NATIVE_CASES}


def _opt_key(key: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: (0,) if v is None else (1, key(v))


def _tuple_key(v: tuple[Any, ...]) -> Any:
    items = list(v)
    while items and items[-1] is None:      # trailing nulls are equal to missing fields
        items.pop()
    return tuple(_opt_key(lambda x: x.encode() if isinstance(x, str) else x)(e) for e in items)


COLLECTION_CASES = [
    Case("frozen<list<int>>", "FrozenType(ListType(Int32Type))",
         st.lists(BY_NAME["int"].values, max_size=5), lambda v: tuple(v)),
    Case("frozen<set<text>>", "FrozenType(SetType(UTF8Type))",
         st.sets(_text, max_size=5), lambda v: tuple(sorted(x.encode() for x in v))),
    Case("frozen<map<int, text>>", "FrozenType(MapType(Int32Type,UTF8Type))",
         st.dictionaries(BY_NAME["int"].values, _text, max_size=4),
         lambda v: tuple(sorted((k, x.encode()) for k, x in v.items()))),
    Case("frozen<tuple<int, text>>", "TupleType(Int32Type,UTF8Type)",
         st.tuples(st.none() | BY_NAME["int"].values, st.none() | _text),
         lambda v: _tuple_key(v)),
    Case("frozen<list<frozen<tuple<double, uuid>>>>",
         "FrozenType(ListType(TupleType(DoubleType,UUIDType)))",
         st.lists(st.tuples(st.floats(allow_nan=False), _any_uuid), max_size=3),
         lambda v: tuple((_float_key(a), _uuid_key(b)) for a, b in v)),
]


def f32(v: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", v))[0])

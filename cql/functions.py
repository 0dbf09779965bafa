"""CQL native functions and aggregates, over wire bytes.

Owns the definitions of the built-in functions (Cassandra/ScyllaDB `system` keyspace): time
functions (`now`, `currentTimestamp`, `toTimestamp`, `minTimeuuid` ...), `uuid()`, the blob
conversions (`blobAsInt`, `intAsBlob` ...), `CAST` conversions (as `cast_as_<type>`), `token`,
and the aggregates `count(*)`/`count(x)`, `min`, `max`, `sum`, `avg` as small accumulators
(`Function.new_aggregate()`; `count(*)` is `resolve("count", [])` and is fed `add([])` per row).

Invariants:
- Functions take and return wire bytes (`bytes | None`); a null argument gives null, as in
  Cassandra, except where noted.
- Time never comes from a hidden global: every call receives a `FunctionClock`.
- `resolve` raises InvalidRequest with a message naming the function and the argument types.
"""

from __future__ import annotations

import decimal
import math
import os
import struct
import uuid as uuidlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cql.errors import InvalidRequest
from cql.token import murmur3_token
from cql.types import (
    ASCII,
    BIGINT,
    BLOB,
    BOOLEAN,
    COUNTER,
    DATE,
    DECIMAL,
    DOUBLE,
    FLOAT,
    INET,
    INT,
    NATIVE,
    SMALLINT,
    TEXT,
    TIME,
    TIMESTAMP,
    TIMEUUID,
    TINYINT,
    UUID,
    VARINT,
    CQLType,
    serialize_partition_key,
)
from cql.types.temporal import format_timestamp_ms

_UUID_EPOCH_OFFSET_100NS = 0x01B21DD213814000  # 1582-10-15 to 1970-01-01 in 100 ns units
_I64 = struct.Struct(">q")
_DATE_BIAS = 2**31
_NS_PER_DAY = 86_400 * 10**9
_MS_PER_DAY = 86_400_000


class FunctionClock:
    """The time source of functions: the node's timestamp generator (µs, strictly increasing)."""

    def __init__(self, now_us: Callable[[], int]) -> None:
        self.now_us = now_us
        self._node = int.from_bytes(os.urandom(6), "big") | 0x010000000000  # multicast bit: random node
        self._clock_seq = int.from_bytes(os.urandom(2), "big") & 0x3FFF

    def timeuuid(self, at_us: int | None = None) -> bytes:
        us = self.now_us() if at_us is None else at_us
        return make_timeuuid(us * 10 + _UUID_EPOCH_OFFSET_100NS, self._clock_seq, self._node)


def make_timeuuid(ts_100ns: int, clock_seq: int, node: int) -> bytes:
    time_low = ts_100ns & 0xFFFFFFFF
    time_mid = (ts_100ns >> 32) & 0xFFFF
    time_hi = ((ts_100ns >> 48) & 0x0FFF) | 0x1000
    seq = (clock_seq & 0x3FFF) | 0x8000
    return struct.pack(">IHHHHI", time_low, time_mid, time_hi, seq, node >> 32, node & 0xFFFFFFFF)


def timeuuid_ms(data: bytes) -> int:
    """Milliseconds since the epoch of a version-1 UUID."""
    time_low, time_mid, time_hi = struct.unpack_from(">IHH", data)
    ts: int = ((time_hi & 0x0FFF) << 48) | (time_mid << 32) | time_low
    return (ts - _UUID_EPOCH_OFFSET_100NS) // 10_000


def _i64(n: int) -> bytes:
    return _I64.pack(n)


def _ms(data: bytes) -> int:
    return int(_I64.unpack(data)[0])


def _date_days(data: bytes) -> int:
    return int.from_bytes(data, "big") - _DATE_BIAS


def _date_bytes(days: int) -> bytes:
    return (days + _DATE_BIAS).to_bytes(4, "big")


@dataclass(frozen=True)
class Function:
    name: str
    arg_types: tuple[CQLType, ...]
    return_type: CQLType
    body: Callable[[list[bytes | None], FunctionClock], bytes | None]
    aggregate: Callable[[], Aggregate] | None = None
    null_in_null_out: bool = True

    @property
    def is_aggregate(self) -> bool:
        return self.aggregate is not None

    def execute(self, args: list[bytes | None], clock: FunctionClock) -> bytes | None:
        if self.null_in_null_out and any(a is None for a in args):
            return None
        return self.body(args, clock)

    def new_aggregate(self) -> Aggregate:
        assert self.aggregate is not None
        return self.aggregate()


class Aggregate(ABC):
    """One running aggregate (min, max, sum, avg) over a query's rows."""

    @abstractmethod
    def add(self, args: Sequence[bytes | None]) -> None: ...

    @abstractmethod
    def result(self) -> bytes | None: ...


# --- registry -------------------------------------------------------------------------------------

_FUNCTIONS: dict[str, list[Function]] = {}
_NONDETERMINISTIC = frozenset({"now", "uuid", "currenttimestamp", "currentdate", "currenttime",
                               "currenttimeuuid"})


def _define(name: str, args: Sequence[CQLType], ret: CQLType,
            body: Callable[[list[bytes | None], FunctionClock], bytes | None]) -> None:
    _FUNCTIONS.setdefault(name, []).append(Function(name, tuple(args), ret, body))


def is_nondeterministic(name: str) -> bool:
    return name.lower() in _NONDETERMINISTIC


def candidates(name: str, arg_count: int) -> list[tuple[CQLType, ...]]:
    """The parameter type lists of the overloads of `name` taking `arg_count` arguments."""
    return [f.arg_types for f in _FUNCTIONS.get(name.lower(), []) if len(f.arg_types) == arg_count]


def resolve(name: str, arg_types: Sequence[CQLType]) -> Function:
    lname = name.lower()
    if lname == "count":
        if len(arg_types) > 1:
            raise InvalidRequest(f"Invalid number of arguments in call to function system.count: 1 "
                                 f"required but {len(arg_types)} provided")
        return Function("count", tuple(arg_types), BIGINT, lambda a, c: None,
                        lambda: _Count(bool(arg_types)), False)
    if lname == "token":
        if not arg_types:
            raise InvalidRequest("Invalid number of arguments in call to function system.token")
        return Function("token", tuple(arg_types), BIGINT, _token)
    if lname in ("min", "max", "sum", "avg"):
        if len(arg_types) != 1:
            raise InvalidRequest(f"Invalid number of arguments in call to function system.{lname}: 1 required but "
                                 f"{len(arg_types)} provided")
        return _aggregate(lname, arg_types[0])
    overloads = _FUNCTIONS.get(lname)
    if not overloads:
        raise InvalidRequest(f"Unknown function '{name}'")
    wanted = [t.freeze() for t in arg_types]
    for f in overloads:
        if len(f.arg_types) == len(wanted) and all(_accepts(p, a) for p, a in zip(f.arg_types, wanted, strict=True)):
            return f
    # Cassandra's wording (FunctionResolver / FunctionCall.Raw), naming the argument types since
    # the argument terms are not known here.
    if len(overloads) == 1:
        f = overloads[0]
        if len(f.arg_types) != len(wanted):
            raise InvalidRequest(f"Invalid number of arguments in call to function system.{lname}: "
                                 f"{len(f.arg_types)} required but {len(wanted)} provided")
        i, (p, a) = next((i, pa) for i, pa in enumerate(zip(f.arg_types, wanted)) if not _accepts(*pa))
        raise InvalidRequest(f"Type error: a value of type {a.cql_name()} cannot be passed as argument "
                             f"{i} of function system.{lname} of type {p.cql_name()}")
    known = ", ".join(f"system.{lname} : ({', '.join(p.cql_name() for p in f.arg_types)}) -> "
                      f"{f.return_type.cql_name()}" for f in overloads)
    raise InvalidRequest(f"Invalid call to function {lname}, none of its type signatures match "
                         f"(known type signatures: {known})")


def _accepts(param: CQLType, arg: CQLType) -> bool:
    if param == arg:
        return True
    text_like = (TEXT, ASCII)
    return (param in text_like and arg in text_like) or (param == TIMESTAMP and arg == TIMESTAMP)


# --- time and uuid functions ------------------------------------------------------------------------

_define("now", (), TIMEUUID, lambda a, c: c.timeuuid())
_define("currenttimeuuid", (), TIMEUUID, lambda a, c: c.timeuuid())
_define("uuid", (), UUID, lambda a, c: uuidlib.uuid4().bytes)
_define("currenttimestamp", (), TIMESTAMP, lambda a, c: _i64(c.now_us() // 1000))
_define("currentdate", (), DATE, lambda a, c: _date_bytes((c.now_us() // 1000) // _MS_PER_DAY))
_define("currenttime", (), TIME, lambda a, c: _i64((c.now_us() * 1000) % _NS_PER_DAY))


def _req(a: bytes | None) -> bytes:
    assert a is not None  # null arguments are filtered by Function.execute
    return a


for _name in ("totimestamp", "dateof"):
    _define(_name, (TIMEUUID,), TIMESTAMP, lambda a, c: _i64(timeuuid_ms(_req(a[0]))))
_define("totimestamp", (DATE,), TIMESTAMP, lambda a, c: _i64(_date_days(_req(a[0])) * _MS_PER_DAY))
_define("todate", (TIMEUUID,), DATE, lambda a, c: _date_bytes(timeuuid_ms(_req(a[0])) // _MS_PER_DAY))
_define("todate", (TIMESTAMP,), DATE, lambda a, c: _date_bytes(_ms(_req(a[0])) // _MS_PER_DAY))
for _name in ("tounixtimestamp", "unixtimestampof"):
    _define(_name, (TIMEUUID,), BIGINT, lambda a, c: _i64(timeuuid_ms(_req(a[0]))))
_define("tounixtimestamp", (TIMESTAMP,), BIGINT, lambda a, c: _req(a[0]))
_define("tounixtimestamp", (DATE,), BIGINT, lambda a, c: _i64(_date_days(_req(a[0])) * _MS_PER_DAY))
# The smallest / largest timeuuid of a millisecond (Cassandra's fixed clock sequence and node).
_define("mintimeuuid", (TIMESTAMP,), TIMEUUID,
        lambda a, c: make_timeuuid(_ms(_req(a[0])) * 10_000 + _UUID_EPOCH_OFFSET_100NS, 0x0080, 0x808080808080))
_define("maxtimeuuid", (TIMESTAMP,), TIMEUUID,
        lambda a, c: make_timeuuid(_ms(_req(a[0])) * 10_000 + 9_999 + _UUID_EPOCH_OFFSET_100NS, 0x3F7F,
                                   0x7F7F7F7F7F7F))


# --- blob conversions -----------------------------------------------------------------------------

def _blob_to(t: CQLType) -> Callable[[list[bytes | None], FunctionClock], bytes | None]:
    def convert(a: list[bytes | None], c: FunctionClock) -> bytes | None:
        data = _req(a[0])
        t.validate(data)
        return data

    return convert


for _tname, _t in NATIVE.items():
    if _t.is_counter or _tname in ("blob", "varchar"):
        continue
    _define(f"{_tname}asblob", (_t,), BLOB, lambda a, c: a[0])
    _define(f"blobas{_tname}", (BLOB,), _t, _blob_to(_t))
_define("varcharasblob", (TEXT,), BLOB, lambda a, c: a[0])
_define("blobasvarchar", (BLOB,), TEXT, _blob_to(TEXT))


# --- CAST -----------------------------------------------------------------------------------------

_NUMERIC = (TINYINT, SMALLINT, INT, BIGINT, VARINT, FLOAT, DOUBLE, DECIMAL, COUNTER)
_INTEGRAL: dict[CQLType, int] = {TINYINT: 8, SMALLINT: 16, INT: 32, BIGINT: 64, COUNTER: 64}


def _to_number(t: CQLType, v: object) -> object:
    if t in _INTEGRAL:
        bits = _INTEGRAL[t]
        if isinstance(v, float):
            # Java's (int)/(long) of a double: NaN -> 0, saturating at the int/long range; narrower
            # types then wrap from int (Double.shortValue() is (short)(int)d).
            if math.isnan(v):
                return 0
            wide = 64 if bits == 64 else 32
            v = max(-(2 ** (wide - 1)), min(2 ** (wide - 1) - 1, int(v)))
        elif isinstance(v, decimal.Decimal) and not v.is_finite():
            raise InvalidRequest(f"Cannot convert {v} to {t.cql_name()}")
        n = int(v)  # type: ignore[call-overload]  # a number deserialized from a numeric type
        return ((n + 2 ** (bits - 1)) % 2**bits) - 2 ** (bits - 1)  # Java narrowing wraps
    if t == VARINT:
        if isinstance(v, float) and not math.isfinite(v):
            raise InvalidRequest(f"Cannot convert {v} to varint")
        return int(v)  # type: ignore[call-overload]
    if t in (FLOAT, DOUBLE):
        return float(v)  # type: ignore[arg-type]
    return decimal.Decimal(str(v))


def _text_of(t: CQLType, data: bytes) -> str:
    """CAST(x AS text): the type's string form (Cassandra's AbstractType.getString)."""
    if t in (TEXT, ASCII):
        return data.decode("utf-8")
    if t == BLOB:
        return data.hex()
    if t == TIMESTAMP:   # ISO 8601 with milliseconds and 'Z', as Cassandra/Scylla print it
        s = format_timestamp_ms(_ms(data))
        return s[:10] + "T" + s[11:23] + "Z"
    lit = t.to_cql_literal(data)
    if lit.startswith("'") and lit.endswith("'"):
        lit = lit[1:-1].replace("''", "'")
    return lit


def _token(a: list[bytes | None], c: FunctionClock) -> bytes:
    return _i64(murmur3_token(serialize_partition_key([_req(v) for v in a])))


def _cast(src: CQLType, dst: CQLType) -> Callable[[list[bytes | None], FunctionClock], bytes | None] | None:
    if src == dst:
        return lambda a, c: a[0]
    if dst in (TEXT, ASCII):
        return lambda a, c: dst.serialize(_text_of(src, _req(a[0])))
    if src in _NUMERIC and dst in _NUMERIC and dst != COUNTER:
        return lambda a, c: dst.serialize(_to_number(dst, src.deserialize(_req(a[0]))))
    if src == TIMESTAMP and dst == DATE:
        return lambda a, c: _date_bytes(_ms(_req(a[0])) // _MS_PER_DAY)
    if src == DATE and dst == TIMESTAMP:
        return lambda a, c: _i64(_date_days(_req(a[0])) * _MS_PER_DAY)
    if src == TIMEUUID and dst == TIMESTAMP:
        return lambda a, c: _i64(timeuuid_ms(_req(a[0])))
    if src == TIMEUUID and dst == DATE:
        return lambda a, c: _date_bytes(timeuuid_ms(_req(a[0])) // _MS_PER_DAY)
    return None


for _dst in (*_NUMERIC, TEXT, ASCII, TIMESTAMP, DATE):
    if _dst == COUNTER:
        continue
    for _src in (*_NUMERIC, TEXT, ASCII, TIMESTAMP, DATE, TIMEUUID, UUID, BOOLEAN, INET, BLOB, TIME):
        _body = _cast(_src, _dst)
        if _body is not None:
            _define(f"cast_as_{_dst.cql_name()}", (_src,), _dst, _body)


# --- aggregates -----------------------------------------------------------------------------------

class _MinMax(Aggregate):
    def __init__(self, t: CQLType, want_max: bool) -> None:
        self._t = t
        self._max = want_max
        self._best: bytes | None = None
        self._key: bytes = b""

    def add(self, args: Sequence[bytes | None]) -> None:
        v = args[0]
        if v is None:
            return
        k = self._t.to_comparable(v)
        if self._best is None or (k > self._key if self._max else k < self._key):
            self._best, self._key = v, k

    def result(self) -> bytes | None:
        return self._best


class _Count(Aggregate):
    """count(*) (counts every row) or count(x) (counts non-null x)."""

    def __init__(self, has_arg: bool) -> None:
        self._has_arg = has_arg
        self._n = 0

    def add(self, args: Sequence[bytes | None]) -> None:
        if not self._has_arg or args[0] is not None:
            self._n += 1

    def result(self) -> bytes | None:
        return _i64(self._n)


class _SumAvg(Aggregate):
    def __init__(self, t: CQLType, average: bool) -> None:
        self._t = t
        self._avg = average
        self._n = 0
        self._total: object = 0 if t not in (FLOAT, DOUBLE, DECIMAL) else (
            decimal.Decimal(0) if t == DECIMAL else 0.0)

    def add(self, args: Sequence[bytes | None]) -> None:
        v = args[0]
        if v is None:
            return
        self._n += 1
        self._total = self._total + self._t.deserialize(v)  # type: ignore[operator]

    def result(self) -> bytes | None:
        total = self._total
        if self._avg:
            if self._n == 0:
                total = 0
            elif self._t in (FLOAT, DOUBLE, DECIMAL):
                total = total / self._n  # type: ignore[operator]
            else:   # integer division truncating toward zero, as Java's
                t = int(total)  # type: ignore[call-overload]
                total = abs(t) // self._n * (-1 if t < 0 else 1)
        out = BIGINT if self._t == COUNTER else self._t
        return out.serialize(_to_number(out, total))


def _aggregate(name: str, t: CQLType) -> Function:
    if t.is_multicell:
        raise InvalidRequest(f"Aggregate {name} is not supported on non-frozen collections")
    if name in ("min", "max"):
        if t.references_duration():
            raise InvalidRequest(f"Invalid call to function system.{name}({t.cql_name()}): "
                                 "durations are not comparable")
        return Function(name, (t,), t, lambda a, c: None, lambda: _MinMax(t, name == "max"), False)
    if t not in _NUMERIC:
        raise InvalidRequest(f"Invalid call to function system.{name}({t.cql_name()}): numeric argument required")
    ret = BIGINT if t == COUNTER else t
    return Function(name, (t,), ret, lambda a, c: None, lambda: _SumAvg(t, name == "avg"), False)


del _name, _tname, _t, _dst, _src, _body

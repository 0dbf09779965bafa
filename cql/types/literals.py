"""Literal terms of a statement -> wire bytes, and wire bytes -> CQL literal text.

Owns `from_literal` (Cassandra's rules for which constant kinds a type accepts, and its error
wording: `Invalid STRING constant (foo) for "k" of type int`) and `to_cql_literal` (what
DESCRIBE and cqlsh print). Bind markers, function calls and casts of non-literals are resolved by
the caller before a value reaches here; `from_literal` rejects them.
"""

from __future__ import annotations

import decimal
import math
import uuid

from cql import terms
from cql.errors import InvalidRequest
from cql.types import native as n
from cql.types.base import CQLType, CQLTypeError
from cql.types.collections import ListType, MapType, SetType, TupleType, UserType
from cql.types.temporal import parse_date_days, parse_duration, parse_time_ns, parse_timestamp_ms
from cql.types.values import Date

K = terms.LiteralKind

# Which constant kinds each native type accepts (Cassandra's Constants.Type.testAssignment).
_ACCEPTS: dict[str, frozenset[terms.LiteralKind]] = {
    "ascii": frozenset({K.STRING}), "text": frozenset({K.STRING}),
    "inet": frozenset({K.STRING}),
    "timestamp": frozenset({K.STRING, K.INTEGER}), "date": frozenset({K.STRING, K.INTEGER}),
    "time": frozenset({K.STRING, K.INTEGER}),
    "bigint": frozenset({K.INTEGER}), "counter": frozenset({K.INTEGER}),
    "int": frozenset({K.INTEGER}), "smallint": frozenset({K.INTEGER}),
    "tinyint": frozenset({K.INTEGER}), "varint": frozenset({K.INTEGER}),
    "decimal": frozenset({K.INTEGER, K.FLOAT}), "double": frozenset({K.INTEGER, K.FLOAT}),
    "float": frozenset({K.INTEGER, K.FLOAT}),
    "boolean": frozenset({K.BOOLEAN}),
    "uuid": frozenset({K.UUID}), "timeuuid": frozenset({K.UUID}),
    "blob": frozenset({K.BLOB}),
    "duration": frozenset({K.DURATION, K.INTEGER}),
}
_KIND_NAME = {K.STRING: "STRING", K.INTEGER: "INTEGER", K.FLOAT: "FLOAT", K.BOOLEAN: "BOOLEAN",
              K.UUID: "UUID", K.BLOB: "HEX", K.DURATION: "DURATION", K.NULL: "NULL"}
_JAVA_NUM = {"int": "int", "bigint": "long", "counter": "long", "smallint": "short",
             "tinyint": "byte", "float": "float", "double": "double"}


def from_literal(t: CQLType, term: terms.Term, receiver: str = "value") -> bytes | None:
    """Convert a literal term for a receiver of type `t` (named `receiver` in messages) to wire
    bytes; None for `null`. Raises InvalidRequest (CQLTypeError) with Cassandra's messages."""
    if isinstance(term, terms.Literal):
        if term.kind is K.NULL:
            return None
        return _constant(t, term, receiver)
    if isinstance(term, terms.TypeCast):
        from cql.types.parse import parse_type
        cast_type = parse_type(term.type_text)
        if cast_type.freeze() != t.freeze():
            raise InvalidRequest(f"Cannot assign value of type {cast_type.cql_name()} to "
                                 f"{receiver} of type {t.cql_name()}")
        return from_literal(t, term.term, receiver)
    if isinstance(term, terms.ListLiteral):
        if isinstance(t, ListType):
            elems = [_elem(t.element, i, receiver) for i in term.items]
            return t.join(elems, len(elems))
        raise InvalidRequest(f"Invalid list literal for {receiver} of type {t.cql_name()}")
    if isinstance(term, terms.SetLiteral):
        if isinstance(t, SetType):
            return t.serialize_elements([_elem(t.element, i, receiver) for i in term.items])
        if isinstance(t, MapType) and not term.items:
            return t.join([], 0)
        raise InvalidRequest(f"Invalid set literal for {receiver} of type {t.cql_name()}")
    if isinstance(term, terms.MapLiteral):
        if isinstance(t, MapType):
            pairs = [(_elem(t.key_type, k, receiver), _elem(t.value_type, v, receiver))
                     for k, v in term.entries]
            return t.serialize_pairs(pairs)
        if not term.entries and isinstance(t, SetType):
            return t.join([], 0)
        if not term.entries and isinstance(t, UserType):
            return t.join([])
        raise InvalidRequest(f"Invalid map literal for {receiver} of type {t.cql_name()}")
    if isinstance(term, terms.TupleLiteral):
        if isinstance(t, TupleType) and not isinstance(t, UserType):
            if len(term.items) > len(t.types):
                raise InvalidRequest(f"Invalid tuple literal for {receiver}: too many elements. "
                                     f"Type {t.cql_name()} expects {len(t.types)} but got "
                                     f"{len(term.items)}")
            return t.join([from_literal(ft, i, f"component {n} of {receiver}")
                           for n, (ft, i) in enumerate(zip(t.types, term.items))])
        raise InvalidRequest(f"Invalid tuple type literal for {receiver} of type {t.cql_name()}")
    if isinstance(term, terms.UserTypeLiteral):
        if isinstance(t, UserType):
            values: list[bytes | None] = [None] * len(t.types)
            for name, v in term.fields:
                i = t.field_index(name)
                values[i] = from_literal(t.types[i], v, f"field {name} of {receiver}")
            while values and values[-1] is None:
                values.pop()
            return t.join(values)
        raise InvalidRequest(f"Invalid user type literal for {receiver} of type {t.cql_name()}")
    raise InvalidRequest(f"Cannot convert {type(term).__name__} for {receiver}: only literals are "
                         "converted here")


def _elem(t: CQLType, term: terms.Term, receiver: str) -> bytes:
    v = from_literal(t, term, receiver)
    if v is None:
        raise InvalidRequest("null is not supported inside collections")
    return v


def _constant(t: CQLType, lit: terms.Literal, receiver: str) -> bytes:
    accepts = _ACCEPTS.get(t.name) if isinstance(t, n.NativeType) else None
    if accepts is None or lit.kind not in accepts:
        raise InvalidRequest(f'Invalid {_KIND_NAME[lit.kind]} constant ({lit.text}) for "{receiver}" '
                             f"of type {t.cql_name()}")
    try:
        return parse_constant(t, lit.kind, lit.text)
    except CQLTypeError:
        raise
    except (ValueError, ArithmeticError):
        raise CQLTypeError(f"Unable to make {_JAVA_NUM.get(t.name, t.name)} from '{lit.text}'") from None


def parse_constant(t: CQLType, kind: terms.LiteralKind, text: str) -> bytes:
    """The wire bytes of the constant `text` of `kind` for native type `t` (kind already checked).
    Also used by CAST from text and by the functions."""
    name = t.name
    if name in ("ascii", "text"):
        return t.serialize(text)
    if isinstance(t, n.FixedIntType):
        i = int(text)
        if not t.min_value <= i <= t.max_value:
            raise CQLTypeError(f"Unable to make {_JAVA_NUM[name]} from '{text}'")
        return t.serialize(i)
    if name == "varint":
        return n.VARINT.serialize(int(text))
    if name in ("float", "double"):
        low = text.lower()
        if low in ("nan", "infinity", "-infinity", "+infinity"):
            v = float(low.replace("infinity", "inf"))
        else:
            v = float(text)
            if math.isinf(v) or (name == "float" and abs(v) > 3.4028234663852886e38):
                raise CQLTypeError(f"Unable to make {name} from '{text}'")
        return t.serialize(v)
    if name == "decimal":
        if text.lower() in ("nan", "infinity", "-infinity"):
            raise CQLTypeError(f"Unable to make BigDecimal from '{text}'")
        return n.DECIMAL.serialize(decimal.Decimal(text))
    if name == "boolean":
        if text.lower() not in ("true", "false"):
            raise CQLTypeError(f"Unable to make boolean from '{text}'")
        return n.BOOLEAN.serialize(text.lower() == "true")
    if name in ("uuid", "timeuuid"):
        try:
            u = uuid.UUID(text)
        except ValueError:
            raise CQLTypeError(f"Unable to make UUID from '{text}'") from None
        return t.serialize(u)
    if name == "blob":
        hexpart = text[2:] if text[:2] in ("0x", "0X") else text
        try:
            return bytes.fromhex(hexpart)
        except ValueError:
            raise CQLTypeError(f"cannot parse '{text}' as hex bytes") from None
    if name == "timestamp":
        return n.TIMESTAMP.serialize(parse_timestamp_ms(text))
    if name == "date":
        return n.DATE.serialize(Date(parse_date_days(text)))
    if name == "time":
        return n.TIME.serialize(parse_time_ns(text))
    if name == "inet":
        return n.INET.serialize(text.strip())
    if name == "duration":
        return n.DURATION.serialize(parse_duration(text))
    raise CQLTypeError(f"Type {name} has no constants")


def to_cql_literal(t: CQLType, data: bytes | None) -> str:
    """The CQL literal for a value (`null` for None), as DESCRIBE/cqlsh print it."""
    if data is None:
        return "null"
    return t.to_cql_literal(data)

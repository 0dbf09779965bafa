"""Parsing type names: CQL syntax (`frozen<map<text, list<int>>>`) and Java marshal class names
(`org.apache.cassandra.db.marshal.ListType(org.apache.cassandra.db.marshal.Int32Type)`).

Owns `parse_type` and its cache. Results that contain no user-defined type are cached forever
(they are immutable and independent of the schema); results with UDTs depend on the schema, so
they are not cached here: callers cache them per schema version.

Rules (Cassandra's): keywords and native names are case-insensitive; unquoted UDT names are
lowercased, quoted ones kept; elements of collections and fields of tuples/UDTs must be frozen —
inside a frozen type they are frozen implicitly, inside a non-frozen collection a non-frozen
collection/UDT is an error; tuples are always frozen; `counter` is not allowed inside collections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from cql.errors import InvalidRequest, SyntaxException
from cql.types.base import CQLType
from cql.types.collections import ListType, MapType, SetType, TupleType, UserType
from cql.types.native import NATIVE


class UserTypeDefLike(Protocol):
    """What a UDT lookup may return instead of a built `UserType` (e.g. `cql.schema.UserTypeDef`)."""

    @property
    def keyspace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def field_names(self) -> tuple[str, ...]: ...
    @property
    def field_types(self) -> tuple[str, ...]: ...


UDTLookup = Callable[[str], "UserType | UserTypeDefLike | None"]

JAVA_PREFIX = "org.apache.cassandra.db.marshal."
_JAVA_NATIVE = {
    "AsciiType": "ascii", "LongType": "bigint", "BytesType": "blob", "BooleanType": "boolean",
    "CounterColumnType": "counter", "SimpleDateType": "date", "DecimalType": "decimal",
    "DoubleType": "double", "DurationType": "duration", "FloatType": "float",
    "InetAddressType": "inet", "Int32Type": "int", "ShortType": "smallint", "UTF8Type": "text",
    "TimeType": "time", "TimestampType": "timestamp", "DateType": "timestamp",
    "TimeUUIDType": "timeuuid", "ByteType": "tinyint", "UUIDType": "uuid", "IntegerType": "varint",
}

_cache: dict[str, CQLType] = {}
_CACHE_MAX = 4096


def parse_type(text: str, udts: UDTLookup | None = None) -> CQLType:
    """Parse a CQL type name or a Java marshal class name; raises SyntaxException/InvalidRequest."""
    cached = _cache.get(text)
    if cached is not None:
        return cached
    s = text.strip()
    if s.startswith(("'", '"')) and s.endswith(s[0]) and "." in s:
        s = s[1:-1]     # a custom type given as a quoted class name
    if "(" in s or s.startswith(JAVA_PREFIX) or (s[:1].isupper() and s.endswith("Type")):
        t = _JavaParser(s, udts).parse()
    else:
        t = _CqlParser(s, udts).parse()
    if not _has_udt(t):
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[text] = t
    return t


def _has_udt(t: CQLType) -> bool:
    return isinstance(t, UserType) or any(_has_udt(s) for s in t.subtypes())


def _build_udt(found: UserType | UserTypeDefLike, frozen: bool, udts: UDTLookup | None) -> UserType:
    if isinstance(found, UserType):
        return found if found.is_frozen == frozen else UserType(
            found.keyspace, found.type_name, found.field_names, found.types, frozen)
    ftypes = [_as_field(parse_type(ft, udts)) for ft in found.field_types]
    return UserType(found.keyspace, found.name, found.field_names, ftypes, frozen)


def _as_field(t: CQLType) -> CQLType:
    if t.is_counter:
        raise InvalidRequest("Counters are not allowed inside collections, tuples or user types")
    return t.freeze()


class _CqlParser:
    def __init__(self, text: str, udts: UDTLookup | None) -> None:
        self.text = text
        self.pos = 0
        self.udts = udts

    def _error(self, msg: str) -> SyntaxException:
        return SyntaxException(f"{msg} in type '{self.text}' at character {self.pos}")

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _ident(self) -> tuple[str, bool]:
        self._skip_ws()
        s = self.text
        if self.pos < len(s) and s[self.pos] == '"':
            out = []
            i = self.pos + 1
            while True:
                j = s.find('"', i)
                if j < 0:
                    raise self._error("unterminated quoted name")
                out.append(s[i:j])
                if s.startswith('"', j + 1):
                    out.append('"')
                    i = j + 2
                    continue
                self.pos = j + 1
                return "".join(out), True
        start = self.pos
        while self.pos < len(s) and (s[self.pos].isalnum() or s[self.pos] in "_."):
            self.pos += 1
        if start == self.pos:
            raise self._error("expected a type name")
        return s[start:self.pos], False

    def _expect(self, ch: str) -> None:
        self._skip_ws()
        if not self.text.startswith(ch, self.pos):
            raise self._error(f"expected '{ch}'")
        self.pos += 1

    def _peek(self, ch: str) -> bool:
        self._skip_ws()
        return self.text.startswith(ch, self.pos)

    def parse(self) -> CQLType:
        t = self._type(frozen_ctx=False, top=True)
        self._skip_ws()
        if self.pos != len(self.text):
            raise self._error("unexpected trailing input")
        return t

    def _args(self, frozen_ctx: bool) -> list[CQLType]:
        self._expect("<")
        args = [self._type(frozen_ctx, top=False)]
        while self._peek(","):
            self.pos += 1
            args.append(self._type(frozen_ctx, top=False))
        self._expect(">")
        return args

    def _type(self, frozen_ctx: bool, top: bool) -> CQLType:
        name, quoted = self._ident()
        low = name if quoted else name.lower()
        if not quoted and low == "frozen":
            args = self._args(True)
            if len(args) != 1:
                raise self._error("frozen<> takes one type")
            inner = args[0]
            if not (inner.is_collection or isinstance(inner, TupleType)):
                raise InvalidRequest(f"frozen<> is only allowed on collections, tuples, and "
                                     f"user-defined types (got {inner.cql_name()})")
            return inner.freeze()
        if not quoted and low in ("list", "set", "map", "tuple"):
            args = self._args(frozen_ctx or low == "tuple")
            want = {"list": 1, "set": 1, "map": 2}.get(low)
            if want is not None and len(args) != want:
                raise self._error(f"{low} takes {want} type argument{'s' if want > 1 else ''}")
            if not top and not frozen_ctx and low != "tuple":
                raise InvalidRequest(f"Non-frozen collections are not allowed inside collections: "
                                     f"{self.text}")
            fields = [self._field(a) for a in args]
            if low == "tuple":
                return TupleType(fields)
            if low == "list":
                return ListType(fields[0], frozen_ctx)
            if low == "set":
                return SetType(fields[0], frozen_ctx)
            return MapType(fields[0], fields[1], frozen_ctx)
        if not quoted and low in NATIVE:
            return NATIVE[low]
        if not quoted and low.startswith(JAVA_PREFIX):
            return _JavaParser(name, self.udts).parse()
        if self.udts is None:
            raise InvalidRequest(f"Unknown type {name}")
        found = self.udts(low)
        if found is None:
            raise InvalidRequest(f"Unknown type {name}")
        if not top and not frozen_ctx:
            raise InvalidRequest(f"Non-frozen UDTs are not allowed inside collections: {self.text}")
        return _build_udt(found, frozen_ctx, self.udts)

    def _field(self, t: CQLType) -> CQLType:
        return _as_field(t)


class _JavaParser:
    """`Name` or `Name(arg, arg)`, names with or without the marshal package prefix."""

    def __init__(self, text: str, udts: UDTLookup | None) -> None:
        self.text = text.replace(" ", "")
        self.pos = 0
        self.udts = udts

    def parse(self) -> CQLType:
        t = self._type(frozen=False)
        if self.pos != len(self.text):
            raise SyntaxException(f"Unexpected trailing input in type '{self.text}'")
        return t

    def _word(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "(),:":
            self.pos += 1
        return self.text[start:self.pos]

    def _params(self) -> list[str]:
        """Raw parameter texts of `(a,b(c),d)` (top-level split on commas)."""
        if not self.text.startswith("(", self.pos):
            return []
        depth, start, out = 0, self.pos + 1, []
        for i in range(self.pos, len(self.text)):
            ch = self.text[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    out.append(self.text[start:i])
                    self.pos = i + 1
                    return [p for p in out if p]
            elif ch == "," and depth == 1:
                out.append(self.text[start:i])
                start = i + 1
        raise SyntaxException(f"Unbalanced parentheses in type '{self.text}'")

    def _sub(self, text: str, frozen: bool) -> CQLType:
        p = _JavaParser(text, self.udts)
        t = p._type(frozen)
        if p.pos != len(p.text):
            raise SyntaxException(f"Malformed type parameter '{text}'")
        return t

    def _type(self, frozen: bool) -> CQLType:
        word = self._word()
        short = word[len(JAVA_PREFIX):] if word.startswith(JAVA_PREFIX) else word
        params = self._params()
        if short in _JAVA_NATIVE and not params:
            return NATIVE[_JAVA_NATIVE[short]]
        if short == "ReversedType" and len(params) == 1:
            return self._sub(params[0], frozen)
        if short == "FrozenType" and len(params) == 1:
            return self._sub(params[0], True).freeze()
        if short in ("ListType", "SetType") and len(params) == 1:
            elem = _as_field(self._sub(params[0], True))
            return ListType(elem, frozen) if short == "ListType" else SetType(elem, frozen)
        if short == "MapType" and len(params) == 2:
            return MapType(_as_field(self._sub(params[0], True)),
                           _as_field(self._sub(params[1], True)), frozen)
        if short == "TupleType" and params:
            return TupleType([_as_field(self._sub(p, True)) for p in params])
        if short == "UserType" and len(params) >= 2:
            return self._udt(params, frozen)
        raise InvalidRequest(f"Unknown or unsupported type class '{word}'")

    def _udt(self, params: Sequence[str], frozen: bool) -> UserType:
        keyspace = params[0]
        try:
            name = bytes.fromhex(params[1]).decode("utf-8")
            names, types = [], []
            for p in params[2:]:
                hexname, _, tname = p.partition(":")
                names.append(bytes.fromhex(hexname).decode("utf-8"))
                types.append(_as_field(self._sub(tname, True)))
        except ValueError:
            raise SyntaxException(f"Malformed UserType parameters in '{self.text}'") from None
        return UserType(keyspace, name, names, types, frozen)

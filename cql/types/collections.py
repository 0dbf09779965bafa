"""Parameterized CQL types: list, set, map, tuple and user-defined types (UDT).

Owns their wire codecs (native protocol v3+ format: int32 element counts and lengths), validation,
and comparable encodings. Comparable grammar (all of them):
    value := 0x00                       -- the empty (zero-byte) value
           | item* 0x38                 -- 0x38 terminates, so a prefix sorts first
    item  := 0x40 comparable(element)   -- list/set element; map key then value as two items;
           | 0x3E                       -- a null tuple/UDT field (sorts before any value)
Sets and maps are canonicalised (sorted by element/key comparable bytes, duplicates dropped), so
equal frozen collections produce equal keys whatever order a client sent them in.

Invariants: elements of a collection and fields of a tuple/UDT are always frozen types; a
non-frozen collection/UDT is `is_multicell` and only valid as a top-level column type.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cql import protocol_types as pt
from cql.types.base import EMPTY_COMPARABLE, CQLType, CQLTypeError

_I32 = struct.Struct(">i")
_pack_i32 = _I32.pack
_unpack_i32 = _I32.unpack_from

SEP = 0x40
NULL_ITEM = 0x3E
TERM = 0x38


def _read_value(data: bytes, pos: int, what: str, nullable: bool) -> tuple[bytes | None, int]:
    if pos + 4 > len(data):
        raise CQLTypeError(f"Not enough bytes to read the size of a {what} element")
    n = _unpack_i32(data, pos)[0]
    pos += 4
    if n < 0:
        if not nullable:
            raise CQLTypeError("null is not supported inside collections")
        return None, pos
    if pos + n > len(data):
        raise CQLTypeError(f"Not enough bytes to read a {what} element ({n} declared, "
                           f"{len(data) - pos} left)")
    return bytes(data[pos:pos + n]), pos + n


def _write_value(v: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if v is None else _pack_i32(len(v)) + v


def _quote_ident(name: str) -> str:
    if name.isidentifier() and name.islower() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'


def _hashable(items: list[Any], as_set: bool) -> Any:
    try:
        return set(items) if as_set else dict(items)
    except TypeError:   # unhashable elements (lists, dicts): keep the sorted wire order
        return items


class CollectionType(CQLType):
    is_collection = True
    kind = ""

    def __init__(self, frozen: bool) -> None:
        self.is_frozen = frozen
        self.is_multicell = not frozen

    def cql_name(self) -> str:
        return f"frozen<{self.name}>" if self.is_frozen else self.name

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.is_frozen, *self.subtypes())

    def references_duration(self) -> bool:
        return any(s.references_duration() for s in self.subtypes())

    def _count(self, data: bytes) -> int:
        if len(data) < 4:
            raise CQLTypeError(f"Not enough bytes to read a {self.kind} size ({len(data)})")
        n: int = _unpack_i32(data, 0)[0]
        if n < 0:
            raise CQLTypeError(f"Negative {self.kind} size {n}")
        return n

    def split(self, data: bytes) -> list[bytes]:
        """The serialized elements (for a map: key, value, key, value ...), validated framing."""
        if not data:
            return []
        n = self._count(data) * (2 if self.kind == "map" else 1)
        pos = 4
        out = []
        for _ in range(n):
            v, pos = _read_value(data, pos, self.kind, False)
            assert v is not None
            out.append(v)
        if pos != len(data):
            raise CQLTypeError(f"Unexpected extraneous bytes after {self.kind} value")
        return out

    @staticmethod
    def join(elements: Sequence[bytes], count: int) -> bytes:
        return _pack_i32(count) + b"".join(_pack_i32(len(e)) + e for e in elements)

    def _elem_types(self) -> tuple[CQLType, ...]:
        return self.subtypes()

    def validate(self, data: bytes) -> None:
        types = self._elem_types()
        for i, e in enumerate(self.split(data)):
            types[i % len(types)].validate(e)

    def to_comparable(self, data: bytes) -> bytes:
        if not data:
            return EMPTY_COMPARABLE
        types = self._elem_types()
        elems = self.split(data)
        width = len(types)
        items = [b"".join(b"\x40" + types[j].to_comparable(elems[i + j]) for j in range(width))
                 for i in range(0, len(elems), width)]
        if self.kind != "list":
            items = sorted(set(items)) if self.kind == "set" else _dedup_map(items, types[0])
        return b"".join(items) + b"\x38"

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        types = self._elem_types()
        elems: list[bytes] = []
        while True:
            if pos >= len(data):
                raise CQLTypeError(f"Unterminated comparable {self.kind}")
            marker = data[pos]
            if marker == TERM:
                pos += 1
                break
            for t in types:
                if pos >= len(data) or data[pos] != SEP:
                    raise CQLTypeError(f"Malformed comparable {self.kind} at offset {pos}")
                e, pos = t.from_comparable(data, pos + 1)
                elems.append(e)
        return self.join(elems, len(elems) // len(types)), pos

    def deserialize(self, data: bytes) -> Any:
        if not data:
            return None
        types = self._elem_types()
        vals = [types[i % len(types)].deserialize(e) for i, e in enumerate(self.split(data))]
        if self.kind == "list":
            return vals
        if self.kind == "set":
            return _hashable(vals, True)
        return _hashable(list(zip(vals[::2], vals[1::2])), False)

    def to_cql_literal(self, data: bytes) -> str:
        types = self._elem_types()
        parts = [types[i % len(types)].to_cql_literal(e) for i, e in enumerate(self.split(data))]
        if self.kind == "list":
            return "[" + ", ".join(parts) + "]"
        if self.kind == "set":
            return "{" + ", ".join(parts) + "}"
        return "{" + ", ".join(f"{k}: {v}" for k, v in zip(parts[::2], parts[1::2])) + "}"


def _dedup_map(items: list[bytes], key_type: CQLType) -> list[bytes]:
    # Each item is 0x40 key 0x40 value; the last entry for a key wins (as in a map literal).
    by_key: dict[bytes, bytes] = {}
    for item in items:
        _, end = key_type.from_comparable(item, 1)
        by_key[item[:end]] = item
    return [by_key[k] for k in sorted(by_key)]


class ListType(CollectionType):
    kind = "list"

    def __init__(self, element: CQLType, frozen: bool) -> None:
        super().__init__(frozen)
        self.element = element
        self.name = f"list<{element.cql_name()}>"
        self.protocol_option = (pt.LIST, element.protocol_option)

    def subtypes(self) -> tuple[CQLType, ...]:
        return (self.element,)

    def freeze(self) -> CQLType:
        return self if self.is_frozen else ListType(self.element, True)

    def serialize(self, value: object) -> bytes:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise CQLTypeError(f"Invalid value {value!r} for type {self.cql_name()}")
        elems = [_serialize_elem(self.element, v) for v in value]
        return self.join(elems, len(elems))


class SetType(CollectionType):
    kind = "set"

    def __init__(self, element: CQLType, frozen: bool) -> None:
        super().__init__(frozen)
        self.element = element
        self.name = f"set<{element.cql_name()}>"
        self.protocol_option = (pt.SET, element.protocol_option)

    def subtypes(self) -> tuple[CQLType, ...]:
        return (self.element,)

    def freeze(self) -> CQLType:
        return self if self.is_frozen else SetType(self.element, True)

    def serialize(self, value: object) -> bytes:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise CQLTypeError(f"Invalid value {value!r} for type {self.cql_name()}")
        return self.serialize_elements([_serialize_elem(self.element, v) for v in value])

    def serialize_elements(self, elems: Iterable[bytes]) -> bytes:
        """Serialized elements -> the set value in element order, without duplicates (as
        Cassandra sends a set)."""
        by_comp = {self.element.to_comparable(e): e for e in elems}
        ordered = [by_comp[k] for k in sorted(by_comp)]
        return self.join(ordered, len(ordered))


class MapType(CollectionType):
    kind = "map"

    def __init__(self, key_type: CQLType, value_type: CQLType, frozen: bool) -> None:
        super().__init__(frozen)
        self.key_type = key_type
        self.value_type = value_type
        self.name = f"map<{key_type.cql_name()}, {value_type.cql_name()}>"
        self.protocol_option = (pt.MAP, key_type.protocol_option, value_type.protocol_option)

    def subtypes(self) -> tuple[CQLType, ...]:
        return (self.key_type, self.value_type)

    def freeze(self) -> CQLType:
        return self if self.is_frozen else MapType(self.key_type, self.value_type, True)

    def serialize(self, value: object) -> bytes:
        if isinstance(value, Mapping):
            pairs: Iterable[Any] = value.items()
        elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
            pairs = value
        else:
            raise CQLTypeError(f"Invalid value {value!r} for type {self.cql_name()}")
        return self.serialize_pairs([(_serialize_elem(self.key_type, k),
                                      _serialize_elem(self.value_type, v)) for k, v in pairs])

    def serialize_pairs(self, pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
        """Serialized (key, value) pairs -> the map value in key order; the last duplicate wins."""
        by_comp = {self.key_type.to_comparable(k): (k, v) for k, v in pairs}
        elems = [x for c in sorted(by_comp) for x in by_comp[c]]
        return self.join(elems, len(by_comp))


def _serialize_elem(t: CQLType, v: object) -> bytes:
    if v is None:
        raise CQLTypeError("null is not supported inside collections")
    return t.serialize(v)


class TupleType(CQLType):
    """tuple<...>: always frozen. Wire: each field as int32 length (-1 for null) + bytes, no
    count; fewer fields than declared is allowed (missing trailing fields are null)."""

    kind = "tuple"

    def __init__(self, fields: Sequence[CQLType]) -> None:
        self.types = tuple(fields)
        self.name = "tuple<" + ", ".join(t.cql_name() for t in self.types) + ">"
        self.protocol_option = (pt.TUPLE, tuple(t.protocol_option for t in self.types))

    @property
    def key(self) -> tuple[Any, ...]:
        return ("tuple", *self.types)

    def cql_name(self) -> str:
        return f"frozen<{self.name}>"

    def subtypes(self) -> tuple[CQLType, ...]:
        return self.types

    def references_duration(self) -> bool:
        return any(s.references_duration() for s in self.types)

    def split(self, data: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        pos = 0
        while pos < len(data):
            if len(out) >= len(self.types):
                raise CQLTypeError(f"Invalid {self.kind} value: more than {len(self.types)} fields "
                                   f"for type {self.cql_name()}")
            v, pos = _read_value(data, pos, self.kind, True)
            out.append(v)
        return out

    @staticmethod
    def join(fields: Sequence[bytes | None]) -> bytes:
        return b"".join(_write_value(f) for f in fields)

    def validate(self, data: bytes) -> None:
        for t, f in zip(self.types, self.split(data)):
            if f is not None:
                t.validate(f)

    def _field_values(self, value: object) -> list[object]:
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            return list(value)
        raise CQLTypeError(f"Invalid value {value!r} for type {self.cql_name()}")

    def serialize(self, value: object) -> bytes:
        vals = self._field_values(value)
        if len(vals) > len(self.types):
            raise CQLTypeError(f"Expected {len(self.types)} fields for {self.cql_name()}, got {len(vals)}")
        return self.join([None if v is None else t.serialize(v) for t, v in zip(self.types, vals)])

    def _deserialize_fields(self, data: bytes) -> list[Any]:
        fields = self.split(data)
        fields += [None] * (len(self.types) - len(fields))
        return [None if f is None else t.deserialize(f) for t, f in zip(self.types, fields)]

    def deserialize(self, data: bytes) -> Any:
        return tuple(self._deserialize_fields(data)) if data else None

    def to_comparable(self, data: bytes) -> bytes:
        if not data:
            return EMPTY_COMPARABLE
        fields = self.split(data)
        # Trailing nulls are dropped so (1, null) and (1) -- equal values -- encode equally.
        while fields and fields[-1] is None:
            fields.pop()
        return b"".join(b"\x3e" if f is None else b"\x40" + t.to_comparable(f)
                        for t, f in zip(self.types, fields)) + b"\x38"

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        fields: list[bytes | None] = []
        while True:
            if pos >= len(data):
                raise CQLTypeError(f"Unterminated comparable {self.kind}")
            marker = data[pos]
            if marker == TERM:
                # An all-null tuple must not come back as the zero-byte (empty) value.
                return self.join(fields or [None]), pos + 1
            if len(fields) >= len(self.types):
                raise CQLTypeError(f"Too many fields in comparable {self.kind}")
            if marker == NULL_ITEM:
                fields.append(None)
                pos += 1
            elif marker == SEP:
                f, pos = self.types[len(fields)].from_comparable(data, pos + 1)
                fields.append(f)
            else:
                raise CQLTypeError(f"Malformed comparable {self.kind} at offset {pos}")

    def to_cql_literal(self, data: bytes) -> str:
        fields = self.split(data)
        return "(" + ", ".join("null" if f is None else t.to_cql_literal(f)
                               for t, f in zip(self.types, fields)) + ")"


class UserType(TupleType):
    """A user-defined type: a tuple with named fields, in a keyspace; frozen or not.

    Wire format as a tuple; a non-frozen UDT is stored one cell per field (path = u16 index)."""

    kind = "udt"

    def __init__(self, keyspace: str, type_name: str, field_names: Sequence[str],
                 field_types: Sequence[CQLType], frozen: bool = True) -> None:
        super().__init__(field_types)
        self.keyspace = keyspace
        self.type_name = type_name
        self.field_names = tuple(field_names)
        self.is_frozen = frozen
        self.is_multicell = not frozen
        self.name = _quote_ident(type_name)
        self.protocol_option = (pt.UDT, keyspace, type_name,
                                tuple((n, t.protocol_option) for n, t in zip(self.field_names, self.types)))

    @property
    def key(self) -> tuple[Any, ...]:
        return ("udt", self.keyspace, self.type_name, self.field_names, self.types, self.is_frozen)

    def cql_name(self) -> str:
        return f"frozen<{self.name}>" if self.is_frozen else self.name

    def freeze(self) -> CQLType:
        if self.is_frozen:
            return self
        return UserType(self.keyspace, self.type_name, self.field_names, self.types, True)

    def field_index(self, name: str) -> int:
        try:
            return self.field_names.index(name)
        except ValueError:
            raise CQLTypeError(f"Unknown field '{name}' in value of user defined type "
                               f"{self.type_name}") from None

    def _field_values(self, value: object) -> list[object]:
        if isinstance(value, Mapping):
            for k in value:
                self.field_index(k)
            return [value.get(n) for n in self.field_names]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return list(value)
        if all(hasattr(value, n) for n in self.field_names):
            return [getattr(value, n) for n in self.field_names]
        raise CQLTypeError(f"Invalid value {value!r} for type {self.cql_name()}")

    def deserialize(self, data: bytes) -> Any:
        if not data:
            return None
        return dict(zip(self.field_names, self._deserialize_fields(data)))

    def to_cql_literal(self, data: bytes) -> str:
        fields = self.split(data)
        return "{" + ", ".join(
            f"{_quote_ident(n)}: {'null' if f is None else t.to_cql_literal(f)}"
            for n, t, f in zip(self.field_names, self.types, fields)) + "}"

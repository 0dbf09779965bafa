"""Structural questions about CQL types that the statement layer asks (what kind of collection,
its element/key/value/field types), answered with type checks so callers stay mypy-strict."""

from __future__ import annotations

from cql.errors import InvalidRequest
from cql.types import CollectionType, CQLType, ListType, MapType, SetType, TupleType, UserType


def kind_of(t: CQLType) -> str:
    """'list' | 'set' | 'map' | 'tuple' | 'udt' | 'native'."""
    if isinstance(t, UserType):
        return "udt"
    if isinstance(t, TupleType):
        return "tuple"
    if isinstance(t, CollectionType):
        return t.kind
    return "native"


def element_type(t: CQLType) -> CQLType:
    if isinstance(t, ListType | SetType):
        return t.element
    raise InvalidRequest(f"{t.cql_name()} is not a list or set")


def key_type(t: CQLType) -> CQLType:
    if isinstance(t, MapType):
        return t.key_type
    raise InvalidRequest(f"{t.cql_name()} is not a map")


def value_type(t: CQLType) -> CQLType:
    if isinstance(t, MapType):
        return t.value_type
    raise InvalidRequest(f"{t.cql_name()} is not a map")


def field_types(t: CQLType) -> tuple[CQLType, ...]:
    if isinstance(t, TupleType):
        return t.types
    raise InvalidRequest(f"{t.cql_name()} is not a tuple or user type")


def field_names(t: CQLType) -> tuple[str, ...]:
    if isinstance(t, UserType):
        return t.field_names
    raise InvalidRequest(f"{t.cql_name()} is not a user type")


def split_elements(t: CQLType, data: bytes) -> list[bytes]:
    """The elements of a serialized list or set of type `t`; for a map: key, value, key, value ..."""
    if isinstance(t, CollectionType):
        return t.split(data)
    raise InvalidRequest(f"{t.cql_name()} is not a collection")


def split_fields(t: CQLType, data: bytes) -> list[bytes | None]:
    """The fields of a serialized tuple or UDT of type `t`, missing trailing fields as None."""
    if not isinstance(t, TupleType):
        raise InvalidRequest(f"{t.cql_name()} is not a tuple or user type")
    fields = t.split(data)
    return fields + [None] * (len(t.types) - len(fields))


def set_of(t: CQLType) -> CQLType:
    """frozen<set<t>> (e.g. the keys removed from a map by `m = m - {...}`)."""
    return SetType(t.freeze(), True)


def list_of(t: CQLType) -> CQLType:
    """frozen<list<t>> (e.g. the values of `c IN ?`)."""
    return ListType(t.freeze(), True)

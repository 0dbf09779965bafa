"""Terms: the values that appear inside CQL statements, as the parser produces them.

Owns the neutral representation of literals, bind markers and function calls in a statement. The
parser builds these without knowing column types; `cql.types.from_literal` turns a literal into wire
bytes once the receiving column's type is known. Terms are immutable and hashable so a parsed
statement can be cached and shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LiteralKind(Enum):
    STRING = "string"      # '...' or $$...$$; `text` is the unescaped content
    INTEGER = "integer"    # optional '-' then digits
    FLOAT = "float"        # decimal/exponent forms, and NaN / Infinity / -Infinity
    BOOLEAN = "boolean"    # true / false (text is lowercased)
    UUID = "uuid"          # 8-4-4-4-12 hex
    BLOB = "blob"          # 0x... (text keeps the 0x prefix)
    DURATION = "duration"  # 1h30m, P1DT2H, -3d ... (text as written)
    NULL = "null"


@dataclass(frozen=True, slots=True)
class Literal:
    kind: LiteralKind
    text: str


@dataclass(frozen=True, slots=True)
class BindMarker:
    """`?` (name None) or `:name`. `index` is the marker's position among all markers of the
    statement, assigned by the parser in source order (named markers get an index too)."""

    index: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ListLiteral:
    items: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class SetLiteral:
    items: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class MapLiteral:
    """`{k: v, ...}`. An empty `{}` is parsed as an empty MapLiteral; a set/UDT receiver accepts it."""

    entries: tuple[tuple[Term, Term], ...]


@dataclass(frozen=True, slots=True)
class TupleLiteral:
    items: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class UserTypeLiteral:
    """`{field: value, ...}` with identifiers as keys (only valid for a UDT receiver)."""

    fields: tuple[tuple[str, Term], ...]


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """`name(args)`, e.g. now(), uuid(), token(a, b), toTimestamp(now()), blobAsInt(0x..)."""

    name: str                     # lowercased unless it was quoted
    args: tuple[Term, ...]
    keyspace: str | None = None


@dataclass(frozen=True, slots=True)
class TypeCast:
    """`(type) term`."""

    type_text: str
    term: Term


Term = (
    Literal | BindMarker | ListLiteral | SetLiteral | MapLiteral | TupleLiteral | UserTypeLiteral
    | FunctionCall | TypeCast
)

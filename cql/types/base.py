"""The CQL type protocol: what every CQL type offers, its error, and shared byte codecs.

Owns `CQLType` (the interface of contracts.md section 2), `CQLTypeError`, and the low-level pieces
every type reuses: the escaped byte-string comparable encoding, the order-preserving encoding of
arbitrary-size integers, and Cassandra's unsigned vint.

Invariants:
- A `CQLType` is immutable; two equal types compare and hash equal (by `key`).
- Every comparable encoding is self-delimiting and order-preserving; `from_comparable` inverts
  `to_comparable` up to canonicalisation (documented per type in docs/types.md).
- The empty value (zero bytes, allowed by CQL for most types) encodes as the single byte 0x00 and
  sorts before every other value of a non-string type (Cassandra's order).
- Nothing here imports the driver; the driver is only the tests' oracle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from cql.errors import InvalidRequest
from cql.protocol_types import TypeOption

# Version of every comparable encoding defined in this package. It is stored on disk by the
# storage engine; bump it (and document the change in docs/types.md) if any encoding changes.
COMPARABLE_FORMAT_VERSION = 1

EMPTY_COMPARABLE = b"\x00"  # the empty value of a non-string type
PRESENT = b"\x01"           # prefix of a non-empty value of a fixed-width scalar type


class CQLTypeError(InvalidRequest):
    """A value does not fit its CQL type (malformed bytes, out-of-range number, bad literal)."""


class CQLType(ABC):
    """One CQL type. Subclasses override the codec methods; see contracts.md section 2."""

    name: str = ""
    is_multicell: bool = False      # non-frozen collection / UDT (stored as many cells)
    is_counter: bool = False
    is_collection: bool = False
    is_frozen: bool = True          # collections / UDTs: frozen<...>; native types: always True
    protocol_option: TypeOption = ()
    empty_allowed: bool = True      # a zero-byte value is valid (all native types in CQL)
    accepts_any_bytes: bool = False  # validate() never rejects anything (callers may skip it)

    @property
    def key(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CQLType) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<CQLType {self.cql_name()}>"

    def cql_name(self) -> str:
        return self.name

    @abstractmethod
    def serialize(self, value: object) -> bytes:
        ...

    @abstractmethod
    def deserialize(self, data: bytes) -> object:
        ...

    @abstractmethod
    def validate(self, data: bytes) -> None:
        ...

    @abstractmethod
    def to_comparable(self, data: bytes) -> bytes:
        ...

    @abstractmethod
    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        ...

    @abstractmethod
    def to_cql_literal(self, data: bytes) -> str:
        ...

    def references_duration(self) -> bool:
        """True if this type is or contains `duration` (not allowed in keys, sets, map keys)."""
        return False

    def freeze(self) -> CQLType:
        """The frozen form of this type (itself for native types and tuples)."""
        return self

    def subtypes(self) -> tuple[CQLType, ...]:
        return ()


def check_comparable_pos(data: bytes, pos: int, need: int, type_name: str) -> None:
    if pos + need > len(data):
        raise CQLTypeError(f"Truncated comparable {type_name} at offset {pos}")


# --- escaped byte strings (text, ascii, blob, inet) -------------------------------------------
# Grammar: body := (byte != 0x00 | 0x00 0xFF)* 0x00 0x00.  Escaping 0x00 as 0x00 0xFF keeps the
# unsigned byte order and makes the string self-delimiting; a proper prefix sorts first because
# its terminator 0x00 0x00 is below both 0x00 0xFF and any non-zero byte.

def escape_bytes(data: bytes) -> bytes:
    if b"\x00" in data:
        data = data.replace(b"\x00", b"\x00\xff")
    return data + b"\x00\x00"


def unescape_bytes(data: bytes, pos: int, type_name: str) -> tuple[bytes, int]:
    out = bytearray()
    while True:
        end = data.find(b"\x00", pos)
        if end < 0 or end + 1 >= len(data):
            raise CQLTypeError(f"Unterminated comparable {type_name} at offset {pos}")
        out += data[pos:end]
        marker = data[end + 1]
        if marker == 0x00:
            return bytes(out), end + 2
        if marker != 0xFF:
            raise CQLTypeError(f"Bad escape in comparable {type_name} at offset {end}")
        out.append(0)
        pos = end + 2


# --- arbitrary-size signed integers (varint, decimal exponents) -------------------------------
# Grammar: header + magnitude bytes. For n >= 0 with minimal two's complement length L:
# header = 0xFF * (L // 127) + [0x80 + L % 127]; for n < 0 the header bytes are inverted
# (0x00 * (L // 127) + [0x7F - L % 127]) so longer negatives sort first. The L bytes of the
# two's complement follow; equal-length values of one sign compare as unsigned bytes.

def int_to_bytes(n: int) -> bytes:
    """Minimal two's complement big-endian (CQL varint wire form); 0 -> b'\\x00'."""
    length = (n + (n < 0)).bit_length() // 8 + 1
    return n.to_bytes(length, "big", signed=True)


def encode_signed_int(n: int) -> bytes:
    body = int_to_bytes(n)
    length = len(body)
    q, r = divmod(length, 127)
    if n >= 0:
        return b"\xff" * q + bytes((0x80 + r,)) + body
    return b"\x00" * q + bytes((0x7F - r,)) + body


def decode_signed_int(data: bytes, pos: int, type_name: str) -> tuple[int, int]:
    length = 0
    end = len(data)
    while True:
        if pos >= end:
            raise CQLTypeError(f"Truncated comparable {type_name}")
        b = data[pos]
        pos += 1
        if b in (0x00, 0xFF):
            length += 127
        else:
            length += (b - 0x80) if b >= 0x80 else (0x7F - b)
            break
    if length == 0 or pos + length > end:
        raise CQLTypeError(f"Truncated comparable {type_name}")
    return int.from_bytes(data[pos:pos + length], "big", signed=True), pos + length


# --- Cassandra unsigned vint (duration wire format) --------------------------------------------
# The count of leading 1 bits of the first byte is the number of extra bytes; the value is
# big-endian over the remaining bits. Signed values are zigzag-encoded first.

def write_unsigned_vint(v: int) -> bytes:
    if v < 0x80:
        return bytes((v,))
    size = min((v.bit_length() + 6) // 7, 9)
    if size == 9:
        return b"\xff" + v.to_bytes(8, "big")
    raw = bytearray(v.to_bytes(size, "big"))
    raw[0] |= (0xFF << (8 - (size - 1))) & 0xFF
    return bytes(raw)


def read_unsigned_vint(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise CQLTypeError("Truncated vint")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    extra = 8 - (first ^ 0xFF).bit_length()
    if pos + 1 + extra > len(data):
        raise CQLTypeError("Truncated vint")
    v = first & (0xFF >> extra)
    for b in data[pos + 1:pos + 1 + extra]:
        v = (v << 8) | b
    return v, pos + 1 + extra


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def unzigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)

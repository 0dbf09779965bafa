"""Clustering and partition key encodings (contracts.md section 2.3).

Owns the byte layout of clustering keys (what storage compares) and of partition keys (what is
hashed into a token). Grammar of a clustering key:
    key    := component* 0x38            -- full key (terminated)
    prefix := component*                 -- a prefix: first k components, no terminator
    component := 0x40 comparable(value)  -- ASC column
               | 0x40 ~comparable(value) -- DESC column: every byte of the comparable inverted
For a prefix p: p + 0x20 < every key starting with p < p + 0x60 (the bounds helpers below).
Partition key: the single serialized value, or for a compound key the composite
(u16 length, bytes, 0x00) per component.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from cql.types.base import CQLType, CQLTypeError

SEPARATOR = b"\x40"
TERMINATOR = b"\x38"
BEFORE_PREFIX = b"\x20"
AFTER_PREFIX = b"\x60"

_U16 = struct.Struct(">H")
_INVERT = bytes(255 - i for i in range(256))


def invert(data: bytes) -> bytes:
    return data.translate(_INVERT)


def encode_clustering_prefix(types: Sequence[CQLType], desc_flags: Sequence[bool],
                             values: Sequence[bytes]) -> bytes:
    """The first len(values) components (len(values) <= len(types)), unterminated."""
    if len(values) > len(types):
        raise CQLTypeError(f"Too many clustering values: {len(values)} for {len(types)} columns")
    parts = []
    for t, desc, v in zip(types, desc_flags, values):
        c = t.to_comparable(v)
        parts.append(SEPARATOR)
        parts.append(c.translate(_INVERT) if desc else c)
    return b"".join(parts)


def encode_clustering(types: Sequence[CQLType], desc_flags: Sequence[bool],
                      values: Sequence[bytes]) -> bytes:
    """A full clustering key (one value per clustering column), terminated."""
    if len(values) != len(types):
        raise CQLTypeError(f"Expected {len(types)} clustering values, got {len(values)}")
    return encode_clustering_prefix(types, desc_flags, values) + TERMINATOR


def decode_clustering(types: Sequence[CQLType], desc_flags: Sequence[bool],
                      data: bytes) -> list[bytes]:
    """Inverse of encode_clustering / encode_clustering_prefix: the wire values of the components
    present (a prefix yields fewer values). Raises CQLTypeError on malformed input."""
    out: list[bytes] = []
    pos = 0
    n = len(data)
    for t, desc in zip(types, desc_flags):
        if pos == n:
            return out
        marker = data[pos]
        if marker == 0x38:
            break
        if marker != 0x40:
            raise CQLTypeError(f"Malformed clustering key: byte 0x{marker:02x} at offset {pos}")
        if desc:
            # Decode from an inverted copy of the remainder; the component is self-delimiting.
            rest = data[pos + 1:].translate(_INVERT)
            v, used = t.from_comparable(rest, 0)
            pos += 1 + used
        else:
            v, pos = t.from_comparable(data, pos + 1)
        out.append(v)
    if pos < n and (data[pos] != 0x38 or pos + 1 != n):
        raise CQLTypeError(f"Malformed clustering key: trailing bytes at offset {pos}")
    return out


def prefix_start(prefix: bytes) -> bytes:
    """Sorts before every key (and longer prefix) that starts with `prefix`."""
    return prefix + BEFORE_PREFIX


def prefix_end(prefix: bytes) -> bytes:
    """Sorts after every key (and longer prefix) that starts with `prefix`."""
    return prefix + AFTER_PREFIX


def serialize_partition_key(values: Sequence[bytes]) -> bytes:
    """The partition key bytes: the value itself for a simple key, else Cassandra's composite."""
    if len(values) == 1:
        return bytes(values[0])
    parts = []
    for v in values:
        if len(v) > 0xFFFF:
            raise CQLTypeError(f"Partition key component is too long: {len(v)} bytes (max 65535)")
        parts.append(_U16.pack(len(v)))
        parts.append(v)
        parts.append(b"\x00")
    return b"".join(parts)


def split_partition_key(types: Sequence[CQLType], data: bytes) -> list[bytes]:
    """Inverse of serialize_partition_key (validates the framing, not the values)."""
    if len(types) == 1:
        return [bytes(data)]
    out = []
    pos = 0
    for _ in types:
        if pos + 2 > len(data):
            raise CQLTypeError("Truncated composite partition key")
        (length,) = _U16.unpack_from(data, pos)
        end = pos + 2 + length
        if end + 1 > len(data):
            raise CQLTypeError("Truncated composite partition key")
        out.append(bytes(data[pos + 2:end]))
        pos = end + 1
    if pos != len(data):
        raise CQLTypeError("Extraneous bytes after composite partition key")
    return out

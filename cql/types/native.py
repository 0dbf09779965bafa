"""The native CQL types: wire codec, validation, comparable encoding and literal printing.

Owns one `CQLType` subclass per family of native types and the singleton instances in `NATIVE`
(keyed by every CQL name, including the alias `varchar`). Comparable encodings (format version
`COMPARABLE_FORMAT_VERSION`, see docs/types.md): the empty value is 0x00; otherwise fixed-width
types are 0x01 + an order-preserving body, text/ascii/blob/inet are escaped byte strings.

Hot path: serialize/validate/to_comparable use precompiled `struct.Struct`s and no regex.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import math
import struct
import uuid
from abc import abstractmethod
from typing import Any

from cql import protocol_types as pt
from cql.types.base import (
    EMPTY_COMPARABLE,
    PRESENT,
    CQLType,
    CQLTypeError,
    decode_signed_int,
    encode_signed_int,
    escape_bytes,
    int_to_bytes,
    read_unsigned_vint,
    unescape_bytes,
    unzigzag,
    write_unsigned_vint,
    zigzag,
)
from cql.types.temporal import (
    DATE_EPOCH_OFFSET,
    datetime_to_ms,
    format_date_days,
    format_duration,
    format_time_ns,
    format_timestamp_ms,
    parse_date_days,
    parse_duration,
    parse_time_ns,
    parse_timestamp_ms,
    timestamp_to_datetime,
)
from cql.types.values import NANOS_PER_DAY, Date, Duration, Time

_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")


class NativeType(CQLType):
    """A native (non-parameterized) type; `name` is its canonical CQL name."""

    def __init__(self, name: str, option_id: int) -> None:
        self.name = name
        self.protocol_option = (option_id,)

    def _type_error(self, value: object) -> CQLTypeError:
        return CQLTypeError(f"Invalid value {value!r} ({type(value).__name__}) for type {self.name}")


class PresenceEncodedType(NativeType):
    """A native type whose comparable form is EMPTY_COMPARABLE for the empty value, else PRESENT
    followed by a type-specific order-preserving body."""

    @abstractmethod
    def _comparable_body(self, data: bytes) -> bytes:
        """The order-preserving encoding of a non-empty value."""

    def to_comparable(self, data: bytes) -> bytes:
        if not data:
            return EMPTY_COMPARABLE
        return PRESENT + self._comparable_body(data)


# --- integers ----------------------------------------------------------------------------------

class FixedIntType(NativeType):
    """tinyint, smallint, int, bigint, counter: big-endian two's complement of a fixed size."""

    def __init__(self, name: str, option_id: int, size: int, fmt: str, what: str) -> None:
        super().__init__(name, option_id)
        self.size = size
        self._struct = struct.Struct(">" + fmt)
        self._flip = 1 << (size * 8 - 1)
        self._ustruct = struct.Struct(">" + fmt.upper())
        self._prefixed = struct.Struct(">B" + fmt.upper())
        self._what = what
        self.min_value = -self._flip
        self.max_value = self._flip - 1
        self.is_counter = name == "counter"

    def validate(self, data: bytes) -> None:
        if len(data) != self.size and data:
            raise CQLTypeError(f"Expected {self._what} ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, int):
            raise self._type_error(value)
        try:
            return self._struct.pack(value)
        except struct.error:
            raise CQLTypeError(f"Value {value} out of range for type {self.name}") from None

    def deserialize(self, data: bytes) -> int | None:
        self.validate(data)
        return self._struct.unpack(data)[0] if data else None

    def to_comparable(self, data: bytes) -> bytes:
        if not data:
            return EMPTY_COMPARABLE
        try:
            # Flipping the sign bit turns signed order into unsigned byte order.
            return self._prefixed.pack(1, self._struct.unpack(data)[0] + self._flip)
        except struct.error:
            raise CQLTypeError(f"Expected {self._what} ({len(data)})") from None

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        end = pos + 1 + self.size
        if end > len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable {self.name} at offset {pos}")
        u = self._ustruct.unpack(data[pos + 1:end])[0]
        return self._struct.pack(u - self._flip), end

    def to_cql_literal(self, data: bytes) -> str:
        v = self.deserialize(data)
        return "" if v is None else str(v)


class VarintType(PresenceEncodedType):
    accepts_any_bytes = True

    def validate(self, data: bytes) -> None:
        pass  # any byte string is a two's complement integer; empty is the empty value

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, int):
            raise self._type_error(value)
        return int_to_bytes(value)

    def deserialize(self, data: bytes) -> int | None:
        return int.from_bytes(data, "big", signed=True) if data else None

    def _comparable_body(self, data: bytes) -> bytes:
        return encode_signed_int(int.from_bytes(data, "big", signed=True))

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        if pos >= len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable varint at offset {pos}")
        n, end = decode_signed_int(data, pos + 1, "varint")
        return int_to_bytes(n), end

    def to_cql_literal(self, data: bytes) -> str:
        v = self.deserialize(data)
        return "" if v is None else str(v)


_DECIMAL_CONTEXT = decimal.Context(prec=100_000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class DecimalType(PresenceEncodedType):
    """Wire: int32 scale + varint unscaled value (value = unscaled * 10**-scale).

    Comparable: sign byte (0x01 negative, 0x02 zero, 0x03 positive), then for non-zero values the
    decimal exponent E of 0.d1d2... * 10**E as an order-preserving signed int, then digit pairs
    (1 + 10*d1 + d2) ended by 0x00; for negatives the exponent and digit bytes are inverted.
    Equal values with different scales (1.0, 1.00) encode equally, as Cassandra compares them;
    from_comparable returns the smallest scale >= 0 that represents the value (negative scales
    are kept for values with more than 64 trailing zeros)."""

    def validate(self, data: bytes) -> None:
        if data and len(data) < 4:
            raise CQLTypeError(f"Expected at least 4 bytes for a decimal ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if isinstance(value, float | int) and not isinstance(value, bool):
            value = decimal.Decimal(value)
        if not isinstance(value, decimal.Decimal) or not value.is_finite():
            raise self._type_error(value)
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        unscaled = int("".join(map(str, digits)) or "0")
        if sign:
            unscaled = -unscaled
        scale = -exponent
        if not -(1 << 31) <= scale < (1 << 31):
            raise CQLTypeError(f"Decimal scale out of range for {value}")
        return _I32.pack(scale) + int_to_bytes(unscaled)

    def _parts(self, data: bytes) -> tuple[int, int]:
        self.validate(data)
        return _I32.unpack_from(data)[0], int.from_bytes(data[4:], "big", signed=True)

    def deserialize(self, data: bytes) -> decimal.Decimal | None:
        if not data:
            return None
        scale, unscaled = self._parts(data)
        return decimal.Decimal(unscaled).scaleb(-scale, _DECIMAL_CONTEXT)

    def _comparable_body(self, data: bytes) -> bytes:
        scale, unscaled = self._parts(data)
        if unscaled == 0:
            return b"\x02"
        digits = str(abs(unscaled)).rstrip("0")
        exp = len(str(abs(unscaled))) - scale    # value = 0.digits * 10**exp
        if len(digits) % 2:
            digits += "0"
        body = encode_signed_int(exp) + bytes(
            1 + int(digits[i:i + 2]) for i in range(0, len(digits), 2)) + b"\x00"
        if unscaled < 0:
            return b"\x01" + bytes(b ^ 0xFF for b in body)
        return b"\x03" + body

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        if pos + 1 >= len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable decimal at offset {pos}")
        sign = data[pos + 1]
        pos += 2
        if sign == 2:
            return _I32.pack(0) + b"\x00", pos
        if sign not in (1, 3):
            raise CQLTypeError(f"Malformed comparable decimal at offset {pos}")
        neg = sign == 1
        if neg:
            # Invert lazily: decode from an inverted copy of the rest (bounded by the terminator).
            rest = bytes(b ^ 0xFF for b in data[pos:])
            exp, p = decode_signed_int(rest, 0, "decimal")
            end = rest.find(b"\x00", p)
            digit_bytes, consumed = rest[p:end], end + 1
        else:
            exp, p = decode_signed_int(data, pos, "decimal")
            end = data.find(b"\x00", p)
            digit_bytes, consumed = data[p:end], end + 1 - pos
        if end < 0 or not digit_bytes or any(not 1 <= b <= 100 for b in digit_bytes):
            raise CQLTypeError("Malformed comparable decimal digits")
        digits = "".join(f"{b - 1:02d}" for b in digit_bytes).rstrip("0")
        unscaled = int(digits)
        scale = len(digits) - exp
        if -64 <= scale < 0:   # prefer a plain integer with trailing zeros (bounded: 1E+999999)
            unscaled *= 10 ** (-scale)
            scale = 0
        if not -(1 << 31) <= scale < (1 << 31):
            raise CQLTypeError("Decimal scale out of range")
        return _I32.pack(scale) + int_to_bytes(-unscaled if neg else unscaled), pos + consumed

    def to_cql_literal(self, data: bytes) -> str:
        v = self.deserialize(data)
        return "" if v is None else _decimal_str(v)


def _decimal_str(v: decimal.Decimal) -> str:
    # Java's BigDecimal.toString: plain notation unless the exponent is large.
    return str(v).replace("e", "E")


# --- floating point ----------------------------------------------------------------------------

class FloatingType(PresenceEncodedType):
    """float/double. Comparable: IEEE bits with the sign bit flipped for positives and all bits
    inverted for negatives; NaN is canonicalised and sorts above +Infinity (Java's Float.compare)."""

    def __init__(self, name: str, option_id: int, size: int) -> None:
        super().__init__(name, option_id)
        self.size = size
        self._struct = _F32 if size == 4 else _F64
        self._ustruct = _U32 if size == 4 else _U64
        self._sign = 1 << (size * 8 - 1)
        self._mask = (1 << (size * 8)) - 1
        self._nan_bits = 0x7FC00000 if size == 4 else 0x7FF8000000000000
        self._what = "4 or 0 byte value for a float" if size == 4 else "8 or 0 byte value for a double"

    def validate(self, data: bytes) -> None:
        if len(data) != self.size and data:
            raise CQLTypeError(f"Expected {self._what} ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, float | int | decimal.Decimal) or isinstance(value, bool):
            raise self._type_error(value)
        try:
            return self._struct.pack(float(value))
        except (OverflowError, struct.error):
            raise CQLTypeError(f"Value {value} out of range for type {self.name}") from None

    def deserialize(self, data: bytes) -> float | None:
        self.validate(data)
        return self._struct.unpack(data)[0] if data else None

    def _comparable_body(self, data: bytes) -> bytes:
        self.validate(data)
        bits = self._ustruct.unpack(data)[0]
        if math.isnan(self._struct.unpack(data)[0]):
            bits = self._nan_bits
        bits = (bits ^ self._mask) if bits & self._sign else (bits | self._sign)
        return self._ustruct.pack(bits)

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        end = pos + 1 + self.size
        if end > len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable {self.name} at offset {pos}")
        bits = self._ustruct.unpack(data[pos + 1:end])[0]
        bits = (bits ^ self._sign) if bits & self._sign else (bits ^ self._mask)
        return self._ustruct.pack(bits), end

    def to_cql_literal(self, data: bytes) -> str:
        v = self.deserialize(data)
        if v is None:
            return ""
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        if self.size == 4:
            # Shortest repr that round-trips through float32 (as Java's Float.toString).
            for digits in range(1, 10):
                s = f"{v:.{digits}g}"
                if _F32.unpack(_F32.pack(float(s)))[0] == v:
                    return _java_float_str(float(s), s)
        return _java_float_str(v, repr(v))


def _java_float_str(v: float, s: str) -> str:
    """Java's Float/Double.toString of `v`, given its shortest round-trip digits `s`: plain
    notation for 1e-3 <= |v| < 1e7, else computerized scientific ('1.0E10', '1.5E-4')."""
    if v == 0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    d = decimal.Decimal(s).normalize()
    if 1e-3 <= abs(v) < 1e7:
        out = format(d, "f")
        return out if "." in out else out + ".0"
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    mant = "".join(map(str, digits))
    point_exp = exp + len(mant) - 1
    frac = mant[1:] or "0"
    return f"{'-' if sign else ''}{mant[0]}.{frac}E{point_exp}"


# --- booleans ----------------------------------------------------------------------------------

class BooleanType(PresenceEncodedType):
    def validate(self, data: bytes) -> None:
        if len(data) > 1:
            raise CQLTypeError(f"Expected 1 or 0 byte value for a boolean ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, bool | int):
            raise self._type_error(value)
        return b"\x01" if value else b"\x00"

    def deserialize(self, data: bytes) -> bool | None:
        self.validate(data)
        return data != b"\x00" if data else None

    def _comparable_body(self, data: bytes) -> bytes:
        self.validate(data)
        return b"\x00" if data == b"\x00" else b"\x01"

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        if pos + 2 > len(data) or data[pos] != 1 or data[pos + 1] > 1:
            raise CQLTypeError(f"Malformed comparable boolean at offset {pos}")
        return data[pos + 1:pos + 2], pos + 2

    def to_cql_literal(self, data: bytes) -> str:
        v = self.deserialize(data)
        return "" if v is None else ("true" if v else "false")


# --- byte strings ------------------------------------------------------------------------------

class BytesLikeType(NativeType):
    """blob, text (varchar), ascii: comparable is the escaped byte string (unsigned byte order;
    the empty string is just the terminator, so it sorts first with no special case)."""

    def to_comparable(self, data: bytes) -> bytes:
        # No validation here: the escaping is defined for any bytes, and values are validated
        # once when they enter the server.
        return escape_bytes(data)

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        return unescape_bytes(data, pos, self.name)


class BlobType(BytesLikeType):
    accepts_any_bytes = True

    def validate(self, data: bytes) -> None:
        pass

    def serialize(self, value: object) -> bytes:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise self._type_error(value)

    def deserialize(self, data: bytes) -> bytes:
        return bytes(data)

    def to_cql_literal(self, data: bytes) -> str:
        return "0x" + bytes(data).hex()


class TextType(BytesLikeType):
    def validate(self, data: bytes) -> None:
        try:
            bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise CQLTypeError(f"Invalid UTF-8 bytes {bytes(data)[:32].hex()}: {e.reason}") from None

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, str):
            raise self._type_error(value)
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise CQLTypeError(f"String is not valid Unicode: {e.reason}") from None

    def deserialize(self, data: bytes) -> str:
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise CQLTypeError(f"Invalid UTF-8 bytes: {e.reason}") from None

    def to_cql_literal(self, data: bytes) -> str:
        return quote_string(self.deserialize(data))


class AsciiType(TextType):
    def validate(self, data: bytes) -> None:
        if not bytes(data).isascii():
            bad = next(i for i, b in enumerate(data) if b > 0x7F)
            raise CQLTypeError(f"Invalid byte for ascii: {data[bad]} at position {bad}")

    def serialize(self, value: object) -> bytes:
        if not isinstance(value, str):
            raise self._type_error(value)
        if not value.isascii():
            raise CQLTypeError(f"Invalid ASCII character in string literal {value!r}")
        return value.encode("ascii")


def quote_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class InetType(BytesLikeType):
    """4 (IPv4) or 16 (IPv6) bytes; compared as unsigned bytes then length, like Cassandra."""

    def validate(self, data: bytes) -> None:
        if len(data) not in (0, 4, 16):
            raise CQLTypeError(f"Expected 4 or 16 byte inet address ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return value.packed
        if isinstance(value, str):
            try:
                return ipaddress.ip_address(value).packed
            except ValueError:
                raise CQLTypeError(f"Unable to make inet address from '{value}'") from None
        raise self._type_error(value)

    def deserialize(self, data: bytes) -> str | None:
        self.validate(data)
        return str(ipaddress.ip_address(bytes(data))) if data else None

    def to_comparable(self, data: bytes) -> bytes:
        self.validate(data)
        return escape_bytes(data)

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        raw, end = unescape_bytes(data, pos, "inet")
        self.validate(raw)
        return raw, end

    def to_cql_literal(self, data: bytes) -> str:
        v = self.deserialize(data)
        return "" if v is None else quote_string(v)


# --- uuids -------------------------------------------------------------------------------------

def _reorder_timestamp(msb: int) -> int:
    """time_low|time_mid|version+time_hi -> the 60-bit timestamp (orders version-1 uuids by time)."""
    return ((msb & 0x0FFF) << 48) | (((msb >> 16) & 0xFFFF) << 32) | (msb >> 32)


def _unreorder_timestamp(ts: int, version: int) -> int:
    return ((ts & 0xFFFFFFFF) << 32) | (((ts >> 32) & 0xFFFF) << 16) | (version << 12) | (ts >> 48)


_SIGNED_BYTES = bytes(b ^ 0x80 for b in range(256))  # signed-byte order -> unsigned byte order


class UUIDType(PresenceEncodedType):
    """uuid: Cassandra's UUIDType order — version nibble first; version 1 by timestamp then the
    low 8 bytes as signed bytes (Cassandra's/Scylla's timeuuid order); other versions by bytes."""

    time_only = False

    def validate(self, data: bytes) -> None:
        if len(data) not in (0, 16):
            raise CQLTypeError(f"UUID should be 16 or 0 bytes ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if isinstance(value, str):
            try:
                value = uuid.UUID(value)
            except ValueError:
                raise CQLTypeError(f"Unable to make UUID from '{value}'") from None
        if not isinstance(value, uuid.UUID):
            raise self._type_error(value)
        out = value.bytes
        self.validate(out)
        return out

    def deserialize(self, data: bytes) -> uuid.UUID | None:
        self.validate(data)
        return uuid.UUID(bytes=bytes(data)) if data else None

    def _comparable_body(self, data: bytes) -> bytes:
        self.validate(data)
        msb = _U64.unpack_from(data)[0]
        version = (msb >> 12) & 0xF
        if version == 1:
            return bytes((version,)) + _U64.pack(_reorder_timestamp(msb)) + \
                bytes(data[8:]).translate(_SIGNED_BYTES)
        return bytes((version,)) + bytes(data)

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        end = pos + 18
        if end > len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable {self.name} at offset {pos}")
        version = data[pos + 1]
        body = data[pos + 2:end]
        if version == 1:
            msb = _unreorder_timestamp(_U64.unpack_from(body)[0], 1)
            return _U64.pack(msb) + bytes(body[8:]).translate(_SIGNED_BYTES), end
        return bytes(body), end

    def to_cql_literal(self, data: bytes) -> str:
        v = self.deserialize(data)
        return "" if v is None else str(v)


class TimeUUIDType(UUIDType):
    time_only = True

    def validate(self, data: bytes) -> None:
        super().validate(data)
        if data and (data[6] >> 4) != 1:
            raise CQLTypeError(f"Unsupported UUID version ({data[6] >> 4}) for a timeuuid; "
                               "only version 1 (time-based) is accepted")


# --- temporal ----------------------------------------------------------------------------------

class TimestampType(PresenceEncodedType):
    """int64 milliseconds since the epoch (signed)."""

    def validate(self, data: bytes) -> None:
        if len(data) not in (0, 8):
            raise CQLTypeError(f"Expected 8 or 0 byte long for date ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if isinstance(value, datetime.date):
            ms = datetime_to_ms(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            ms = int(value)
        elif isinstance(value, str):
            ms = parse_timestamp_ms(value)
        else:
            raise self._type_error(value)
        try:
            return _I64.pack(ms)
        except struct.error:
            raise CQLTypeError(f"Timestamp {value!r} out of range") from None

    def deserialize(self, data: bytes) -> datetime.datetime | int | None:
        self.validate(data)
        return timestamp_to_datetime(_I64.unpack(data)[0]) if data else None

    def _comparable_body(self, data: bytes) -> bytes:
        self.validate(data)
        return _U64.pack(_I64.unpack(data)[0] + (1 << 63))

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        end = pos + 9
        if end > len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable timestamp at offset {pos}")
        return _I64.pack(_U64.unpack(data[pos + 1:end])[0] - (1 << 63)), end

    def to_cql_literal(self, data: bytes) -> str:
        if not data:
            return ""
        self.validate(data)
        return quote_string(format_timestamp_ms(_I64.unpack(data)[0]))


class DateType(PresenceEncodedType):
    """uint32 days with 1970-01-01 at 2**31; the unsigned order is the date order."""

    def validate(self, data: bytes) -> None:
        if len(data) not in (0, 4):
            raise CQLTypeError(f"Expected 4 byte long for date ({len(data)})")

    def serialize(self, value: object) -> bytes:
        if isinstance(value, datetime.datetime):
            days = datetime_to_ms(value) // 86_400_000
        elif isinstance(value, datetime.date):
            days = (value - datetime.date(1970, 1, 1)).days
        elif hasattr(value, "days_from_epoch"):
            days = int(value.days_from_epoch)
        elif isinstance(value, int) and not isinstance(value, bool):
            days = value - DATE_EPOCH_OFFSET    # a bare int is the raw unsigned value, as in CQL
        elif isinstance(value, str):
            days = parse_date_days(value)
        else:
            raise self._type_error(value)
        if not -DATE_EPOCH_OFFSET <= days < DATE_EPOCH_OFFSET:
            raise CQLTypeError(f"Date {value!r} out of range")
        return _U32.pack(days + DATE_EPOCH_OFFSET)

    def deserialize(self, data: bytes) -> Date | None:
        self.validate(data)
        return Date(_U32.unpack(data)[0] - DATE_EPOCH_OFFSET) if data else None

    def _comparable_body(self, data: bytes) -> bytes:
        self.validate(data)
        return bytes(data)

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        end = pos + 5
        if end > len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable date at offset {pos}")
        return bytes(data[pos + 1:end]), end

    def to_cql_literal(self, data: bytes) -> str:
        if not data:
            return ""
        self.validate(data)
        return quote_string(format_date_days(_U32.unpack(data)[0] - DATE_EPOCH_OFFSET))


class TimeType(PresenceEncodedType):
    """int64 nanoseconds since midnight, 0 <= n < 86400 * 10**9."""

    def validate(self, data: bytes) -> None:
        if len(data) not in (0, 8):
            raise CQLTypeError(f"Expected 8 byte long for time ({len(data)})")
        if data and not 0 <= _I64.unpack(data)[0] < NANOS_PER_DAY:
            raise CQLTypeError(f"Time value out of range: {_I64.unpack(data)[0]} nanoseconds")

    def serialize(self, value: object) -> bytes:
        if hasattr(value, "nanosecond_time"):
            ns = int(value.nanosecond_time)
        elif isinstance(value, datetime.time):
            ns = (((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000
                  + value.microsecond) * 1000
        elif isinstance(value, int) and not isinstance(value, bool):
            ns = value
        elif isinstance(value, str):
            ns = parse_time_ns(value)
        else:
            raise self._type_error(value)
        if not 0 <= ns < NANOS_PER_DAY:
            raise CQLTypeError(f"Time value out of range: {ns} nanoseconds")
        return _I64.pack(ns)

    def deserialize(self, data: bytes) -> Time | None:
        self.validate(data)
        return Time(_I64.unpack(data)[0]) if data else None

    def _comparable_body(self, data: bytes) -> bytes:
        self.validate(data)
        return bytes(data)   # non-negative, so big-endian bytes already sort numerically

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos < len(data) and data[pos] == 0:
            return b"", pos + 1
        end = pos + 9
        if end > len(data) or data[pos] != 1:
            raise CQLTypeError(f"Malformed comparable time at offset {pos}")
        out = bytes(data[pos + 1:end])
        self.validate(out)
        return out, end

    def to_cql_literal(self, data: bytes) -> str:
        if not data:
            return ""
        self.validate(data)
        return quote_string(format_time_ns(_I64.unpack(data)[0]))


class DurationType(NativeType):
    """Three zigzag vints: months (int32), days (int32), nanoseconds (int64), all of one sign.
    Durations have no order: they are not allowed in keys, sets or map keys."""

    def references_duration(self) -> bool:
        return True

    def _decode(self, data: bytes) -> tuple[int, int, int]:
        pos = 0
        parts = []
        for _ in range(3):
            v, pos = read_unsigned_vint(data, pos)
            parts.append(unzigzag(v))
        if pos != len(data):
            raise CQLTypeError(f"Invalid duration: {len(data) - pos} trailing bytes")
        months, days, nanos = parts
        if not (-(1 << 31) <= months < (1 << 31) and -(1 << 31) <= days < (1 << 31)
                and -(1 << 63) <= nanos < (1 << 63)):
            raise CQLTypeError("Invalid duration: months or days do not fit in 32 bits")
        if not ((months >= 0 and days >= 0 and nanos >= 0) or (months <= 0 and days <= 0 and nanos <= 0)):
            raise CQLTypeError("The duration months, days and nanoseconds must be all of the same sign "
                               f"({months}, {days}, {nanos})")
        return months, days, nanos

    def validate(self, data: bytes) -> None:
        if data:
            self._decode(data)

    def serialize(self, value: object) -> bytes:
        if isinstance(value, str):
            value = parse_duration(value)
        m: Any = getattr(value, "months", None)
        d: Any = getattr(value, "days", None)
        n: Any = getattr(value, "nanoseconds", None)
        if not all(isinstance(x, int) for x in (m, d, n)):
            raise self._type_error(value)
        out = b"".join(write_unsigned_vint(zigzag(x) & 0xFFFFFFFFFFFFFFFF) for x in (m, d, n))
        self.validate(out)
        return out

    def deserialize(self, data: bytes) -> Duration | None:
        return Duration(*self._decode(data)) if data else None

    def to_comparable(self, data: bytes) -> bytes:
        raise CQLTypeError("duration type is not allowed in primary keys, sets or map keys "
                           "(durations have no order)")

    def from_comparable(self, data: bytes, pos: int) -> tuple[bytes, int]:
        raise CQLTypeError("duration values have no comparable encoding")

    def to_cql_literal(self, data: bytes) -> str:
        if not data:
            return ""
        return format_duration(Duration(*self._decode(data)))


ASCII = AsciiType("ascii", pt.ASCII)
BIGINT = FixedIntType("bigint", pt.BIGINT, 8, "q", "8 or 0 byte long")
BLOB = BlobType("blob", pt.BLOB)
BOOLEAN = BooleanType("boolean", pt.BOOLEAN)
COUNTER = FixedIntType("counter", pt.COUNTER, 8, "q", "8 or 0 byte long")
DATE = DateType("date", pt.DATE)
DECIMAL = DecimalType("decimal", pt.DECIMAL)
DOUBLE = FloatingType("double", pt.DOUBLE, 8)
DURATION = DurationType("duration", pt.DURATION)
FLOAT = FloatingType("float", pt.FLOAT, 4)
INET = InetType("inet", pt.INET)
INT = FixedIntType("int", pt.INT, 4, "i", "4 or 0 byte int")
SMALLINT = FixedIntType("smallint", pt.SMALLINT, 2, "h", "2 bytes for a smallint")
TEXT = TextType("text", pt.VARCHAR)
TIME = TimeType("time", pt.TIME)
TIMESTAMP = TimestampType("timestamp", pt.TIMESTAMP)
TIMEUUID = TimeUUIDType("timeuuid", pt.TIMEUUID)
TINYINT = FixedIntType("tinyint", pt.TINYINT, 1, "b", "1 byte for a tinyint")
UUID = UUIDType("uuid", pt.UUID)
VARINT = VarintType("varint", pt.VARINT)

NATIVE: dict[str, NativeType] = {
    t.name: t for t in (
        ASCII, BIGINT, BLOB, BOOLEAN, COUNTER, DATE, DECIMAL, DOUBLE, DURATION, FLOAT, INET, INT,
        SMALLINT, TEXT, TIME, TIMESTAMP, TIMEUUID, TINYINT, UUID, VARINT,
    )
}
NATIVE["varchar"] = TEXT

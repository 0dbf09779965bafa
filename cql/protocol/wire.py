"""Primitive notations of the native protocol (v4 spec section 3): readers and writers.

Owns the byte layout of `[int]`, `[long]`, `[short]`, `[string]`, `[long string]`, `[bytes]`,
`[value]`, `[short bytes]`, `[string list]`, `[string map]`, `[string multimap]`, `[bytes map]` and
`[inet]`. Every other module of `cql.protocol` builds on these.

Invariants:
- `BodyReader` never reads past the end of its body: a short body raises `ClientProtocolError`
  ("truncated"), never `IndexError` or `struct.error`.
- Strings are validated as UTF-8 when read (ScyllaDB rejects invalid UTF-8 in a string with a
  protocol error; so do we).
- Writers append to a caller-owned `bytearray`; they never allocate intermediate frames.
- Nothing here knows about frames, opcodes or connection state.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from cql.errors import ProtocolError


class ClientProtocolError(ProtocolError):
    """The client broke the native protocol (ERROR code 0x000A).

    `stream` is the stream id of the offending frame when the header could be read, else None.
    `fatal` is True when the byte stream can no longer be parsed (the header itself was unusable):
    the handler must close the connection after (optionally) answering. When `fatal` is False the
    offending frame has been consumed (or is being skipped) and the connection may continue.
    """

    def __init__(self, message: str, stream: int | None = None, fatal: bool = False) -> None:
        super().__init__(message)
        self.stream = stream
        self.fatal = fatal


class _Unset(enum.Enum):
    """The `not set` bind value (v4 section 3, `[value]` with n == -2)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
"""Sentinel for an unset bind value (v4+ only)."""

Unset = Literal[_Unset.UNSET]
Value = bytes | None | Unset
"""A bind value as it travels: serialized bytes, null (None) or UNSET."""

INT: Final = struct.Struct(">i")
UINT: Final = struct.Struct(">I")
SHORT: Final = struct.Struct(">H")
LONG: Final = struct.Struct(">q")
BYTE: Final = struct.Struct(">B")
SHORT_SHORT: Final = struct.Struct(">HH")

_unpack_short = SHORT.unpack_from
_unpack_int = INT.unpack_from
_unpack_long = LONG.unpack_from

NULL_VALUE: Final = INT.pack(-1)
UNSET_VALUE: Final = INT.pack(-2)

_MAX_SHORT: Final = 0xFFFF


class BodyReader:
    """A cursor over one frame body. Each `read_*` consumes one notation of section 3.

    Requires: `data` is not mutated while the reader is in use.
    """

    __slots__ = ("_data", "_end", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self._data = data
        self._end = len(data)
        self.pos = pos

    def remaining(self) -> int:
        return self._end - self.pos

    def _truncated(self, n: int, what: str) -> ClientProtocolError:
        return ClientProtocolError(
            f"Truncated frame body: {what} needs {n} bytes at offset {self.pos}, "
            f"{self._end - self.pos} left"
        )

    def _need(self, n: int, what: str) -> int:
        start = self.pos
        end = start + n
        if n < 0 or end > self._end:
            raise self._truncated(n, what)
        self.pos = end
        return start

    # The fixed-width readers are on the EXECUTE hot path: no helper calls on success.

    def read_byte(self) -> int:
        pos = self.pos
        if pos >= self._end:
            raise self._truncated(1, "[byte]")
        self.pos = pos + 1
        return self._data[pos]

    def read_short(self) -> int:
        pos = self.pos
        if pos + 2 > self._end:
            raise self._truncated(2, "[short]")
        self.pos = pos + 2
        return int(_unpack_short(self._data, pos)[0])

    def read_int(self) -> int:
        pos = self.pos
        if pos + 4 > self._end:
            raise self._truncated(4, "[int]")
        self.pos = pos + 4
        return int(_unpack_int(self._data, pos)[0])

    def read_long(self) -> int:
        pos = self.pos
        if pos + 8 > self._end:
            raise self._truncated(8, "[long]")
        self.pos = pos + 8
        return int(_unpack_long(self._data, pos)[0])

    def read_raw(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if n < 0 or end > self._end:
            raise self._truncated(n, "raw bytes")
        self.pos = end
        return self._data[pos:end]

    def read_values(self, allow_unset: bool) -> tuple[Value, ...]:
        """A [short] n followed by n [value]s: the bind values of QUERY/EXECUTE/BATCH.

        The hottest loop of request decoding, hence written against local variables.
        """
        data = self._data
        end = self._end
        pos = self.pos
        if pos + 2 > end:
            raise self._truncated(2, "[short]")
        count = _unpack_short(data, pos)[0]
        pos += 2
        out: list[Value] = []
        append = out.append
        for _ in range(count):
            if pos + 4 > end:
                self.pos = pos
                raise self._truncated(4, "[value] length")
            n = _unpack_int(data, pos)[0]
            pos += 4
            if n >= 0:
                if pos + n > end:
                    self.pos = pos
                    raise self._truncated(n, "[value]")
                append(data[pos : pos + n])
                pos += n
            elif n == -1:
                append(None)
            elif n == -2 and allow_unset:
                append(UNSET)
            else:
                self.pos = pos
                raise ClientProtocolError(f"Invalid [value] length {n}")
        self.pos = pos
        return tuple(out)

    def _utf8(self, n: int, what: str) -> str:
        start = self._need(n, what)
        try:
            return self._data[start : start + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ClientProtocolError(f"Cannot decode {what} as UTF-8: {exc.reason}") from exc

    def read_string(self) -> str:
        return self._utf8(self.read_short(), "[string]")

    def read_long_string(self) -> str:
        n = self.read_int()
        if n < 0:
            raise ClientProtocolError(f"Negative [long string] length {n}")
        return self._utf8(n, "[long string]")

    def read_short_bytes(self) -> bytes:
        return self.read_raw(self.read_short())

    def read_bytes(self) -> bytes | None:
        n = self.read_int()
        if n < 0:
            return None
        return self.read_raw(n)

    def read_value(self, allow_unset: bool) -> Value:
        n = self.read_int()
        if n >= 0:
            return self.read_raw(n)
        if n == -1:
            return None
        if n == -2 and allow_unset:
            return UNSET
        raise ClientProtocolError(f"Invalid [value] length {n}")

    def read_string_list(self) -> list[str]:
        return [self.read_string() for _ in range(self.read_short())]

    def read_string_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for _ in range(self.read_short()):
            key = self.read_string()
            out[key] = self.read_string()
        return out

    def read_bytes_map(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for _ in range(self.read_short()):
            key = self.read_string()
            out[key] = self.read_bytes()
        return out


# --- writers -------------------------------------------------------------------------------------


def _short_len(n: int, what: str) -> bytes:
    if n > _MAX_SHORT:
        raise ValueError(f"{what} too long for a [short] length: {n}")
    return SHORT.pack(n)


def write_string(buf: bytearray, s: str) -> None:
    data = s.encode("utf-8")
    buf += _short_len(len(data), "[string]")
    buf += data


def write_long_string(buf: bytearray, s: str) -> None:
    data = s.encode("utf-8")
    buf += INT.pack(len(data))
    buf += data


def write_short_bytes(buf: bytearray, data: bytes) -> None:
    buf += _short_len(len(data), "[short bytes]")
    buf += data


def write_bytes(buf: bytearray, data: bytes | None) -> None:
    if data is None:
        buf += NULL_VALUE
    else:
        buf += INT.pack(len(data))
        buf += data


def write_string_list(buf: bytearray, items: Sequence[str]) -> None:
    buf += _short_len(len(items), "[string list]")
    for item in items:
        write_string(buf, item)


def write_string_map(buf: bytearray, items: Mapping[str, str]) -> None:
    buf += _short_len(len(items), "[string map]")
    for key, value in items.items():
        write_string(buf, key)
        write_string(buf, value)


def write_string_multimap(buf: bytearray, items: Mapping[str, Sequence[str]]) -> None:
    buf += _short_len(len(items), "[string multimap]")
    for key, values in items.items():
        write_string(buf, key)
        write_string_list(buf, values)


def write_bytes_map(buf: bytearray, items: Mapping[str, bytes | None]) -> None:
    buf += _short_len(len(items), "[bytes map]")
    for key, value in items.items():
        write_string(buf, key)
        write_bytes(buf, value)


def write_inet(buf: bytearray, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
               port: int) -> None:
    """`[inet]`: one [byte] address size (4 or 16), the address, then an [int] port."""
    packed = ipaddress.ip_address(address).packed
    buf += BYTE.pack(len(packed))
    buf += packed
    buf += INT.pack(port)

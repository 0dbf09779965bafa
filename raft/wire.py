"""The raft wire framing (version 1): length-prefixed msgpack frames, sans-IO.

Owns: turning messages into frames and a byte stream back into messages.

    frame   := length:u32be version:u8 payload[length - 1]
    payload := codec.message (msgpack array)

`length` counts the version byte and the payload. A frame longer than `max_frame_bytes`, a
version other than 1, or a payload that does not decode is a `ProtocolError`; after one the
stream cannot be resynchronised and the connection must be closed. A frame split across reads
is buffered; bytes after a complete frame stay buffered for the next one.

Must never: touch sockets or the event loop.
"""

from __future__ import annotations

import struct

from raft import codec
from raft import messages as m
from raft.errors import ProtocolError

WIRE_VERSION = 1
DEFAULT_MAX_FRAME_BYTES = 16 << 20
_HEADER = struct.Struct(">IB")


def encode_frame(msg: m.Message, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    payload = codec.encode_message(msg)
    if len(payload) + 1 > max_frame_bytes:
        raise ProtocolError(f"frame of {len(payload) + 1} bytes exceeds {max_frame_bytes}")
    return _HEADER.pack(len(payload) + 1, WIRE_VERSION) + payload


class FrameDecoder:
    """Accumulates received bytes and yields complete messages."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[m.Message]:
        self._buf += data
        out: list[m.Message] = []
        while len(self._buf) >= _HEADER.size:
            length, version = _HEADER.unpack_from(self._buf)
            if length < 1 or length > self._max:
                raise ProtocolError(f"frame length {length} outside [1, {self._max}]")
            if version != WIRE_VERSION:
                raise ProtocolError(f"unsupported wire version {version}")
            end = 4 + length
            if len(self._buf) < end:
                break
            payload = bytes(self._buf[_HEADER.size : end])
            del self._buf[:end]
            out.append(codec.decode_message(payload))
        return out

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

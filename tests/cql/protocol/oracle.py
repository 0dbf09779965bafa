"""cassandra-driver as the oracle: it encodes requests and decodes responses for the tests.

The driver is the client our codec must satisfy, so its own encoder/decoder are the reference.
"""

from __future__ import annotations

import struct
from typing import Any

from cassandra import protocol as dp
from cassandra.connection import locally_supported_compressions

_HEADER = struct.Struct(">BBhBi")

lz4_compress, lz4_decompress = locally_supported_compressions["lz4"]


def request_frame(msg: Any, stream: int = 0, version: int = 4, compressed: bool = False) -> bytes:
    """A request frame exactly as the driver would put it on the wire."""
    compressor = lz4_compress if compressed else None
    frame: bytes = dp.ProtocolHandler.encode_message(msg, stream, version, compressor, False)
    return frame


def split_frame(data: bytes) -> tuple[int, int, int, int, bytes, bytes]:
    """(version byte, flags, stream, opcode, body, rest)."""
    version, flags, stream, opcode, length = _HEADER.unpack_from(data, 0)
    body = data[9 : 9 + length]
    assert len(body) == length, "frame shorter than its header says"
    return version, flags, stream, opcode, body, data[9 + length :]


def decode_response(data: bytes, result_metadata: Any = None) -> Any:
    """Decode one response frame with the driver's own decoder; asserts it is a whole frame."""
    version, flags, stream, opcode, body, rest = split_frame(data)
    assert rest == b"", "trailing bytes after the response frame"
    assert version & 0x80, "response direction bit not set"
    msg = dp.ProtocolHandler.decode_message(
        version & 0x7F, {}, stream, flags, opcode, body, lz4_decompress, result_metadata
    )
    return msg

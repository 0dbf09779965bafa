"""Frame envelope of the native protocol v3/v4 (spec section 2) and body compression (section 5).

Owns: the 9-byte header layout, opcodes, header flags, the protocol versions we serve, and the
`lz4` body codec. Grammar (v3 and v4 are identical here):

    frame  := version:u8 flags:u8 stream:i16 opcode:u8 length:i32 body[length]
    version:  0x03 / 0x04 for requests, with 0x80 set for responses
    flags:    0x01 compressed, 0x02 tracing, 0x04 custom payload, 0x08 warning, 0x10 beta

Protocol versions 1 and 2 used an 8-byte header with a one-byte stream id; we only parse that far
enough to refuse them politely.

v5 note: in v5 these frames ("envelopes") travel inside CRC-protected segments once READY has been
sent. Segment framing would sit *below* this module (a segment decoder feeding envelope bytes into
the same header parser); nothing here assumes envelopes arrive straight from the socket.

Never renumber opcodes or flags: they are the wire format.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

import lz4.block

from cql.protocol.wire import INT, ClientProtocolError

HEADER: Final = struct.Struct(">BBhBi")
HEADER_SIZE: Final = HEADER.size  # 9
LEGACY_HEADER: Final = struct.Struct(">BBbBi")  # v1/v2: one-byte stream id
LEGACY_HEADER_SIZE: Final = LEGACY_HEADER.size  # 8

RESPONSE_BIT: Final = 0x80
SUPPORTED_VERSIONS: Final = frozenset({3, 4})
MAX_VERSION: Final = 4
# Used for answers sent before a version is fixed (CLIENT-COMPAT: "a plain v4 header").
DEFAULT_VERSION: Final = 4
# Spec section 2.5: "currently a frame is limited to 256MB in length".
SPEC_MAX_FRAME_SIZE_BYTES: Final = 256 * 1024 * 1024

FLAG_COMPRESSED: Final = 0x01
FLAG_TRACING: Final = 0x02
FLAG_CUSTOM_PAYLOAD: Final = 0x04
FLAG_WARNING: Final = 0x08
FLAG_BETA: Final = 0x10


class Opcode(enum.IntEnum):
    """Section 2.4. Never renumber."""

    ERROR = 0x00
    STARTUP = 0x01
    READY = 0x02
    AUTHENTICATE = 0x03
    OPTIONS = 0x05
    SUPPORTED = 0x06
    QUERY = 0x07
    RESULT = 0x08
    PREPARE = 0x09
    EXECUTE = 0x0A
    REGISTER = 0x0B
    EVENT = 0x0C
    BATCH = 0x0D
    AUTH_CHALLENGE = 0x0E
    AUTH_RESPONSE = 0x0F
    AUTH_SUCCESS = 0x10


def unsupported_version_message(version: int) -> str:
    """The text both drivers look for ('unsupported protocol version') to step down a version."""
    return (
        f"Invalid or unsupported protocol version ({version}); "
        f"highest supported version is {MAX_VERSION}"
    )


# --- lz4 (section 5) -----------------------------------------------------------------------------
# A compressed body is a 4-byte big-endian uncompressed length followed by one raw LZ4 block.

COMPRESSION_ALGORITHMS: Final = frozenset({"lz4"})


def lz4_compress(body: bytes | bytearray | memoryview) -> bytes:
    block: bytes = lz4.block.compress(body, store_size=False)
    return INT.pack(len(body)) + block


def lz4_decompress(body: bytes | memoryview, max_size_bytes: int) -> bytes:
    """Inflate a compressed body; any malformation raises ClientProtocolError.

    `max_size_bytes` bounds the declared uncompressed length, so a tiny frame cannot make us
    allocate gigabytes.
    """
    if len(body) < 4:
        raise ClientProtocolError("Compressed body shorter than its 4-byte length prefix")
    size = int(INT.unpack_from(body, 0)[0])
    if size < 0 or size > max_size_bytes:
        raise ClientProtocolError(
            f"Compressed body declares {size} uncompressed bytes (limit {max_size_bytes})"
        )
    if size == 0:
        return b""
    try:
        out: bytes = lz4.block.decompress(memoryview(body)[4:], uncompressed_size=size)
    except lz4.block.LZ4BlockError as exc:
        raise ClientProtocolError(f"Corrupt lz4 body: {exc}") from exc
    if len(out) != size:
        raise ClientProtocolError(
            f"lz4 body inflated to {len(out)} bytes, header declared {size}"
        )
    return out

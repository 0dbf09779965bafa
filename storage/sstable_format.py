"""Shared constants and block framing of the sstable format (docs/storage/formats.md section 3).

An sstable is a set of component files named `sp1-<generation>-<Component>`; `TOC.txt` is
written last (by atomic rename) and its presence is what makes the sstable exist. Every
component starts with a 4-byte magic and a u16 version of that component's own format; every
block and every whole-file payload carries a CRC32, so any flipped bit is reported as
`CorruptionError(path, offset)`.

Versions are per component: a writer always writes `WRITE_VERSION`, a reader accepts every
version in `READ_VERSIONS` (old sstables stay readable until compaction rewrites them).
Component kinds, magics and versions are embedded on disk: never renumber or reuse them.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import lz4.block

from .errors import CorruptionError

PREFIX = "sp1"
FILE_HEADER = struct.Struct("<4sHH")  # magic, version, reserved (0)
BLOCK_HEADER = struct.Struct("<III")  # compressed length, uncompressed length, crc32(compressed)
CRC = struct.Struct("<I")

MAGIC = {
    "Data.db": b"SPDT",
    "Index.db": b"SPIX",
    "Summary.db": b"SPSM",
    "Filter.db": b"SPBF",
    "Statistics.db": b"SPST",
}
COMPONENTS = ("Data.db", "Index.db", "Summary.db", "Filter.db", "Statistics.db")
# Index.db 2: binary columnar index blocks aligned to data blocks (sstable_index.py);
# Statistics.db 2: adds the `plain` and `non_expiring_data` keys.
WRITE_VERSION = {"Data.db": 1, "Index.db": 2, "Summary.db": 1, "Filter.db": 1, "Statistics.db": 2}
READ_VERSIONS = {"Data.db": (1,), "Index.db": (1, 2), "Summary.db": (1,), "Filter.db": (1,),
                 "Statistics.db": (1, 2)}
TOC = "TOC.txt"
MAX_BLOCK_BYTES = 1 << 30  # sanity bound when parsing a block header


def component_name(generation: int, component: str) -> str:
    return f"{PREFIX}-{generation}-{component}"


def parse_component_name(name: str) -> tuple[int, str] | None:
    """(generation, component) of a file of ours; temporaries end with `.tmp`."""
    parts = name.split("-", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]


def file_header(component: str) -> bytes:
    return FILE_HEADER.pack(MAGIC[component], WRITE_VERSION[component], 0)


def check_file_header(path: Path, data: bytes, component: str) -> int:
    """The component's format version, after checking magic and that we can read it."""
    if len(data) < FILE_HEADER.size:
        raise CorruptionError(path, 0, "file shorter than its header")
    magic, version, _ = FILE_HEADER.unpack_from(data, 0)
    if magic != MAGIC[component]:
        raise CorruptionError(path, 0, f"bad magic {magic!r}")
    if version not in READ_VERSIONS[component]:
        raise CorruptionError(path, 4, f"unsupported version {version}")
    return int(version)


_compress = lz4.block.compress
_decompress = lz4.block.decompress  # (source, uncompressed_size): positional, no keyword parsing
_crc32 = zlib.crc32
_unpack_block_header = BLOCK_HEADER.unpack_from
_HEADER_SIZE = BLOCK_HEADER.size


def frame_block(raw: bytes) -> bytes:
    comp: bytes = _compress(raw, store_size=False)
    return BLOCK_HEADER.pack(len(comp), len(raw), _crc32(comp)) + comp


def unframe_block(path: Path, offset: int, framed: bytes | memoryview) -> bytes:
    """Decompress a block read at `offset`; `framed` must start with the block header (bytes
    after the block are ignored)."""
    if len(framed) < _HEADER_SIZE:
        raise CorruptionError(path, offset, "truncated block header")
    clen, ulen, crc = _unpack_block_header(framed, 0)
    if clen > MAX_BLOCK_BYTES or ulen > MAX_BLOCK_BYTES or len(framed) < _HEADER_SIZE + clen:
        raise CorruptionError(path, offset, "truncated block")
    comp = memoryview(framed)[_HEADER_SIZE:_HEADER_SIZE + clen]  # no copy
    if _crc32(comp) != crc:
        raise CorruptionError(path, offset, "block checksum mismatch")
    try:
        out: bytes = _decompress(comp, ulen)
    except Exception as e:  # lz4 raises LZ4BlockError; any failure here is corruption
        raise CorruptionError(path, offset, f"lz4: {e}") from e
    if len(out) != ulen:
        raise CorruptionError(path, offset, "block length mismatch")
    return out


def seal_payload(component: str, payload: bytes) -> bytes:
    """Whole-file component: header, payload, crc32(payload)."""
    return file_header(component) + payload + CRC.pack(zlib.crc32(payload))


def open_payload(path: Path, data: bytes, component: str) -> bytes:
    """The checked payload of a whole-file component (any readable version)."""
    check_file_header(path, data, component)
    if len(data) < FILE_HEADER.size + CRC.size:
        raise CorruptionError(path, FILE_HEADER.size, "truncated file")
    payload = data[FILE_HEADER.size:-CRC.size]
    (crc,) = CRC.unpack_from(data, len(data) - CRC.size)
    if zlib.crc32(payload) != crc:
        raise CorruptionError(path, FILE_HEADER.size, "checksum mismatch")
    return payload

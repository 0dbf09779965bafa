"""Truncation records: a small per-table file saying "data up to commitlog position P is gone".

Format (version 1): `TRUNCATED` in the table's data directory = msgpack
`[version=1, segment_id, offset, truncated_at_us]` followed by crc32 (u32 LE) of those bytes,
written to `TRUNCATED.tmp`, fsynced, renamed. Replay skips the table's entries at or before P and
loading a tablet deletes sstables whose replay position is at or before P (a truncate that
crashed before deleting them).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import msgpack

from .errors import CorruptionError
from .fs import FileSystem

RECORD = "TRUNCATED"
_CRC = struct.Struct("<I")


def write_truncation_record(fs: FileSystem, table_dir: Path, pos: tuple[int, int], truncated_at_us: int) -> None:
    fs.makedirs(table_dir)
    body = msgpack.packb([1, pos[0], pos[1], truncated_at_us])
    tmp = table_dir / (RECORD + ".tmp")
    f = fs.open_append(tmp)
    f.write(body + _CRC.pack(zlib.crc32(body)))
    f.sync()
    f.close()
    fs.rename(tmp, table_dir / RECORD)
    fs.sync_dir(table_dir)


def read_truncation_record(fs: FileSystem, table_dir: Path) -> tuple[int, int] | None:
    path = table_dir / RECORD
    if not fs.exists(path):
        return None
    data = fs.read_file(path)
    if len(data) < 5 or zlib.crc32(data[:-4]) != _CRC.unpack_from(data, len(data) - 4)[0]:
        raise CorruptionError(path, 0, "truncation record checksum mismatch")
    version, seg, off, _ = msgpack.unpackb(data[:-4])
    if version != 1:
        raise CorruptionError(path, 0, f"unsupported truncation record version {version}")
    return (seg, off)

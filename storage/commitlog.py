"""Commitlog of one shard: append-only segments of checksummed entries (format: docs/storage/formats.md).

Owns segment files, group commit (`batch` mode) and periodic sync, replay, and deleting a
segment once every tablet with data in it has flushed past it.

Invariants:
- a position `(segment_id, offset)` names the end of an entry; positions grow monotonically
  across restarts because new segment ids are above every id seen on disk or in sstables;
- `synced` never exceeds what a completed fsync covered; `sync_to(p)` returns only after it;
- a segment is deleted only when sealed (never the active one) and no tablet is dirty in it.
Must never: rewrite a byte already written, or treat a bad entry followed by good ones as a torn
tail (that is corruption in the middle and is reported).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from .fs import FileSystem, WritableFile

log = logging.getLogger(__name__)

TabletId = tuple[UUID, int]
Position = tuple[int, int]

SEGMENT_MAGIC = b"SPCL"
FORMAT_VERSION = 1
SEGMENT_HEADER = struct.Struct("<4sHHQI")  # magic, version, reserved, segment id, crc32(first 16 bytes)
ENTRY_HEADER = struct.Struct("<III")  # payload length, length ^ 0xFFFFFFFF, crc32(payload)
TABLET_HEADER = struct.Struct("<16sq")  # table uuid bytes, tablet number (start of every payload)
_WRITE_BEHIND_BYTES = 1 << 20  # periodic mode: hand buffered bytes to the OS past this


def segment_name(segment_id: int) -> str:
    return f"CommitLog-{FORMAT_VERSION}-{segment_id:020d}.log"


def parse_segment_name(name: str) -> int | None:
    if not (name.startswith("CommitLog-") and name.endswith(".log")):
        return None
    parts = name[:-4].split("-")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return int(parts[2])


def encode_segment_header(segment_id: int) -> bytes:
    head = struct.pack("<4sHHQ", SEGMENT_MAGIC, FORMAT_VERSION, 0, segment_id)
    return head + struct.pack("<I", zlib.crc32(head))


def encode_entry(tablet_header: bytes, payload: bytes) -> bytes:
    n = len(tablet_header) + len(payload)
    crc = zlib.crc32(payload, zlib.crc32(tablet_header))
    return ENTRY_HEADER.pack(n, n ^ 0xFFFFFFFF, crc) + tablet_header + payload


@dataclass
class ReplayStats:
    segments: int = 0
    entries: int = 0  # valid entries read
    applied: int = 0  # entries applied to a memtable
    skipped: int = 0  # unknown tablet, already flushed, or truncated
    bytes: int = 0
    seconds: float = 0.0
    torn_tails: int = 0  # segments that ended in an incomplete entry (normal after a crash)
    corruptions: list[tuple[str, int]] = field(default_factory=list)  # (path, offset) mid-segment

    @property
    def mb_per_s(self) -> float:
        return self.bytes / (1 << 20) / self.seconds if self.seconds > 0 else 0.0


class LogTablet:
    """A tablet as the commitlog knows it: its entry header, precomputed, and an identity used
    to track which segments it dirtied (hashing by identity keeps the write path cheap)."""

    __slots__ = ("crc_seed", "header", "tablet")

    def __init__(self, tablet: TabletId) -> None:
        self.tablet = tablet
        self.header = TABLET_HEADER.pack(tablet[0].bytes, tablet[1])
        self.crc_seed = zlib.crc32(self.header)


class _Segment:
    __slots__ = ("dirty", "file", "id", "path", "size")

    def __init__(self, segment_id: int, path: Path, size: int) -> None:
        self.id = segment_id
        self.path = path
        self.size = size  # bytes appended so far (written or still buffered)
        self.file: WritableFile | None = None
        self.dirty: dict[LogTablet, int] = {}  # tablet -> end offset of its last entry here


# Replay calls the caller back in two steps, so per-entry work stays small: `resolve(tablet)`
# once per distinct tablet met in the log (returns a target, or None to skip all its entries),
# then `apply(target, end_position, mutation_bytes)` per entry, which returns the LogTablet the
# entry was applied to (the segment must then stay until that tablet flushes) or None.
ReplayResolver = Callable[[TabletId], Any]
ReplayApplier = Callable[[Any, Position, bytes], "LogTablet | None"]


class CommitLog:
    def __init__(self, fs: FileSystem, directory: Path, *, sync_mode: str, period_ms: int,
                 segment_size_bytes: int) -> None:
        if sync_mode not in ("batch", "periodic"):
            raise ValueError(f"commitlog_sync must be batch or periodic, not {sync_mode!r}")
        self._fs = fs
        self._dir = directory
        self.sync_mode = sync_mode
        self._period_s = period_ms / 1000.0
        self._segment_size = segment_size_bytes
        self._segments: dict[int, _Segment] = {}
        self._active: _Segment | None = None
        self._buf = bytearray()
        self._synced: Position = (0, 0)
        self._sync_task: asyncio.Task[None] | None = None
        self._periodic_task: asyncio.Task[None] | None = None
        self._to_close: list[WritableFile] = []
        self._next_id = 1
        self._closed = False
        fs.makedirs(directory)

    # -- replay -------------------------------------------------------------------------------

    def existing_segments(self) -> list[tuple[int, Path]]:
        out = []
        for name in self._fs.listdir(self._dir):
            sid = parse_segment_name(name)
            if sid is not None:
                out.append((sid, self._dir / name))
        out.sort()
        return out

    def replay(self, resolve: ReplayResolver, apply: ReplayApplier) -> ReplayStats:
        """Feed every valid entry to the callbacks (see ReplayResolver/ReplayApplier).

        Stops cleanly at a torn tail; records mid-segment corruption (with path and offset) and
        continues with the next segment.
        """
        stats = ReplayStats()
        t0 = time.perf_counter()
        unpack_entry = ENTRY_HEADER.unpack_from
        unpack_tablet = TABLET_HEADER.unpack_from
        hsize = ENTRY_HEADER.size
        tsize = TABLET_HEADER.size
        crc32 = zlib.crc32
        targets: dict[bytes, Any] = {}  # tablet header bytes -> resolve()'s answer
        entries = applied = 0
        for sid, path in self.existing_segments():
            self._next_id = max(self._next_id, sid + 1)
            data = self._fs.read_file(path)
            stats.segments += 1
            stats.bytes += len(data)
            seg = _Segment(sid, path, len(data))
            self._segments[sid] = seg
            if len(data) < SEGMENT_HEADER.size:
                stats.torn_tails += 1  # crashed right after creating it
                continue
            magic, version, _, hdr_id, crc = SEGMENT_HEADER.unpack_from(data, 0)
            if magic != SEGMENT_MAGIC or version != FORMAT_VERSION or hdr_id != sid \
                    or crc != zlib.crc32(data[:16]):
                stats.corruptions.append((str(path), 0))
                log.error("commitlog segment %s has a bad header; skipped", path)
                continue
            off = SEGMENT_HEADER.size
            end = len(data)
            mv = memoryview(data)
            dirty = seg.dirty
            while off < end:
                ok = False
                if end - off >= hsize:
                    n, n_inv, crc = unpack_entry(data, off)
                    if n ^ 0xFFFFFFFF == n_inv and n >= tsize and off + hsize + n <= end:
                        p = off + hsize
                        if crc32(mv[p:p + n]) == crc:
                            ok = True
                if not ok:
                    if _find_valid_entry(data, off + 1) is None:
                        stats.torn_tails += 1
                        log.warning("commitlog segment %s: torn tail at offset %d", path, off)
                    else:
                        stats.corruptions.append((str(path), off))
                        log.error("commitlog segment %s: corrupt entry at offset %d", path, off)
                    break
                p = off + hsize
                off = p + n
                entries += 1
                hdr = data[p:p + tsize]
                try:
                    target = targets[hdr]
                except KeyError:
                    tb, tn = unpack_tablet(hdr, 0)
                    target = targets[hdr] = resolve((UUID(bytes=tb), tn))
                if target is None:
                    continue
                owner = apply(target, (sid, off), data[p + tsize:off])
                if owner is not None:
                    applied += 1
                    dirty[owner] = off
        stats.entries = entries
        stats.applied = applied
        stats.skipped = entries - applied
        stats.seconds = time.perf_counter() - t0
        for seg in list(self._segments.values()):
            if not seg.dirty:
                self._delete_segment(seg)
        return stats

    # -- writing ------------------------------------------------------------------------------

    def start(self, min_segment_id: int = 0) -> None:
        """Begin accepting appends. Requires: replay() already ran (or there was nothing)."""
        self._next_id = max(self._next_id, min_segment_id + 1)
        for sid, _ in self.existing_segments():
            self._next_id = max(self._next_id, sid + 1)
        self._open_segment()
        if self.sync_mode == "periodic":
            self._periodic_task = asyncio.get_running_loop().create_task(self._periodic_loop())

    def _open_segment(self) -> None:
        sid = self._next_id
        self._next_id += 1
        path = self._dir / segment_name(sid)
        seg = _Segment(sid, path, SEGMENT_HEADER.size)
        seg.file = self._fs.open_append(path)
        self._fs.sync_dir(self._dir)
        self._segments[sid] = seg
        self._active = seg
        self._buf = bytearray(encode_segment_header(sid))

    def append(self, lt: LogTablet, payload: bytes) -> Position:
        """Buffer one entry; returns its end position. Durability: see `sync_to`."""
        n = len(payload) + 24
        seg = self._active
        assert seg is not None, "commitlog not started"
        if seg.size + n + 12 > self._segment_size and seg.size > SEGMENT_HEADER.size:
            self._roll()
            seg = self._active
            assert seg is not None
        buf = self._buf
        buf += ENTRY_HEADER.pack(n, n ^ 0xFFFFFFFF, zlib.crc32(payload, lt.crc_seed))
        buf += lt.header
        buf += payload
        seg.size += n + 12
        seg.dirty[lt] = seg.size
        if len(buf) > _WRITE_BEHIND_BYTES and self._sync_task is None:
            assert seg.file is not None
            seg.file.write(buf)
            self._buf = bytearray()
        return (seg.id, seg.size)

    def _roll(self) -> None:
        """Seal the active segment (write + fsync, synchronously: once per segment) and open a new one."""
        seg = self._active
        assert seg is not None and seg.file is not None
        seg.file.write(self._buf)
        self._buf = bytearray()
        seg.file.sync()
        if (seg.id, seg.size) > self._synced:
            self._synced = (seg.id, seg.size)
        if self._sync_task is not None:
            self._to_close.append(seg.file)  # a sync thread may still be using the descriptor
        else:
            seg.file.close()
        seg.file = None
        self._open_segment()
        if not seg.dirty:
            self._delete_segment(seg)

    def position(self) -> Position:
        seg = self._active
        return (0, 0) if seg is None else (seg.id, seg.size)

    @property
    def synced_position(self) -> Position:
        return self._synced

    async def sync_to(self, pos: Position) -> None:
        """Return once an fsync covering `pos` completed. Concurrent callers share one fsync."""
        while self._synced < pos:
            task = self._sync_task
            if task is None:
                task = self._sync_task = asyncio.get_running_loop().create_task(self._sync_once())
            await asyncio.shield(task)

    async def _sync_once(self) -> None:
        try:
            seg = self._active
            if seg is None or seg.file is None:
                return
            target = (seg.id, seg.size)
            if self._buf:
                seg.file.write(self._buf)
                self._buf = bytearray()
            await asyncio.to_thread(seg.file.sync)
            if target > self._synced:
                self._synced = target
        finally:
            self._sync_task = None
            for f in self._to_close:
                f.close()
            self._to_close.clear()

    async def _periodic_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._period_s)
            if self._active is not None and self._synced < self.position():
                try:
                    await self.sync_to(self.position())
                except OSError:
                    log.exception("periodic commitlog sync failed")

    # -- cleaning -----------------------------------------------------------------------------

    def mark_clean(self, tablet: LogTablet, upto: Position) -> None:
        """Everything `tablet` wrote at or before `upto` is in durable sstables (or dropped)."""
        for seg in list(self._segments.values()):
            end = seg.dirty.get(tablet)
            if end is not None and (seg.id, end) <= upto:
                del seg.dirty[tablet]
            if not seg.dirty and seg is not self._active:
                self._delete_segment(seg)

    def _delete_segment(self, seg: _Segment) -> None:
        self._segments.pop(seg.id, None)
        if self._fs.exists(seg.path):
            self._fs.remove(seg.path)
        log.debug("deleted commitlog segment %s", seg.path)

    def segment_count(self) -> int:
        return len(self._segments)

    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments.values())

    async def close(self) -> None:
        self._closed = True
        if self._periodic_task is not None:
            self._periodic_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic_task
            self._periodic_task = None
        if self._active is not None:
            await self.sync_to(self.position())
            if self._active.file is not None:
                self._active.file.close()
                self._active.file = None
            if not self._active.dirty:
                self._delete_segment(self._active)
            self._active = None

    def abandon(self) -> None:
        """Stop without syncing anything (what a crash does); for crash tests."""
        self._closed = True
        if self._periodic_task is not None:
            self._periodic_task.cancel()
        self._active = None


def _find_valid_entry(data: bytes, start: int) -> int | None:
    """Offset of the first checksum-valid entry at or after `start`, or None."""
    end = len(data)
    hsize = ENTRY_HEADER.size
    mv = memoryview(data)
    for off in range(start, end - hsize + 1):
        n, n_inv, crc = ENTRY_HEADER.unpack_from(data, off)
        if n ^ 0xFFFFFFFF == n_inv and n >= TABLET_HEADER.size and off + hsize + n <= end \
                and zlib.crc32(mv[off + hsize:off + hsize + n]) == crc:
            return off
    return None

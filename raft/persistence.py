"""Durable raft state on disk: term and vote, the log, the latest snapshot (thesis §3.8, §5).

Owns: three files in one directory, their formats (version 1, specified in docs/raft.md with a
worked example) and crash recovery. Every file starts with a 4-byte magic and a version byte,
followed by records:

    file    := magic[4] version:u8 record*
    record  := crc32:u32 length:u32 type:u8 payload[length]     (little endian; the crc covers
                                                                   length, type and payload)
    hard_state (magic RFHS): one HARD_STATE record  payload = msgpack [term, vote | nil]
    snapshot   (magic RFSN): one SNAPSHOT record    payload = msgpack codec.snapshot
    log        (magic RFLG): one LOG_BASE record    payload = msgpack [base_index, base_term]
                             then ENTRY records     payload = msgpack codec.entry
    Record type numbers are on disk: never renumber.

Rules that make recovery correct after a crash at any point:
- hard_state and snapshot are replaced atomically (write temp, fsync, rename, fsync directory);
- an ENTRY whose index is <= the last one read discards the tail from that index (Ready rule 3),
  so overwriting a follower's conflicting suffix is a plain append;
- an incomplete record at the end of the log (or a zero-filled tail) is an unsynced write cut by
  the crash: it is reported with a warning and cut off. Any other checksum or framing failure is
  a `CorruptionError(path, offset)`: never skipped silently;
- installing a received snapshot writes the snapshot first, then starts a fresh log. If the crash
  falls between the two, `load` applies the thesis §5.3 rule itself: log entries after the
  snapshot survive only if the log holds the snapshot's last entry with the same term.

Must never: import the core, send messages, or acknowledge anything (the caller does, after
`save` returns).
"""

from __future__ import annotations

import logging
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import msgpack

from raft import codec
from raft.errors import CorruptionError, ProtocolError
from raft.fs import FileSystem
from raft.types import (
    NO_INDEX,
    NO_TERM,
    Configuration,
    HardState,
    Index,
    LogEntry,
    ServerId,
    Snapshot,
    SnapshotDescriptor,
    Term,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Bounds a record so that a corrupted length field in the middle of the log is reported as
# corruption instead of being mistaken for a torn tail (which would drop synced records).
MAX_RECORD_BYTES = 64 << 20
_FILE_HEADER = struct.Struct("<4sB")
_RECORD_HEADER = struct.Struct("<IIB")

# Record types: on disk, never renumber.
HARD_STATE = 1
SNAPSHOT = 2
LOG_BASE = 3
ENTRY = 4

_HS_MAGIC, _SNAP_MAGIC, _LOG_MAGIC = b"RFHS", b"RFSN", b"RFLG"


def encode_record(rtype: int, payload: bytes) -> bytes:
    head = struct.pack("<IB", len(payload), rtype)
    crc = zlib.crc32(head + payload)
    return struct.pack("<I", crc) + head + payload


def _pack(v: Any) -> bytes:
    return msgpack.packb(v, use_bin_type=True)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class PersistentState:
    hard_state: HardState
    snapshot: Snapshot
    entries: list[LogEntry]


def empty_snapshot(config: Configuration | None = None) -> Snapshot:
    return Snapshot(SnapshotDescriptor(NO_INDEX, NO_TERM, config or Configuration(frozenset())), b"")


class FilePersistence:
    """Not thread-safe: one caller at a time (the server's loop, possibly via a worker thread)."""

    def __init__(self, fs: FileSystem, directory: str) -> None:
        self._fs = fs
        self._dir = directory.rstrip("/")
        self._hs_path = f"{self._dir}/hard_state"
        self._snap_path = f"{self._dir}/snapshot"
        self._log_path = f"{self._dir}/log"
        self._last_index: Index = NO_INDEX
        self._loaded = False

    # ---- setup ---------------------------------------------------------------------------

    def is_initialized(self) -> bool:
        return self._fs.exists(self._snap_path)

    def bootstrap(self, config: Configuration) -> None:
        """Create the state of a server: the first node(s) with `config`, a joiner with an empty
        configuration (it learns the real one from the leader). Refuses to overwrite state."""
        if self.is_initialized():
            raise CorruptionError(self._snap_path, 0, "refusing to bootstrap over existing state")
        self._fs.makedirs(self._dir)
        self._write_log(Index(0), Term(0), [])
        self._replace(self._snap_path, _SNAP_MAGIC, SNAPSHOT, _pack(codec.encode_snapshot(empty_snapshot(config))))

    # ---- recovery ------------------------------------------------------------------------

    def load(self) -> PersistentState:
        hs = HardState(NO_TERM, None)
        if self._fs.exists(self._hs_path):
            value = self._read_single(self._hs_path, _HS_MAGIC, HARD_STATE)
            if not (isinstance(value, list) and len(value) == 2):
                raise CorruptionError(self._hs_path, _FILE_HEADER.size, "bad hard state")
            term, vote = value
            if type(term) is not int or not (vote is None or isinstance(vote, str)):
                raise CorruptionError(self._hs_path, _FILE_HEADER.size, "bad hard state")
            hs = HardState(Term(term), None if vote is None else ServerId(vote))
        if not self._fs.exists(self._snap_path):
            raise CorruptionError(self._snap_path, 0, "missing snapshot: state was never bootstrapped")
        try:
            snapshot = codec.decode_snapshot(self._read_single(self._snap_path, _SNAP_MAGIC, SNAPSHOT))
        except ProtocolError as err:
            raise CorruptionError(self._snap_path, _FILE_HEADER.size, str(err)) from None
        base_index, base_term, entries = self._read_log()
        entries = self._reconcile(snapshot.descriptor, base_index, base_term, entries)
        self._last_index = entries[-1].index if entries else snapshot.descriptor.index
        self._loaded = True
        return PersistentState(hs, snapshot, entries)

    def _reconcile(
        self, snap: SnapshotDescriptor, base_index: Index, base_term: Term, entries: list[LogEntry]
    ) -> list[LogEntry]:
        if base_index > snap.index:
            raise CorruptionError(self._log_path, 0, f"log starts at {base_index + 1} after snapshot {snap.index}")
        term_at_snap = base_term if base_index == snap.index else None
        for e in entries:
            if e.index == snap.index:
                term_at_snap = e.term
        if term_at_snap != snap.term:
            # Crash between storing a received snapshot and resetting the log (§5.3 rule).
            return []
        return [e for e in entries if e.index > snap.index]

    def _read_single(self, path: str, magic: bytes, rtype: int) -> Any:
        data = self._fs.read(path)
        records, end, torn = self._parse(path, data, magic)
        if torn or len(records) != 1 or records[0][0] != rtype:
            raise CorruptionError(path, end, "expected exactly one complete record")
        try:
            return msgpack.unpackb(records[0][1], raw=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as err:
            raise CorruptionError(path, _FILE_HEADER.size, f"undecodable record: {err}") from None

    def _parse(self, path: str, data: bytes, magic: bytes) -> tuple[list[tuple[int, bytes]], int, bool]:
        """Records of a file; returns (records, end offset of the valid prefix, torn tail?)."""
        if len(data) < _FILE_HEADER.size:
            raise CorruptionError(path, 0, "file shorter than its header")
        got_magic, version = _FILE_HEADER.unpack_from(data)
        if got_magic != magic:
            raise CorruptionError(path, 0, f"bad magic {got_magic!r}")
        if version != FORMAT_VERSION:
            raise CorruptionError(path, 4, f"unsupported format version {version}")
        pos = _FILE_HEADER.size
        out: list[tuple[int, bytes]] = []
        while pos < len(data):
            if len(data) - pos < _RECORD_HEADER.size:
                return out, pos, True
            crc, length, rtype = _RECORD_HEADER.unpack_from(data, pos)
            end = pos + _RECORD_HEADER.size + length
            if length > MAX_RECORD_BYTES:
                raise CorruptionError(path, pos, f"record length {length} exceeds the maximum")
            if end > len(data):
                # The record runs past the end of the file: an append cut short by a crash.
                return out, pos, True
            if zlib.crc32(data[pos + 4 : end]) != crc:
                if not any(data[pos:]):
                    return out, pos, True  # zero-filled tail: the size grew, the data never landed
                raise CorruptionError(path, pos, "record checksum mismatch")
            out.append((rtype, data[pos + _RECORD_HEADER.size : end]))
            pos = end
        return out, pos, False

    def _read_log(self) -> tuple[Index, Term, list[LogEntry]]:
        if not self._fs.exists(self._log_path):
            raise CorruptionError(self._log_path, 0, "missing log")
        data = self._fs.read(self._log_path)
        records, end, torn = self._parse(self._log_path, data, _LOG_MAGIC)
        if not records or records[0][0] != LOG_BASE:
            raise CorruptionError(self._log_path, _FILE_HEADER.size, "log without a base record")
        try:
            base = msgpack.unpackb(records[0][1], raw=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            base = None
        if not (isinstance(base, list) and len(base) == 2 and all(type(x) is int for x in base)):
            raise CorruptionError(self._log_path, _FILE_HEADER.size, "bad log base record")
        base_index, base_term = Index(base[0]), Term(base[1])
        entries: list[LogEntry] = []
        offset = _FILE_HEADER.size + _RECORD_HEADER.size + len(records[0][1])
        for rtype, payload in records[1:]:
            if rtype != ENTRY:
                raise CorruptionError(self._log_path, offset, f"unexpected record type {rtype}")
            try:
                e = codec.decode_entry(msgpack.unpackb(payload, raw=False))
            except (ProtocolError, ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as err:
                raise CorruptionError(self._log_path, offset, f"bad entry: {err}") from None
            first = entries[0].index if entries else base_index + 1
            if not first <= e.index <= first + len(entries):
                raise CorruptionError(self._log_path, offset, f"entry {e.index} out of sequence")
            del entries[e.index - first :]
            entries.append(e)
            offset += _RECORD_HEADER.size + len(payload)
        if torn:
            logger.warning("%s: cutting an incomplete tail at offset %d (unsynced write)", self._log_path, end)
            self._write_log(base_index, base_term, entries)
        return base_index, base_term, entries

    # ---- writing -------------------------------------------------------------------------

    def save(self, hard_state: HardState | None, snapshot: Snapshot | None, entries: tuple[LogEntry, ...]) -> None:
        """Make a Ready's durable part durable (raft/ready.py steps 1-3); returns once synced."""
        if not self._loaded:
            raise RuntimeError("load() must be called before save()")
        if hard_state is not None:
            self._replace(self._hs_path, _HS_MAGIC, HARD_STATE, _pack([hard_state.term, hard_state.vote]))
        if snapshot is not None:
            self._replace(self._snap_path, _SNAP_MAGIC, SNAPSHOT, _pack(codec.encode_snapshot(snapshot)))
            d = snapshot.descriptor
            self._write_log(d.index, d.term, [])
            self._last_index = d.index
        if entries:
            if entries[0].index > self._last_index + 1:
                raise ValueError(f"gap: appending {entries[0].index} after {self._last_index}")
            self._fs.append(self._log_path, b"".join(encode_record(ENTRY, _pack(codec.encode_entry(e)))
                                                      for e in entries))
            self._fs.sync(self._log_path)
            self._last_index = entries[-1].index

    def compact(self, snapshot: Snapshot, keep_from: Index) -> None:
        """Store a local snapshot, then drop log entries before `keep_from` (thesis §5.1)."""
        self._replace(self._snap_path, _SNAP_MAGIC, SNAPSHOT, _pack(codec.encode_snapshot(snapshot)))
        base_index, _, entries = self._read_log()
        kept = [e for e in entries if e.index >= keep_from]
        if kept and kept[0].index > base_index + 1:
            before = next(e for e in entries if e.index == kept[0].index - 1)
            self._write_log(before.index, before.term, kept)
        elif not kept and entries and entries[-1].index < keep_from:
            self._write_log(entries[-1].index, entries[-1].term, [])

    def _replace(self, path: str, magic: bytes, rtype: int, payload: bytes) -> None:
        tmp = path + ".tmp"
        self._fs.write(tmp, _FILE_HEADER.pack(magic, FORMAT_VERSION) + encode_record(rtype, payload))
        self._fs.sync(tmp)
        self._fs.rename(tmp, path)
        self._fs.sync_dir(self._dir)

    def _write_log(self, base_index: Index, base_term: Term, entries: list[LogEntry]) -> None:
        body = [encode_record(LOG_BASE, _pack([base_index, base_term]))]
        body.extend(encode_record(ENTRY, _pack(codec.encode_entry(e))) for e in entries)
        tmp = self._log_path + ".tmp"
        self._fs.write(tmp, _FILE_HEADER.pack(_LOG_MAGIC, FORMAT_VERSION) + b"".join(body))
        self._fs.sync(tmp)
        self._fs.rename(tmp, self._log_path)
        self._fs.sync_dir(self._dir)

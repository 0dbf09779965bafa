"""Writing one sstable: partitions in (token, key) order in, durable component files out.

Protocol (crash safety): every component is written to `<name>.tmp`, fsynced, renamed to its
final name; `TOC.txt` goes last the same way, then the directory is fsynced. A generation with
no TOC.txt is an incomplete write and is deleted on load, so a crash at any point leaves either
no sstable or a complete one. Never writes into an existing file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgpack

from .bloom import BloomFilter
from .codec import mutation_to_obj
from .fs import FileSystem, WritableFile
from .mutation import Mutation, Row
from .sstable_format import (
    COMPONENTS,
    TOC,
    component_name,
    file_header,
    frame_block,
    seal_payload,
)

INDEX_BLOCK_ENTRIES = 64
_INDEX_STRIDE = 5  # token, key, data block offset, offset in block, length
_MAX_I64 = (1 << 63) - 1
_MIN_I64 = -(1 << 63)


class StatsCollector:
    """Per-sstable statistics, accumulated partition by partition."""

    def __init__(self) -> None:
        self.min_token = _MAX_I64
        self.max_token = _MIN_I64
        self.min_ts = _MAX_I64
        self.max_ts = _MIN_I64
        self.partitions = 0
        self.rows = 0
        self.cells = 0
        self.tombstones = 0
        self.max_ldt = 0  # latest local deletion time / expiry of anything (0: none)
        self.drop_times: dict[int, int] = {}  # local deletion time (minute) -> tombstone count

    def _ts(self, ts: int) -> None:
        if ts < self.min_ts:
            self.min_ts = ts
        if ts > self.max_ts:
            self.max_ts = ts

    def _tomb(self, ldt: int) -> None:
        self.tombstones += 1
        b = ldt - ldt % 60
        self.drop_times[b] = self.drop_times.get(b, 0) + 1
        if ldt > self.max_ldt:
            self.max_ldt = ldt

    def _row(self, row: Row) -> None:
        if row.marker is not None:
            self._ts(row.marker.timestamp_us)
            if row.marker.ttl_s:
                self.max_ldt = max(self.max_ldt, row.marker.expiry_s)
        if row.deletion is not None:
            self._ts(row.deletion.timestamp_us)
            self._tomb(row.deletion.local_deletion_time_s)
        for dt in row.collection_deletions.values():
            self._ts(dt.timestamp_us)
            self._tomb(dt.local_deletion_time_s)
        for c in row.cells.values():
            self.cells += 1
            self._ts(c.timestamp_us)
            if c.value is None:
                self._tomb(c.expiry_s)
            elif c.ttl_s:
                self._tomb(c.expiry_s)  # an expiring cell becomes droppable after it expires
                self.tombstones -= 1

    def add_plain(self, obj: Any) -> None:
        """Stats of a partition with only live, non-expiring data (see is_plain_partition)."""
        token = obj[0]
        self.partitions += 1
        if token < self.min_token:
            self.min_token = token
        if token > self.max_token:
            self.max_token = token
        rows = obj[4]
        self.rows += len(rows) // 2
        lo = self.min_ts
        hi = self.max_ts
        ncells = 0
        for r in rows[1::2]:
            mk = r[0]
            cells = r[2]
            if mk is not None:
                t = mk[0]
                if t < lo:
                    lo = t
                if t > hi:
                    hi = t
            if cells:
                ncells += len(cells)
                tss = cells[2::7]
                t = min(tss)
                if t < lo:
                    lo = t
                t = max(tss)
                if t > hi:
                    hi = t
        self.min_ts = lo
        self.max_ts = hi
        self.cells += ncells // 7

    def add(self, m: Mutation) -> None:
        self.partitions += 1
        if m.token < self.min_token:
            self.min_token = m.token
        if m.token > self.max_token:
            self.max_token = m.token
        if m.partition_deletion is not None:
            self._ts(m.partition_deletion.timestamp_us)
            self._tomb(m.partition_deletion.local_deletion_time_s)
        for rt in m.range_tombstones:
            self._ts(rt.deletion.timestamp_us)
            self._tomb(rt.deletion.local_deletion_time_s)
        if m.static_row is not None:
            self._row(m.static_row)
        self.rows += len(m.rows)
        for row in m.rows.values():
            self._row(row)


class SSTableWriter:
    def __init__(self, fs: FileSystem, directory: Path, generation: int, *, expected_partitions: int,
                 bloom_fp_chance: float, block_size_bytes: int, replay_position: tuple[int, int],
                 ancestors: Iterable[int] = (), created_at_s: int = 0) -> None:
        self._fs = fs
        self._dir = directory
        self.generation = generation
        self._block_size = block_size_bytes
        self._replay_position = replay_position
        self._ancestors = sorted(ancestors)
        self._created_at_s = created_at_s
        self._bloom = BloomFilter.for_capacity(expected_partitions, bloom_fp_chance)
        self.stats = StatsCollector()
        self._data = self._open("Data.db")
        self._index = self._open("Index.db")
        self._data_off = len(file_header("Data.db"))
        self._index_off = len(file_header("Index.db"))
        self._data.write(file_header("Data.db"))
        self._index.write(file_header("Index.db"))
        self._block: list[Any] = []
        self._block_bytes = 0
        self._index_entries: list[Any] = []
        self._summary_keys: list[Any] = []  # first (token, key) of each index block, flat
        self._summary_offsets: list[int] = []
        self._packer = msgpack.Packer(use_bin_type=True)
        self.data_bytes_uncompressed = 0

    def _open(self, component: str) -> WritableFile:
        return self._fs.open_append(self._dir / (component_name(self.generation, component) + ".tmp"))

    def add(self, m: Mutation) -> None:
        """Requires: strictly ascending (token, key) across calls."""
        obj = mutation_to_obj(m, rows_sorted=True)
        if obj[5]:
            rts = sorted(m.range_tombstones, key=lambda r: (r.start, r.end, r.deletion.timestamp_us))
            obj[5] = [x for r in rts for x in (r.start, r.end, r.deletion.timestamp_us,
                                                r.deletion.local_deletion_time_s)]
        packed = self._packer.pack(obj)
        self._index_entries.extend((m.token, m.key, self._data_off, self._block_bytes, len(packed)))
        self._block.append(packed)
        self._block_bytes += len(packed)
        self._bloom.add(m.key)
        self.stats.add(m)
        if len(self._index_entries) >= _INDEX_STRIDE * INDEX_BLOCK_ENTRIES:
            self._flush_index_block()
        if self._block_bytes >= self._block_size:
            self._flush_data_block()

    def add_raw(self, obj: Any) -> None:
        """Add a partition already in codec form that `is_plain_partition` accepted (compaction's
        fast path: no decode, no reconcile). Requires: ascending order, like `add`."""
        packed = self._packer.pack(obj)
        token, key = obj[0], obj[1]
        self._index_entries.extend((token, key, self._data_off, self._block_bytes, len(packed)))
        self._block.append(packed)
        self._block_bytes += len(packed)
        self._bloom.add(key)
        self.stats.add_plain(obj)
        if len(self._index_entries) >= _INDEX_STRIDE * INDEX_BLOCK_ENTRIES:
            self._flush_index_block()
        if self._block_bytes >= self._block_size:
            self._flush_data_block()

    def _flush_data_block(self) -> None:
        if not self._block:
            return
        # a block is a msgpack array of partitions: array header + the packed partitions
        raw = _array_header(len(self._block)) + b"".join(self._block)
        framed = frame_block(raw)
        self._data.write(framed)
        self._data_off += len(framed)
        self.data_bytes_uncompressed += len(raw)
        self._block = []
        self._block_bytes = 0

    def _flush_index_block(self) -> None:
        if not self._index_entries:
            return
        self._summary_keys.extend((self._index_entries[0], self._index_entries[1]))
        self._summary_offsets.append(self._index_off)
        framed = frame_block(self._packer.pack(self._index_entries))
        self._index.write(framed)
        self._index_off += len(framed)
        self._index_entries = []

    def finish(self) -> list[Path]:
        """Write the remaining components and commit the sstable (TOC last). Returns all paths."""
        self._flush_data_block()
        self._flush_index_block()
        for f in (self._data, self._index):
            f.sync()
            f.close()
        st = self.stats
        summary = msgpack.packb([self._summary_keys, self._summary_offsets], use_bin_type=True)
        bloom = self._bloom
        filt = msgpack.packb([bloom.k, bloom.m, bytes(bloom.bits)], use_bin_type=True)
        stats = msgpack.packb({
            "min_token": st.min_token, "max_token": st.max_token,
            "min_timestamp_us": st.min_ts, "max_timestamp_us": st.max_ts,
            "max_local_deletion_time_s": st.max_ldt,
            "partitions": st.partitions, "rows": st.rows, "cells": st.cells,
            "tombstones": st.tombstones,
            "tombstone_drop_times": sorted(st.drop_times.items()),
            "replay_position": list(self._replay_position),
            "ancestors": self._ancestors,
            "data_bytes_uncompressed": self.data_bytes_uncompressed,
            "data_bytes": self._data_off,
            "created_at_s": self._created_at_s,
        }, use_bin_type=True)
        for component, payload in (("Summary.db", summary), ("Filter.db", filt), ("Statistics.db", stats)):
            f = self._open(component)
            f.write(seal_payload(component, payload))
            f.sync()
            f.close()
        return commit_components(self._fs, self._dir, self.generation)

    def abort(self) -> None:
        for f in (self._data, self._index):
            f.close()
        for component in (*COMPONENTS, TOC):
            p = self._dir / (component_name(self.generation, component) + ".tmp")
            if self._fs.exists(p):
                self._fs.remove(p)


def commit_components(fs: FileSystem, directory: Path, generation: int) -> list[Path]:
    """Rename every synced `<component>.tmp` to its final name, then write the TOC the same way."""
    paths = []
    for component in COMPONENTS:
        final = directory / component_name(generation, component)
        fs.rename(directory / (final.name + ".tmp"), final)
        paths.append(final)
    toc_final = directory / component_name(generation, TOC)
    toc_tmp = directory / (toc_final.name + ".tmp")
    f = fs.open_append(toc_tmp)
    f.write(("\n".join((*COMPONENTS, TOC)) + "\n").encode())
    f.sync()
    f.close()
    fs.rename(toc_tmp, toc_final)
    fs.sync_dir(directory)
    paths.append(toc_final)
    return paths


def is_plain_partition(obj: Any) -> bool:
    """True if the codec-form partition holds only live, non-expiring rows: nothing in it can be
    shadowed, expire or be purged, so compaction may copy it as is."""
    if obj[2] is not None or obj[3] is not None or obj[5]:
        return False
    for r in obj[4][1::2]:
        mk, dl, cells, cd = r
        if dl is not None or cd or (mk is not None and mk[1]):
            return False
        if None in cells[3::7] or any(cells[4::7]):
            return False
    return True


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")

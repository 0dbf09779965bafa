"""Per-sstable statistics (the `Statistics.db` component, docs/storage/formats.md section 3),
accumulated partition by partition while an sstable is written.

Invariants the readers of these figures rely on:
- `min_ts`/`max_ts` bound every timestamp in the sstable (they may be wider than the data, never
  narrower: compaction's purge test and whole-sstable expiry only ever get more conservative);
- `plain` is True only if no partition holds a deletion of any kind or a TTL, so compaction may
  copy any single-version partition of it byte for byte;
- `non_expiring` is True if any live cell or row marker has no TTL (the sstable can never expire
  as a whole); it may be True when it need not be, never the reverse;
- counts (partitions, rows, cells, tombstones and their drop times) are exact.
A memtable collects the statistics of the partitions it keeps encoded as they are written
(memtable.py); when it merges one of them with a later write, `remove` takes its counts back
and its bounds and flags stay, which the rules above allow.
"""

from __future__ import annotations

from typing import Any

from .mutation import Mutation, Row

_MAX_I64 = (1 << 63) - 1
_MIN_I64 = -(1 << 63)


class StatsCollector:
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
        self.plain = True
        self.non_expiring = False

    def _ts(self, ts: int) -> None:
        if ts < self.min_ts:
            self.min_ts = ts
        if ts > self.max_ts:
            self.max_ts = ts

    def _tomb(self, ldt: int) -> None:
        self.plain = False
        self.tombstones += 1
        b = ldt - ldt % 60
        self.drop_times[b] = self.drop_times.get(b, 0) + 1
        if ldt > self.max_ldt:
            self.max_ldt = ldt

    def _row(self, row: Row) -> None:
        mk = row.marker
        if mk is not None:
            self._ts(mk.timestamp_us)
            if mk.ttl_s:
                self.plain = False
                self.max_ldt = max(self.max_ldt, mk.expiry_s)
            else:
                self.non_expiring = True
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
            else:
                self.non_expiring = True

    def _token(self, token: int) -> None:
        self.partitions += 1
        if token < self.min_token:
            self.min_token = token
        if token > self.max_token:
            self.max_token = token

    def _plain_row(self, row: Row) -> bool:
        """`_row(row)` if `row` holds only live data without TTL (what most writes are), with
        the fewest Python operations; False, having changed nothing, for any other row."""
        mk = row.marker
        if row.deletion is not None or row.collection_deletions or (mk is not None and mk.ttl_s):
            return False
        cells = row.cells
        if mk is not None:
            t0 = mk.timestamp_us
        elif cells:
            t0 = next(iter(cells.values())).timestamp_us
        else:
            return True  # an empty row: nothing to count
        lo = hi = t0
        for c in cells.values():
            if c.value is None or c.ttl_s:
                return False
            t = c.timestamp_us
            if t != t0:  # (the cells of one write usually share its timestamp)
                if t < lo:
                    lo = t
                elif t > hi:
                    hi = t
        if lo < self.min_ts:
            self.min_ts = lo
        if hi > self.max_ts:
            self.max_ts = hi
        self.cells += len(cells)
        self.non_expiring = True
        return True

    def add(self, m: Mutation) -> None:
        rows = m.rows
        if len(rows) == 1 and m.partition_deletion is None and m.static_row is None \
                and not m.range_tombstones:
            (row,) = rows.values()
            if self._plain_row(row):  # the common case
                self.partitions += 1
                self.rows += 1
                token = m.token
                if token < self.min_token:
                    self.min_token = token
                if token > self.max_token:
                    self.max_token = token
                return
        self._token(m.token)
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

    def add_summaries(self, partitions: int, min_ts: int, max_ts: int, cells: int, live: bool) -> None:
        """`add(m)` for `partitions` partitions of one row of live cells without TTL (marker
        without TTL or none) each, token bounds aside, from what `codec.encode_mutation_summarized`
        gathered: their timestamp bounds, cell count, and whether any holds anything."""
        self.partitions += partitions
        self.rows += partitions
        self.cells += cells
        if live:
            if min_ts < self.min_ts:
                self.min_ts = min_ts
            if max_ts > self.max_ts:
                self.max_ts = max_ts
            self.non_expiring = True

    def remove(self, m: Mutation) -> None:
        """Take back the counts `add(m)` added: partitions, rows, cells, tombstones and their
        drop times. Bounds and flags stay as they are (wider bounds, a False `plain` or a True
        `non_expiring` are allowed, see the module docstring)."""
        c = StatsCollector()
        c.add(m)
        self.partitions -= c.partitions
        self.rows -= c.rows
        self.cells -= c.cells
        self.tombstones -= c.tombstones
        for minute, count in c.drop_times.items():
            left = self.drop_times[minute] - count
            if left:
                self.drop_times[minute] = left
            else:
                del self.drop_times[minute]

    def merge(self, other: StatsCollector) -> None:
        """Add everything `other` collected."""
        self.min_token = min(self.min_token, other.min_token)
        self.max_token = max(self.max_token, other.max_token)
        self.min_ts = min(self.min_ts, other.min_ts)
        self.max_ts = max(self.max_ts, other.max_ts)
        self.partitions += other.partitions
        self.rows += other.rows
        self.cells += other.cells
        self.tombstones += other.tombstones
        self.max_ldt = max(self.max_ldt, other.max_ldt)
        for minute, count in other.drop_times.items():
            self.drop_times[minute] = self.drop_times.get(minute, 0) + count
        self.plain = self.plain and other.plain
        self.non_expiring = self.non_expiring or other.non_expiring

    def add_plain(self, obj: Any) -> None:
        """Stats of a codec-form partition `is_plain_partition` accepted (no static row, only
        live non-expiring rows)."""
        self._token(obj[0])
        rows = obj[4]
        self.rows += len(rows) // 2
        lo = self.min_ts
        hi = self.max_ts
        ncells = 0
        live = False
        for r in rows[1::2]:
            mk = r[0]
            cells = r[2]
            if mk is not None:
                live = True
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
        if live or ncells:
            self.non_expiring = True

    def add_copied(self, count: int, first_token: int, last_token: int) -> None:
        """`count` partitions copied verbatim from plain sstables, first_token <= last_token;
        their row, cell and timestamp figures arrive through `absorb`."""
        self.partitions += count
        if first_token < self.min_token:
            self.min_token = first_token
        if last_token > self.max_token:
            self.max_token = last_token

    def absorb(self, rows: int, cells: int, min_ts: int, max_ts: int, non_expiring: bool) -> None:
        """Add figures of verbatim-copied plain data (never deletions or TTLs)."""
        self.rows += rows
        self.cells += cells
        if min_ts < self.min_ts:
            self.min_ts = min_ts
        if max_ts > self.max_ts:
            self.max_ts = max_ts
        self.non_expiring = self.non_expiring or non_expiring

    def to_statistics(self, *, replay_position: tuple[int, int], ancestors: list[int],
                      data_bytes_uncompressed: int, data_bytes: int, created_at_s: int) -> dict[str, Any]:
        """The Statistics.db map (version 2)."""
        return {
            "min_token": self.min_token, "max_token": self.max_token,
            "min_timestamp_us": self.min_ts, "max_timestamp_us": self.max_ts,
            "max_local_deletion_time_s": self.max_ldt,
            "partitions": self.partitions, "rows": self.rows, "cells": self.cells,
            "tombstones": self.tombstones,
            "tombstone_drop_times": sorted(self.drop_times.items()),
            "replay_position": list(replay_position),
            "ancestors": ancestors,
            "data_bytes_uncompressed": data_bytes_uncompressed,
            "data_bytes": data_bytes,
            "created_at_s": created_at_s,
            "plain": self.plain,
            "non_expiring_data": self.non_expiring,
        }

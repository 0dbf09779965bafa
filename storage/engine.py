"""StorageEngine: the storage API of one shard (contracts.md section 1.3).

Owns the shard's commitlog, the tablet registry, and scheduling of flushes and compactions.
Write path: encode once -> commitlog append -> memtable apply -> (batch mode) wait for the
group-commit fsync. Reads merge the tablet's memtables and sstables (skipping sstables by token
range and bloom filter) and materialize live rows.

Invariants:
- a tablet's flushes run one at a time and in seal order, so `mark_clean` never frees a
  commitlog segment holding data of a memtable that is not yet in a durable sstable;
- a flushed sstable is added to `sstables` before its memtable leaves `flushing`, so readers
  always see the data in at least one place;
- CPU-heavy work (writing sstables, compaction) runs in a worker thread on immutable inputs;
  every change to a tablet's state happens on the event loop.
A corrupt sstable found by a read is quarantined and the read raises `CorruptionError`; the
tablet keeps serving from the rest.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Iterator, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import msgpack

from .clock import Clock, SystemClock
from .codec import (
    PlainSummary,
    decode_mutation,
    encode_mutation,
    encode_mutation_summarized,
    mutation_from_obj,
)
from .commitlog import CommitLog, LogTablet, Position, ReplayStats
from .config import EngineStats, StorageConfig, TableOptions, TableStats
from .errors import CorruptionError, StorageError, UnknownTabletError
from .fs import FileSystem, RealFileSystem
from .memtable import Memtable
from .mutation import Mutation
from .point_merge import point_row_settled, point_row_versions
from .read import (
    PartitionData,
    PointMiss,
    PointRow,
    Slice,
    materialize,
    materialize_encoded,
    point_row,
    point_row_encoded,
)
from .reconcile import merge_versions
from .scan import scan_tablet
from .sstable_reader import BlockCache, SSTableReader
from .tablet import TabletId, TabletState, load_tablet_dir, quarantine_generation, remove_generation
from .truncation import read_truncation_record, write_truncation_record

log = logging.getLogger(__name__)
_unpackb = msgpack.unpackb

# per-write memory estimate beyond the encoded size (Python objects of a small mutation)
_MEMTABLE_OVERHEAD_BYTES = 400
TRUNCATION_MARKER_TABLET = -(1 << 63)  # tablet number no topology assigns: never replayed


class StorageEngine:
    def __init__(self, directory: Path, config: StorageConfig, clock: Clock, fs: FileSystem) -> None:
        self.directory = directory
        self.config = config
        self.clock = clock
        self.fs = fs
        self.data_dir = directory / "data"
        self.commitlog = CommitLog(fs, directory / "commitlog", sync_mode=config.commitlog_sync,
                                   period_ms=config.commitlog_sync_period_ms,
                                   segment_size_bytes=config.commitlog_segment_size_mb << 20)
        self.cache = BlockCache(config.block_cache_bytes)
        self._tables: dict[UUID, TableOptions] = {}
        self._truncated: dict[UUID, tuple[int, int]] = {}
        self._tablets: dict[TabletId, TabletState] = {}
        # The same registry keyed by (table id as an int, last token), for the lookups by id
        # (every write and read does one): hashing a TabletId runs `UUID.__hash__`, Python code.
        # Changed only together with `_tablets` (add_tablet, drop_tablet).
        self._by_int: dict[tuple[int, int], TabletState] = {}
        self._started = False
        self._closed = False
        self._memtable_bytes = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flush_pending: set[TabletId] = set()
        self._compaction_sem = asyncio.Semaphore(1)
        self._compacting: set[TabletId] = set()
        self.counters: dict[str, int] = {"compactions": 0, "compaction_bytes_in": 0,
                                         "compaction_bytes_out": 0, "flushes": 0, "flush_bytes": 0,
                                         "quarantined": 0, "expired_sstables_dropped": 0,
                                         "point_reads_stopped": 0}
        # "sstables per read": [i] counts the point reads (`read_row`) that looked the partition
        # up in i sstables; longer than any tablet's sstable list (`_read_order`)
        self.sstables_per_read: list[int] = [0] * 16
        self._sync_batch = config.commitlog_sync == "batch"
        self._flush_threshold = config.memtable_flush_threshold_bytes
        self._shard_limit = config.shard_memtable_limit_bytes
        fs.makedirs(self.data_dir)

    @classmethod
    async def open(cls, directory: Path, config: StorageConfig, *, clock: Clock | None = None,
                   fs: FileSystem | None = None) -> StorageEngine:
        """Open the commitlog and data directories. Does not replay (see replay_commitlog)."""
        return cls(Path(directory), config, clock or SystemClock(), fs or RealFileSystem())

    # -- schema and tablets -------------------------------------------------------------------

    def add_table(self, table_id: UUID, options: TableOptions) -> None:
        self._tables[table_id] = options
        rec = read_truncation_record(self.fs, self.data_dir / str(table_id))
        if rec is not None:
            self._truncated[table_id] = rec

    def alter_table(self, table_id: UUID, options: TableOptions) -> None:
        self._table(table_id)
        self._tables[table_id] = options
        for t in self._tablets.values():
            if t.tablet[0] == table_id:
                t.options = options

    def _table(self, table_id: UUID) -> TableOptions:
        opts = self._tables.get(table_id)
        if opts is None:
            raise UnknownTabletError(f"unknown table {table_id}")
        return opts

    def tablet_dir(self, tablet: TabletId) -> Path:
        return self.data_dir / str(tablet[0]) / str(tablet[1])

    def add_tablet(self, tablet: TabletId, first_token: int, last_token: int) -> None:
        """Tokens (first_token, last_token]; loads any sstables already on disk for it."""
        opts = self._table(tablet[0])
        if tablet in self._tablets:
            raise StorageError(f"tablet {tablet} already added")
        state = TabletState(tablet, first_token, last_token, self.tablet_dir(tablet), opts)
        load_tablet_dir(self.fs, state, self.cache, self._truncated.get(tablet[0]))
        self.counters["quarantined"] += state.quarantined
        self._tablets[tablet] = state
        self._by_int[(tablet[0].int, tablet[1])] = state

    def tablets(self) -> list[TabletId]:
        return list(self._tablets)

    def _tablet(self, tablet: TabletId) -> TabletState:
        t = self._by_int.get((tablet[0].int, tablet[1]))
        if t is None:
            raise UnknownTabletError(f"unknown tablet {tablet}")
        return t

    # -- commitlog ----------------------------------------------------------------------------

    async def replay_commitlog(self) -> ReplayStats:
        """Call once, after every known table and tablet is added."""
        engine = self

        def resolve(tablet: TabletId) -> tuple[TabletState, tuple[int, int]] | None:
            t = self._by_int.get((tablet[0].int, tablet[1]))
            if t is None:
                return None
            # entries at or before this position are in sstables already, or truncated away
            return t, max(t.flushed_position, self._truncated.get(tablet[0], (0, 0)))

        def apply(target: tuple[TabletState, tuple[int, int]], pos: tuple[int, int],
                  payload: bytes) -> LogTablet | None:
            t, skip_upto = target
            if pos <= skip_upto:
                return None
            try:
                m = decode_mutation(payload)
            except (ValueError, TypeError, IndexError, msgpack.UnpackException) as e:
                log.error("undecodable commitlog entry skipped: %s", e)
                return None
            # an entry of an older version may hold rows in any order: only one row is surely sorted
            t.memtable.apply(m, len(payload) + _MEMTABLE_OVERHEAD_BYTES,
                             payload if len(m.rows) < 2 else encode_mutation(m))
            engine._memtable_bytes += len(payload) + _MEMTABLE_OVERHEAD_BYTES
            return t.log

        # Replay only allocates long-lived, acyclic objects (the memtables it fills), and no other
        # code runs meanwhile (it is synchronous): the cyclic GC would rescan the growing
        # memtables again and again for nothing (~40% of replay time), so it is paused for the
        # duration and restored after.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            stats = self.commitlog.replay(resolve, apply)
        finally:
            if gc_was_enabled:
                gc.enable()
        self._start()
        for t in self._tablets.values():  # a long log can leave memtables over their threshold
            if t.memtable.size_bytes >= self._flush_threshold:
                self._schedule_flush(t)
        if self._memtable_bytes >= self._shard_limit and self._tablets:
            self._schedule_flush(max(self._tablets.values(), key=lambda x: x.memtable.size_bytes))
        log.info("commitlog replay: %d entries (%d applied) from %d segments, %.1f MB/s, "
                 "%d torn tails, %d corruptions", stats.entries, stats.applied, stats.segments,
                 stats.mb_per_s, stats.torn_tails, len(stats.corruptions))
        return stats

    def _start(self) -> None:
        if self._started:
            return
        floor = 0
        for t in self._tablets.values():
            floor = max(floor, t.flushed_position[0])
        for pos in self._truncated.values():
            floor = max(floor, pos[0])
        self.commitlog.start(floor)
        self._started = True

    # -- writes -------------------------------------------------------------------------------

    async def apply(self, tablet: TabletId, mutation: Mutation) -> None:
        """Durable per commitlog_sync when it returns. Takes ownership of `mutation`.
        (`apply_encoded` repeats these steps for a write already encoded: keep them in step.)"""
        t = self._by_int.get((tablet[0].int, tablet[1]))
        if t is None:
            raise UnknownTabletError(f"unknown tablet {tablet}")
        if not (t.first_token < mutation.token <= t.last_token):
            raise StorageError(f"token {mutation.token} outside tablet {tablet}")
        if not self._started:
            self._start()
        payload, summary = encode_mutation_summarized(mutation)
        pos = self.commitlog.append(t.log, payload)
        size = len(payload) + _MEMTABLE_OVERHEAD_BYTES
        mt = t.memtable
        mt.apply(mutation, size, payload, summary)
        self._memtable_bytes += size
        if mt.size_bytes >= self._flush_threshold or self._memtable_bytes >= self._shard_limit:
            await self._on_memory_pressure(t)
        if self._sync_batch:
            await self.commitlog.sync_to(pos)

    async def apply_encoded(self, tablet: TabletId, token: int, key: bytes, payload: bytes,
                            summary: PlainSummary | None) -> None:
        """`apply` of a mutation already encoded: `payload` and `summary` are what
        `encode_mutation_summarized` returns for it (e.g. made by `codec.encode_plain_row`),
        for partition (token, key). The same steps, checks and errors as `apply` (keep the two
        in step); the memtable keeps the bytes and decodes them only to merge into a partition
        it already holds. Durable per commitlog_sync when it returns.

        Requires: `payload` holds at most one range tombstone (the memtable keeps it as is)."""
        pending = self.apply_encoded_now(tablet, token, key, payload, summary)
        if pending is not None:
            await pending

    def apply_encoded_now(self, tablet: TabletId, token: int, key: bytes, payload: bytes,
                          summary: PlainSummary | None) -> Awaitable[None] | None:
        """`apply_encoded` as a plain call, for callers that want no coroutine when nothing must
        wait (the write hot path: periodic commitlog, memtable below its limits). On return the
        entry is in the commitlog buffer and the memtable; None means the write is also done
        (durable per commitlog_sync), otherwise the caller must await what is returned (memory
        pressure, a batch-mode sync) before reporting success. Raises what `apply_encoded` does,
        at the call."""
        t = self._by_int.get((tablet[0].int, tablet[1]))
        if t is None:
            raise UnknownTabletError(f"unknown tablet {tablet}")
        if not (t.first_token < token <= t.last_token):
            raise StorageError(f"token {token} outside tablet {tablet}")
        if not self._started:
            self._start()
        pos = self.commitlog.append(t.log, payload)
        size = len(payload) + _MEMTABLE_OVERHEAD_BYTES
        mt = t.memtable
        mt.apply_encoded(token, key, payload, summary, size)
        self._memtable_bytes += size
        if mt.size_bytes >= self._flush_threshold or self._memtable_bytes >= self._shard_limit:
            return self._finish_apply(t, pos, True)
        if self._sync_batch:
            return self._finish_apply(t, pos, False)
        return None

    async def _finish_apply(self, t: TabletState, pos: Position, pressure: bool) -> None:
        """The waiting part of `apply_encoded_now`, in `apply`'s order: memory pressure, then sync."""
        if pressure:
            await self._on_memory_pressure(t)
        if self._sync_batch:
            await self.commitlog.sync_to(pos)

    async def _on_memory_pressure(self, t: TabletState) -> None:
        if t.memtable.size_bytes >= self.config.memtable_flush_threshold_bytes:
            self._schedule_flush(t)
        if self._memtable_bytes >= self.config.shard_memtable_limit_bytes:
            biggest = max(self._tablets.values(), key=lambda x: x.memtable.size_bytes)
            self._schedule_flush(biggest)
            if self._memtable_bytes >= 2 * self.config.shard_memtable_limit_bytes and self._tasks:
                # flushes are not keeping up: hold this writer back until one finishes
                await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background storage task failed", exc_info=task.exception())

    def _schedule_flush(self, t: TabletState) -> None:
        if t.tablet in self._flush_pending or not len(t.memtable):
            return
        self._flush_pending.add(t.tablet)
        self._spawn(self._flush_tablet(t))

    # -- flush --------------------------------------------------------------------------------

    async def _flush_tablet(self, t: TabletState) -> None:
        async with t.flush_lock:
            await self.flush_locked(t)
        self._maybe_compact(t)

    async def flush_locked(self, t: TabletState) -> None:
        """Requires: the caller holds t.flush_lock. Seals the active memtable and writes every
        sealed one, oldest first (a memtable whose earlier flush failed is retried before any
        newer one, so commitlog segments are never freed past unflushed data)."""
        self._flush_pending.discard(t.tablet)
        if t.dropped:
            return
        mt = t.memtable
        if len(mt):
            t.memtable = Memtable()
            mt.seal(self.commitlog.position())
            t.flushing = [*t.flushing, mt]
        while t.flushing and not t.dropped:
            await self._write_sealed(t, t.flushing[0])

    async def _write_sealed(self, t: TabletState, mt: Memtable) -> None:
        gen = t.new_generation()
        try:
            reader = await asyncio.to_thread(self._write_memtable, t, mt, gen, t.options)
        except BaseException:
            log.exception("flush of %s failed; data stays in memory and commitlog", t.tablet)
            raise
        if t.dropped:
            reader.close()
            remove_generation(self.fs, t.directory, gen)
            return
        t.sstables = [*t.sstables, reader]
        t.flushing = [x for x in t.flushing if x is not mt]
        self._memtable_bytes -= mt.size_bytes
        t.flushed_position = max(t.flushed_position, mt.replay_position)
        self.commitlog.mark_clean(t.log, mt.replay_position)
        self.counters["flushes"] += 1
        self.counters["flush_bytes"] += reader.size_bytes

    def _write_memtable(self, t: TabletState, mt: Memtable, gen: int, opts: TableOptions) -> SSTableReader:
        from .sstable_writer import SSTableWriter, write_memtable

        w = SSTableWriter(self.fs, t.directory, gen, expected_partitions=len(mt),
                          bloom_fp_chance=opts.bloom_filter_fp_chance,
                          block_size_bytes=_block_size(opts), replay_position=mt.replay_position,
                          created_at_s=self.clock.now_s())
        try:
            write_memtable(w, mt)
            w.finish()
        except BaseException:
            w.abort()
            raise
        return SSTableReader(self.fs, t.directory, gen, self.cache)

    async def flush(self, table_id: UUID | None = None) -> None:
        """Memtables -> sstables, for one table or all; returns when they are durable."""
        for t in list(self._tablets.values()):
            if table_id is None or t.tablet[0] == table_id:
                await self._flush_tablet(t)

    # -- compaction ---------------------------------------------------------------------------

    def kick_compaction(self, t: TabletState) -> None:
        """Start a background compaction of `t` if its strategy wants one."""
        self._maybe_compact(t)

    def _maybe_compact(self, t: TabletState, *, check_expired: bool = True) -> None:
        from .compaction_manager import fully_expired, pick_compaction

        if not self.config.compaction_enabled or self._closed or t.tablet in self._compacting:
            return
        expired = fully_expired(t, self.clock.now_s()) if check_expired else []
        if expired:
            self._compacting.add(t.tablet)
            self._spawn(self._compact(t, expired, drop=True))
            return
        inputs = pick_compaction(t)
        if inputs:
            self._compacting.add(t.tablet)
            self._spawn(self._compact(t, inputs))

    async def _compact(self, t: TabletState, inputs: list[SSTableReader], drop: bool = False) -> None:
        from .compaction_manager import compact_tablet, drop_expired

        try:
            async with self._compaction_sem:
                if drop:
                    await drop_expired(self, t, inputs)
                else:
                    await compact_tablet(self, t, inputs)
        finally:
            self._compacting.discard(t.tablet)
        if not t.dropped and not self._closed:
            # after a drop attempt, do not re-check expiry until the next flush: the sstables
            # it kept (a memtable holds their partitions) would be found again at once
            self._maybe_compact(t, check_expired=not drop)

    async def compact(self, table_id: UUID | None = None) -> None:
        """Major compaction: every sstable of each tablet into one."""
        from .compaction_manager import compact_tablet

        await self.flush(table_id)
        for t in list(self._tablets.values()):
            if table_id is not None and t.tablet[0] != table_id:
                continue
            while t.tablet in self._compacting:
                await asyncio.sleep(0.01)
            self._compacting.add(t.tablet)
            try:
                async with self._compaction_sem:
                    if t.sstables and not t.dropped:
                        await compact_tablet(self, t, list(t.sstables))
            finally:
                self._compacting.discard(t.tablet)

    # -- reads --------------------------------------------------------------------------------

    def read(self, tablet: TabletId, token: int, key: bytes, slice: Slice) -> PartitionData | None:
        t = self._by_int.get((tablet[0].int, tablet[1]))
        if t is None:
            raise UnknownTabletError(f"unknown tablet {tablet}")
        versions, srcs, found = self._versions(t, token, key)
        return self._materialize(t, token, key, versions, srcs, found, slice)

    def read_row(self, tablet: TabletId, token: int, key: bytes, ck: bytes, positions: Mapping[str, int],
                 width: int, slice: Slice) -> PointRow | PartitionData:
        """The point-read lane: clustering row `ck` of partition `key` as `point_row_encoded`
        gives it (a list of `width` values, `positions[column]` holding that simple column's
        live value; None when the row is not live), read straight from the partition's versions
        as they are stored: one in codec form (`point_row_encoded`), one Mutation (`point_row`),
        or several (`point_row_versions`, which merges only what that row needs). Where the
        lane cannot answer (a malformed version, counter cells to merge), `read(tablet, token,
        key, slice)` (a PartitionData, or None), from every version.

        Reads in timestamp order (docs/storage/engine.md, "Point reads in timestamp order"):
        every memtable, then the sstables that may hold the key by descending max timestamp,
        stopping before one whose max timestamp is below the bound up to which the versions
        read so far settle the row (`point_row_settled`): nothing in it, or in any sstable after
        it, can change the answer. Counted: `sstables_per_read` (a histogram of partition
        lookups in sstables per read) and `counters["point_reads_stopped"]` (reads that left an
        sstable that may hold the key unread).
        Requires: `slice` selects exactly row `ck` (its ranges hold `ck` and no other full
        clustering key) and every column of `positions`; `positions` names only simple
        non-static columns, with distinct indexes below `width`."""
        t = self._by_int.get((tablet[0].int, tablet[1]))
        if t is None:
            raise UnknownTabletError(f"unknown tablet {tablet}")
        versions: list[Any] = []
        pk = (token, key)
        v = t.memtable.partitions.get(pk)
        if v is not None:
            versions.append(_unpackb(v, raw=False, use_list=False) if isinstance(v, bytes) else v)
        for mt in t.flushing:
            v = mt.partitions.get(pk)
            if v is not None:
                versions.append(_unpackb(v, raw=False, use_list=False) if isinstance(v, bytes) else v)
        got: PointRow | PointMiss = None
        settled_us = 0
        fresh = False  # `got` and `settled_us` are those of `versions` as they are
        looked_up = 0
        order = t.read_order_list if t.read_order_of is t.sstables else self._read_order(t)
        for max_us, s in order:
            if not (s.min_token <= token <= s.max_token and s.bloom.might_contain(key)):
                continue
            if versions:
                if not fresh:
                    got, settled_us = point_row_settled(versions, ck, positions, width, slice.now_s)
                    fresh = True
                if max_us < settled_us:
                    self.counters["point_reads_stopped"] += 1
                    break
            looked_up += 1
            try:
                obj = s.get_encoded(token, key)
            except CorruptionError:
                self.quarantine(t, s)
                raise
            if obj is not None:
                versions.append(obj)
                fresh = False
        self.sstables_per_read[looked_up] += 1
        if not fresh:
            if len(versions) == 1:
                v = versions[0]
                if v.__class__ is Mutation:
                    return point_row(v, ck, positions, width, slice.now_s)
                got = point_row_encoded(v, ck, positions, width, slice.now_s)
            elif versions:
                got = point_row_versions(versions, ck, positions, width, slice.now_s)
            else:
                return None
        if not isinstance(got, PointMiss):
            return got
        # (a read that stopped early never gets here: a PointMiss settles nothing, so every
        # version was read; `_versions` collects them again with what `_materialize` needs)
        versions, srcs, found = self._versions(t, token, key)
        return self._materialize(t, token, key, versions, srcs, found, slice)

    def _read_order(self, t: TabletState) -> list[tuple[int, SSTableReader]]:
        """`t.read_order()`, with `sstables_per_read` made long enough for a read of all of it."""
        order = t.read_order()
        h = self.sstables_per_read
        if len(order) >= len(h):
            h.extend([0] * (len(order) + 1 - len(h)))
        return order

    def _versions(self, t: TabletState, token: int, key: bytes) -> tuple[list[Any], list[SSTableReader | None],
                                                                          bool]:
        """The versions of partition `key` in the tablet, in the order they are looked up
        (memtable, flushing memtables, sstables), none decoded into a Mutation: each is a
        memtable's Mutation (a partition written more than once: shared, never modify it) or a
        codec form (a memtable's bytes unpacked, an sstable's partition), with in `srcs` the
        sstable it came from (None: a memtable). `found`: the first version takes the place
        `_materialize` gives it (see there). A corrupt sstable index or block found here is
        quarantined and raises CorruptionError; a malformed partition is left for the reader
        of it to report."""
        versions: list[Any] = []
        srcs: list[SSTableReader | None] = []
        found = False
        pk = (token, key)
        v = t.memtable.partitions.get(pk)
        if v is not None:
            if isinstance(v, bytes):
                versions.append(_unpackb(v, raw=False, use_list=False))
                found = True
            else:
                versions.append(v)
            srcs.append(None)
        for mt in t.flushing:
            v = mt.partitions.get(pk)
            if v is not None:
                versions.append(_unpackb(v, raw=False, use_list=False) if isinstance(v, bytes) else v)
                srcs.append(None)
        for s in t.sstables:
            if s.min_token <= token <= s.max_token and s.bloom.might_contain(key):
                try:
                    obj = s.get_encoded(token, key)
                except CorruptionError:
                    self.quarantine(t, s)
                    raise
                if obj is not None:
                    if not versions:
                        found = True
                    versions.append(obj)
                    srcs.append(s)
        return versions, srcs, found

    def _materialize(self, t: TabletState, token: int, key: bytes, versions: list[Any],
                     srcs: list[SSTableReader | None], found: bool, slice: Slice) -> PartitionData | None:
        """`read`'s result from what `_versions` found: one codec-form version is materialized
        as it is; otherwise every version is decoded and they are merged. A malformed sstable
        partition quarantines its sstable and raises CorruptionError.

        The merge order is the one reads always used (it changes no result, only which of two
        malformed versions is reported first): a `found` first version (the current memtable's
        encoded one, or the first sstable's when no memtable holds the partition) goes last."""
        if not versions:
            return None
        if len(versions) == 1:
            v = versions[0]
            if v.__class__ is Mutation:
                return materialize(v, slice)
            src = srcs[0]
            if src is None:
                return materialize_encoded(v, slice)
            try:
                return materialize_encoded(v, slice)
            except (ValueError, TypeError, IndexError) as e:
                self.quarantine(t, src)
                raise CorruptionError(src.path("Data.db"), -1, f"malformed partition: {e}") from e
        order = range(1, len(versions) + 1) if found else range(len(versions))
        decoded: list[Mutation] = []
        for i in order:
            i %= len(versions)
            v = versions[i]
            decoded.append(v if v.__class__ is Mutation else self._decode_read(t, srcs[i], v))
        return materialize(merge_versions(token, key, decoded), slice)

    def _decode_read(self, t: TabletState, s: SSTableReader | None, obj: Any) -> Mutation:
        if s is None:
            return mutation_from_obj(obj)
        try:
            return mutation_from_obj(obj)
        except (ValueError, TypeError, IndexError) as e:
            self.quarantine(t, s)
            raise CorruptionError(s.path("Data.db"), -1, f"malformed partition: {e}") from e

    def scan(self, tablet: TabletId, after: tuple[int, bytes] | None, end_token: int,
             slice: Slice) -> Iterator[PartitionData]:
        """Partitions in (token, key) order strictly after `after`, token <= end_token; lazy."""
        t = self._tablet(tablet)
        return scan_tablet(self, t, after, min(end_token, t.last_token), slice)

    def quarantine(self, t: TabletState, s: SSTableReader) -> None:
        if s in t.sstables:
            t.sstables = [x for x in t.sstables if x is not s]
            quarantine_generation(self.fs, t.directory, s.generation)
            s.release()
            t.quarantined += 1
            self.counters["quarantined"] += 1
            log.error("quarantined sstable %s of tablet %s", s.path("Data.db"), t.tablet)

    # -- truncate / drop ----------------------------------------------------------------------

    async def quiesce(self, t: TabletState) -> None:
        """Wait until no compaction runs on `t`; the caller then holds t.flush_lock."""
        while t.tablet in self._compacting:
            await asyncio.sleep(0.01)

    def _discard_tablet_data(self, t: TabletState) -> None:
        for mt in [t.memtable, *t.flushing]:
            self._memtable_bytes -= mt.size_bytes
        t.memtable = Memtable()
        t.flushing = []
        for s in t.sstables:
            remove_generation(self.fs, t.directory, s.generation)
            s.release()
        t.sstables = []
        if self._started:
            self.commitlog.mark_clean(t.log, self.commitlog.position())

    async def truncate(self, table_id: UUID, truncated_at_us: int) -> None:
        """Drop all data of the table, durably (a restart does not bring it back)."""
        self._table(table_id)
        if not self._started:
            self._start()
        pos = self.commitlog.position()
        # a marker entry (for no tablet) moves the log past `pos`, so anything flushed or ingested
        # from now on has a replay position strictly above the truncation point
        self.commitlog.append(LogTablet((table_id, TRUNCATION_MARKER_TABLET)), b"")
        write_truncation_record(self.fs, self.data_dir / str(table_id), pos, truncated_at_us)
        self._truncated[table_id] = pos
        for t in list(self._tablets.values()):
            if t.tablet[0] == table_id:
                async with t.flush_lock:
                    await self.quiesce(t)
                    self._discard_tablet_data(t)
                    t.flushed_position = self.commitlog.position()

    async def drop_table(self, table_id: UUID) -> None:
        self._table(table_id)
        for tablet in [x for x in self._tablets if x[0] == table_id]:
            await self.drop_tablet(tablet)
        self.fs.rmtree(self.data_dir / str(table_id))
        del self._tables[table_id]
        self._truncated.pop(table_id, None)

    async def drop_tablet(self, tablet: TabletId) -> None:
        """Delete the tablet's data (memtable, sstables, directory) and forget it."""
        t = self._tablet(tablet)
        async with t.flush_lock:
            await self.quiesce(t)
            t.dropped = True
            self._discard_tablet_data(t)
            self.fs.rmtree(t.directory)
            del self._tablets[tablet]
            del self._by_int[(tablet[0].int, tablet[1])]

    # -- tablet as a unit (tablet_ops.py) -----------------------------------------------------

    async def snapshot_tablet(self, tablet: TabletId, name: str) -> list[Path]:
        from .tablet_ops import snapshot_tablet

        return await snapshot_tablet(self, self._tablet(tablet), name)

    def list_sstables(self, tablet: TabletId) -> list[list[Path]]:
        """Component paths of each live sstable of the tablet (what a migration streams)."""
        return [s.all_paths() for s in self._tablet(tablet).sstables]

    async def ingest_sstables(self, tablet: TabletId, toc_paths: list[Path]) -> None:
        from .tablet_ops import ingest_sstables

        await ingest_sstables(self, self._tablet(tablet), toc_paths)

    async def split_tablet(self, tablet: TabletId, split_token: int, left: TabletId, right: TabletId) -> None:
        from .tablet_ops import split_tablet

        await split_tablet(self, self._tablet(tablet), split_token, left, right)

    # -- lifecycle ----------------------------------------------------------------------------

    def stats(self) -> EngineStats:
        ts = self._tablets.values()
        return EngineStats(
            memtable_bytes=self._memtable_bytes,
            memtable_partitions=sum(len(t.memtable) + sum(len(m) for m in t.flushing) for t in ts),
            commitlog_bytes=self.commitlog.size_bytes(),
            commitlog_segments=self.commitlog.segment_count(),
            sstable_count=sum(len(t.sstables) for t in ts),
            sstable_bytes=sum(s.size_bytes for t in ts for s in t.sstables),
            compactions_completed=self.counters["compactions"],
            compaction_bytes_in=self.counters["compaction_bytes_in"],
            compaction_bytes_out=self.counters["compaction_bytes_out"],
            flushes_completed=self.counters["flushes"],
            quarantined_sstables=self.counters["quarantined"],
            pending_flushes=sum(len(t.flushing) for t in ts),
        )

    def table_stats(self, table_id: UUID) -> TableStats:
        ts = [t for t in self._tablets.values() if t.tablet[0] == table_id and not t.dropped]
        mts = [m for t in ts for m in (t.memtable, *t.flushing)]
        return TableStats(
            tablet_count=len(ts),
            memtable_bytes=sum(m.size_bytes for m in mts),
            memtable_partitions=sum(len(m) for m in mts),
            sstable_count=sum(len(t.sstables) for t in ts),
            sstable_bytes=sum(s.size_bytes for t in ts for s in t.sstables),
            sstable_partitions=sum(s.partitions for t in ts for s in t.sstables),
            memtable_writes=sum(m.writes for m in mts),
        )

    async def close(self) -> None:
        """Flush every memtable, stop background work, close files."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.commitlog.close()
        for t in self._tablets.values():
            for s in t.sstables:
                s.close()

    def abandon(self) -> None:
        """Stop at once without flushing or syncing: what a process crash does (crash tests)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self.commitlog.abandon()


def _block_size(opts: TableOptions) -> int:
    try:
        return int(opts.compression.get("chunk_length_in_kb", "4")) * 1024
    except ValueError:
        return 4096

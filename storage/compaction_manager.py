"""Running compactions on a tablet: choosing inputs, running the merge off the event loop, and
swapping the result into the tablet's sstable set; dropping fully expired sstables whole.

Invariant: the swap (output in, inputs out) happens in one event-loop step, output first, so a
reader never sees neither; input files are deleted only after the output is committed.

Fully expired sstables (Cassandra's rule): an sstable holding only tombstones and TTL data, all
past gc_grace_seconds, whose newest timestamp is older than the oldest of every other sstable
overlapping it, and none of whose partitions is in a memtable, would compact to nothing: it is
dropped without being read. Like a compaction that purged everything, the drop commits an
empty sstable naming the dropped ones as ancestors and keeping their replay position (so a
restart neither resurrects their commitlog entries nor half-deletes them).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .compaction import run_compaction, size_tiered_candidates
from .errors import CorruptionError
from .sstable_reader import SSTableReader
from .tablet import TabletState, remove_generation

if TYPE_CHECKING:
    from .engine import StorageEngine

log = logging.getLogger(__name__)
_MIN_TS = -(1 << 63)


def fully_expired(t: TabletState, now_s: int) -> list[SSTableReader]:
    """Sstables of `t` that statistics say are fully expired (see the module docstring; the
    memtable condition is checked by `drop_expired`, it needs the keys)."""
    gc_before = now_s - t.options.gc_grace_seconds
    candidates = [s for s in t.sstables if s.partitions and not s.non_expiring
                  and s.stats["max_local_deletion_time_s"] < gc_before]
    if not candidates:
        return []
    others = [o for o in t.sstables if o not in candidates]
    return [s for s in candidates
            if all(s.stats["max_timestamp_us"] < o.stats["min_timestamp_us"] for o in others
                   if o.max_token >= s.min_token and o.min_token <= s.max_token)]


def _in_memtables(t: TabletState, s: SSTableReader) -> bool:
    """Whether any partition of `s` is in one of `t`'s memtables (reads s's index only)."""
    for tokens, keys in s.iter_keys():
        for mt in (t.memtable, *t.flushing):
            parts = mt.partitions
            if parts and any(pk in parts for pk in zip(tokens, keys)):
                return True
    return False


async def drop_expired(engine: StorageEngine, t: TabletState, candidates: list[SSTableReader]) -> int:
    """Drop those of `candidates` (from `fully_expired`) none of whose partitions is in a
    memtable; returns how many were dropped."""
    if t.dropped or any(s not in t.sstables for s in candidates):
        return 0
    for s in candidates:
        s.acquire()
    try:
        droppable = await asyncio.to_thread(lambda: [s for s in candidates if not _in_memtables(t, s)])
    except CorruptionError as e:
        for s in candidates:
            if s.path("Index.db") == e.path:
                engine.quarantine(t, s)
        log.error("expired sstable check of %s aborted: %s", t.tablet, e)
        droppable = []
    finally:
        for s in candidates:
            s.release()
    if not droppable or t.dropped or any(s not in t.sstables for s in droppable):
        return 0
    await compact_tablet(engine, t, droppable, drop_all=True)
    engine.counters["expired_sstables_dropped"] += len(droppable)
    log.info("dropped %d fully expired sstables of %s", len(droppable), t.tablet)
    return len(droppable)


def pick_compaction(t: TabletState) -> list[SSTableReader]:
    opts = dict(t.options.compaction)
    cls = opts.get("class", "SizeTieredCompactionStrategy").rsplit(".", 1)[-1]
    if cls not in ("SizeTieredCompactionStrategy", "IncrementalCompactionStrategy"):
        log.debug("compaction class %s not supported; using size-tiered", cls)
    return size_tiered_candidates(t.sstables, opts)


async def compact_tablet(engine: StorageEngine, t: TabletState, inputs: list[SSTableReader], *,
                         drop_all: bool = False) -> None:
    """Compact `inputs` (sstables of `t`) into one; no-op if any input is gone meanwhile.
    `drop_all`: the output is empty, the inputs are not read (fully expired sstables)."""
    if t.dropped or not inputs or any(s not in t.sstables for s in inputs):
        return
    input_ids = {id(s) for s in inputs}
    gen = t.new_generation()
    opts = t.options

    def max_purgeable(token: int, key: bytes) -> int:
        # runs in the compaction thread; reads the tablet's current state (lists are replaced,
        # never mutated in place, by the event loop)
        pk = (token, key)
        if t.memtable.partitions.get(pk) is not None:
            return _MIN_TS
        for mt in t.flushing:
            if mt.partitions.get(pk) is not None:
                return _MIN_TS
        best = (1 << 63) - 1
        for s in t.sstables:
            if id(s) not in input_ids and s.might_contain(token, key):
                best = min(best, s.stats["min_timestamp_us"])
        return best

    for s in inputs:
        s.acquire()
    bytes_in = sum(s.size_bytes for s in inputs)
    try:
        paths = await asyncio.to_thread(
            run_compaction, engine.fs, t.directory, gen, inputs, now_s=engine.clock.now_s(),
            gc_grace_s=opts.gc_grace_seconds, max_purgeable=max_purgeable,
            bloom_fp_chance=opts.bloom_filter_fp_chance,
            block_size_bytes=int(opts.compression.get("chunk_length_in_kb", "4")) * 1024, drop_all=drop_all)
    except CorruptionError as e:
        for s in inputs:
            if s.path("Data.db") == e.path or s.path("Index.db") == e.path:
                engine.quarantine(t, s)
        log.error("compaction of %s aborted: %s", t.tablet, e)
        for s in inputs:
            s.release()
        return
    except BaseException:
        for s in inputs:
            s.release()
        raise
    out = SSTableReader(engine.fs, t.directory, gen, engine.cache) if paths else None
    if t.dropped:
        if out is not None:
            out.close()
            remove_generation(engine.fs, t.directory, gen)
        for s in inputs:
            s.release()
        return
    t.sstables = [s for s in t.sstables if id(s) not in input_ids] + ([out] if out is not None else [])
    if out is not None:
        t.flushed_position = max(t.flushed_position, out.replay_position)
    for s in inputs:
        remove_generation(engine.fs, t.directory, s.generation)
        s.release()  # the scan/compaction reference
        s.release()  # the tablet's reference
    engine.fs.sync_dir(t.directory)
    engine.counters["compactions"] += 1
    engine.counters["compaction_bytes_in"] += bytes_in
    engine.counters["compaction_bytes_out"] += out.size_bytes if out is not None else 0

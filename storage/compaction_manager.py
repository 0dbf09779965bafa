"""Running compactions on a tablet: choosing inputs, running the merge off the event loop, and
swapping the result into the tablet's sstable set.

Invariant: the swap (output in, inputs out) happens in one event-loop step, output first, so a
reader never sees neither; input files are deleted only after the output is committed.
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


def pick_compaction(t: TabletState) -> list[SSTableReader]:
    opts = dict(t.options.compaction)
    cls = opts.get("class", "SizeTieredCompactionStrategy").rsplit(".", 1)[-1]
    if cls not in ("SizeTieredCompactionStrategy", "IncrementalCompactionStrategy"):
        log.debug("compaction class %s not supported; using size-tiered", cls)
    return size_tiered_candidates(t.sstables, opts)


async def compact_tablet(engine: StorageEngine, t: TabletState, inputs: list[SSTableReader]) -> None:
    """Compact `inputs` (sstables of `t`) into one; no-op if any input is gone meanwhile."""
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
            block_size_bytes=int(opts.compression.get("chunk_length_in_kb", "4")) * 1024)
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

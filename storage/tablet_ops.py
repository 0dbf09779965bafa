"""Tablet-as-a-unit operations: snapshot, ingest, split (drop lives in the engine).

- snapshot: flush, then hard-link every component of every live sstable into
  `<tablet dir>/snapshots/<name>/` (no data copied; sstables are immutable).
- ingest: take sstables produced elsewhere (e.g. streamed by a tablet migration), verify every
  block checksum, link them in under new generations with a rewritten Statistics component
  (replay position = this tablet's flushed position, so replay never skips newer local writes),
  and commit each with its TOC.
- split: flush, rewrite the tablet's sstables into two child tablets at a token, register the
  children, then delete the parent. The caller (topology) must stop writes to the parent first
  and commit the split only after this returns; a crash before that leaves the parent intact
  (children are deleted and rebuilt by a retry).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import msgpack

from .compaction import run_compaction
from .errors import StorageError
from .sstable_format import COMPONENTS, TOC, component_name, parse_component_name, seal_payload
from .sstable_reader import SSTableReader
from .sstable_writer import commit_components
from .tablet import SNAPSHOTS_DIR, TabletId, TabletState

if TYPE_CHECKING:
    from .engine import StorageEngine

_MIN_TS = -(1 << 63)


async def snapshot_tablet(engine: StorageEngine, t: TabletState, name: str) -> list[Path]:
    if "/" in name or name in ("", ".", ".."):
        raise StorageError(f"bad snapshot name {name!r}")
    async with t.flush_lock:
        await engine.flush_locked(t)
        d = t.directory / SNAPSHOTS_DIR / name
        engine.fs.makedirs(d)
        out = []
        for s in list(t.sstables):
            for p in s.all_paths():
                dst = d / p.name
                if not engine.fs.exists(dst):
                    engine.fs.link(p, dst)
                out.append(dst)
        engine.fs.sync_dir(d)
        return out


async def ingest_sstables(engine: StorageEngine, t: TabletState, toc_paths: list[Path]) -> None:
    fs = engine.fs
    async with t.flush_lock:
        await engine.flush_locked(t)
        for toc in toc_paths:
            parsed = parse_component_name(toc.name)
            if parsed is None or parsed[1] != TOC:
                raise StorageError(f"not an sstable TOC: {toc}")
            src = SSTableReader(fs, toc.parent, parsed[0], engine.cache)
            try:
                await asyncio.to_thread(src.verify)
                stats = dict(src.stats)
            finally:
                src.close()
            gen = t.new_generation()
            stats["replay_position"] = list(t.flushed_position)
            stats["ancestors"] = []
            for c in COMPONENTS:
                if c != "Statistics.db":
                    fs.link(src.path(c), t.directory / (component_name(gen, c) + ".tmp"))
            f = fs.open_append(t.directory / (component_name(gen, "Statistics.db") + ".tmp"))
            f.write(seal_payload("Statistics.db", msgpack.packb(stats, use_bin_type=True)))
            f.sync()
            f.close()
            commit_components(fs, t.directory, gen)
            t.sstables = [*t.sstables, SSTableReader(fs, t.directory, gen, engine.cache)]
    engine.kick_compaction(t)


async def split_tablet(engine: StorageEngine, t: TabletState, split_token: int,
                       left: TabletId, right: TabletId) -> None:
    if not (t.first_token < split_token < t.last_token):
        raise StorageError(f"split token {split_token} outside ({t.first_token}, {t.last_token})")
    if left[0] != t.tablet[0] or right[0] != t.tablet[0] or left == right:
        raise StorageError("split children must be two distinct tablets of the same table")
    fs = engine.fs
    async with t.flush_lock:
        await engine.flush_locked(t)
        await engine.quiesce(t)
        inputs = list(t.sstables)
        for child, lo, hi in ((left, t.first_token, split_token), (right, split_token, t.last_token)):
            d = engine.tablet_dir(child)
            fs.rmtree(d)  # leftovers of an interrupted split
            fs.makedirs(d)
            if inputs:
                def in_range(token: int, lo: int = lo, hi: int = hi) -> bool:
                    return lo < token <= hi

                await asyncio.to_thread(
                    run_compaction, fs, d, 1, inputs, now_s=engine.clock.now_s(),
                    gc_grace_s=t.options.gc_grace_seconds, max_purgeable=lambda _t, _k: _MIN_TS,
                    bloom_fp_chance=t.options.bloom_filter_fp_chance, block_size_bytes=4096,
                    token_filter=in_range, same_directory=False)
    await engine.drop_tablet(t.tablet)
    engine.add_tablet(left, t.first_token, split_token)
    engine.add_tablet(right, split_token, t.last_token)

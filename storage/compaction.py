"""Compaction: merging sstables of one tablet into one, dropping what can no longer matter.

Owns the per-partition purge rules and the size-tiered selection; the engine owns scheduling.

Purge rules (Cassandra's): data shadowed by a tombstone in the merged set is dropped; a live
cell whose TTL expired becomes a tombstone with local deletion time `expiry - ttl`; a tombstone
(of any kind) is dropped only when its local deletion time is older than `gc_before_s`
(now - gc_grace_seconds) AND its timestamp is below the smallest timestamp of any data for that
partition outside this compaction (other sstables whose bloom filter says they may hold the
partition, and memtables) -- otherwise dropping it could resurrect older data.

Crash safety: the output is committed (TOC rename) before the inputs are deleted, and lists the
inputs as its ancestors; a reload that finds both deletes the ancestors (tablet.py). Must never
modify an input sstable.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .codec import mutation_from_obj
from .fs import FileSystem
from .mutation import Cell, Mutation, Row
from .reconcile import covering_deletion, merge_versions
from .sstable_reader import SSTableReader
from .sstable_writer import SSTableWriter, is_plain_partition

_MIN_TS = -(1 << 63)

# max_purgeable(token, key) -> timestamp below which tombstones of that partition may be dropped
MaxPurgeable = Callable[[int, bytes], int]


def _compact_row(row: Row, floor: int, now_s: int, gc_before: int, max_purge: int) -> Row | None:
    d = row.deletion
    if d is not None:
        if d.timestamp_us <= floor:
            d = None  # redundant: a wider tombstone already shadows everything it does
        else:
            floor = d.timestamp_us
            if d.local_deletion_time_s < gc_before and d.timestamp_us < max_purge:
                d = None
    mk = row.marker
    if mk is not None:
        if mk.timestamp_us <= floor:
            mk = None
        elif mk.ttl_s and mk.expiry_s <= now_s and mk.expiry_s - mk.ttl_s < gc_before \
                and mk.timestamp_us < max_purge:
            mk = None  # an expired marker is kept (it shadows older markers) until purgeable
    cd = row.collection_deletions
    new_cd = {}
    for col, dt in cd.items():
        if dt.timestamp_us > floor and not (dt.local_deletion_time_s < gc_before and dt.timestamp_us < max_purge):
            new_cd[col] = dt
    cells: dict[tuple[str, bytes], Cell] = {}
    for k, c in row.cells.items():
        ts = c.timestamp_us
        if ts <= floor:
            continue
        if cd:
            t = cd.get(k[0])
            if t is not None and ts <= t.timestamp_us:
                continue
        if c.value is not None:
            if c.ttl_s and c.expiry_s <= now_s:
                c = Cell(ts, None, 0, c.expiry_s - c.ttl_s)
            else:
                cells[k] = c
                continue
        if c.expiry_s < gc_before and ts < max_purge:
            continue
        cells[k] = c
    if mk is None and d is None and not cells and not new_cd:
        return None
    return Row(mk, d, cells, new_cd)


def compact_partition(m: Mutation, now_s: int, gc_before: int, max_purge: int) -> Mutation | None:
    """Apply shadowing, TTL expiry and purging to a reconciled partition (modifies nothing)."""
    pd = m.partition_deletion
    floor = _MIN_TS
    if pd is not None:
        floor = pd.timestamp_us
        if pd.local_deletion_time_s < gc_before and pd.timestamp_us < max_purge:
            pd = None
    rts = [rt for rt in m.range_tombstones
           if rt.deletion.timestamp_us > floor and rt.start < rt.end
           and not (rt.deletion.local_deletion_time_s < gc_before and rt.deletion.timestamp_us < max_purge)]
    all_rts = m.range_tombstones
    static = None if m.static_row is None else _compact_row(m.static_row, floor, now_s, gc_before, max_purge)
    rows: dict[bytes, Row] = {}
    for ck, row in m.rows.items():
        f = floor
        if all_rts:
            f = max(f, covering_deletion(all_rts, ck))
        r = _compact_row(row, f, now_s, gc_before, max_purge)
        if r is not None:
            rows[ck] = r
    if pd is None and static is None and not rows and not rts:
        return None
    return Mutation(m.token, m.key, pd, static, rows, rts)


def _obj_key(obj: Any) -> tuple[int, bytes]:
    return (obj[0], obj[1])


def merged_partitions(inputs: Sequence[SSTableReader]) -> Iterator[list[Any]]:
    """Codec-form versions of each partition across `inputs`, grouped, in (token, key) order."""
    group: list[Any] = []
    ct: int | None = None
    ck: bytes | None = None
    streams = [(obj for _, obj in r.iter_objs()) for r in inputs]
    for obj in heapq.merge(*streams, key=_obj_key) if len(streams) > 1 else streams[0]:
        if obj[0] != ct or obj[1] != ck:
            if group:
                yield group
            group = []
            ct, ck = obj[0], obj[1]
        group.append(obj)
    if group:
        yield group


def _combine_disjoint_rows(objs: list[Any]) -> Any:
    """Codec-form union of plain versions whose clustering keys are pairwise distinct, or None."""
    rows: dict[bytes, Any] = {}
    n = 0
    for o in objs:
        flat = o[4]
        n += len(flat) // 2
        rows.update(zip(flat[0::2], flat[1::2]))
    if len(rows) != n:
        return None  # the same row in several versions: cells need reconciling
    out: list[Any] = []
    for ck in sorted(rows):
        out.append(ck)
        out.append(rows[ck])
    return (objs[0][0], objs[0][1], None, None, out, [])


def run_compaction(fs: FileSystem, directory: Path, generation: int, inputs: Sequence[SSTableReader], *,
                   now_s: int, gc_grace_s: int, max_purgeable: MaxPurgeable, bloom_fp_chance: float,
                   block_size_bytes: int, token_filter: Callable[[int], bool] | None = None,
                   same_directory: bool = True) -> list[Path]:
    """Write the compacted union of `inputs` as sstable `generation` in `directory`; returns its
    paths. `same_directory=False` (a split) records no ancestors: they name other files."""
    gc_before = now_s - gc_grace_s
    rp = max((r.replay_position for r in inputs), default=(0, 0))
    w = SSTableWriter(fs, directory, generation, expected_partitions=sum(r.partitions for r in inputs),
                      bloom_fp_chance=bloom_fp_chance, block_size_bytes=block_size_bytes,
                      replay_position=rp, ancestors=[r.generation for r in inputs] if same_directory else [],
                      created_at_s=now_s)
    try:
        for objs in merged_partitions(inputs):
            token = objs[0][0]
            if token_filter is not None and not token_filter(token):
                continue
            if len(objs) == 1:
                if is_plain_partition(objs[0]):
                    w.add_raw(objs[0])  # fast path: nothing to reconcile, shadow, expire or purge
                    continue
            elif all(is_plain_partition(o) for o in objs):
                combined = _combine_disjoint_rows(objs)
                if combined is not None:
                    w.add_raw(combined)  # versions hold different rows: concatenating is merging
                    continue
            versions = [mutation_from_obj(o) for o in objs]
            merged = versions[0] if len(versions) == 1 else merge_versions(token, versions[0].key, versions)
            out = compact_partition(merged, now_s, gc_before, max_purgeable(token, merged.key))
            if out is not None:
                w.add(out)
        # written even when empty: its ancestors list is what makes deleting the inputs crash-safe
        return w.finish()
    except BaseException:
        w.abort()
        raise


def size_tiered_candidates(sstables: Iterable[SSTableReader], options: dict[str, str]) -> list[SSTableReader]:
    """Cassandra's STCS bucketing: similar-sized sstables; the smallest full bucket wins."""
    min_threshold = int(options.get("min_threshold", "4"))
    max_threshold = int(options.get("max_threshold", "32"))
    low = float(options.get("bucket_low", "0.5"))
    high = float(options.get("bucket_high", "1.5"))
    min_size = int(options.get("min_sstable_size", str(50 << 20)))
    buckets: list[list[SSTableReader]] = []
    avgs: list[float] = []
    for s in sorted(sstables, key=lambda s: s.size_bytes):
        size = s.size_bytes
        for i, b in enumerate(buckets):
            avg = avgs[i]
            if (avg * low <= size <= avg * high) or (size < min_size and avg < min_size):
                b.append(s)
                avgs[i] = (avg * (len(b) - 1) + size) / len(b)
                break
        else:
            buckets.append([s])
            avgs.append(float(size))
    full = [(avgs[i], b) for i, b in enumerate(buckets) if len(b) >= min_threshold]
    if not full:
        return []
    full.sort(key=lambda x: x[0])
    return full[0][1][:max_threshold]

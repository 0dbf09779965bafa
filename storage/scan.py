"""Range scans over a tablet: a lazy k-way merge of memtables and sstables in (token, key) order.

Invariant: every sstable a scan reads is acquired for the scan's lifetime, so a compaction that
finishes meanwhile cannot close its files under the scan. A corrupt sstable met by a scan is
quarantined and the scan raises `CorruptionError`; the caller may resume from its last position.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from .codec import mutation_from_obj
from .errors import CorruptionError
from .mutation import Mutation
from .read import PartitionData, Slice, materialize, materialize_encoded
from .reconcile import merge_versions
from .sstable_reader import SSTableReader
from .tablet import TabletState

if TYPE_CHECKING:
    from .engine import StorageEngine

T = TypeVar("T")


# What a scan merges: (token, key, version, sstable, block offset). A version is a Mutation or
# a codec-form partition (codec.py; rows in clustering order): an sstable's (with the sstable
# and offset it came from, to report it if it is malformed) or a memtable's encoded partition
# (sstable None). A partition's only version in codec form is materialized without decoding.
Item = tuple[int, bytes, Any, "SSTableReader | None", int]


def _sstable_items(engine: StorageEngine, t: TabletState, s: SSTableReader, after: tuple[int, bytes] | None,
                   end_token: int) -> Iterator[Item]:
    try:
        for off, obj in s.iter_range_objs(after, end_token):
            yield obj[0], obj[1], obj, s, off
    except CorruptionError:
        engine.quarantine(t, s)
        raise


def _memtable_items(it: Iterator[tuple[int, bytes, Any]]) -> Iterator[Item]:
    for token, key, v in it:
        yield token, key, v, None, 0


_key = itemgetter(0, 1)


def scan_tablet(engine: StorageEngine, t: TabletState, after: tuple[int, bytes] | None, end_token: int,
                sl: Slice) -> Iterator[PartitionData]:
    iters: list[Iterator[Item]] = [_memtable_items(t.memtable.iter_range(after, end_token))]
    iters.extend(_memtable_items(mt.iter_range(after, end_token)) for mt in t.flushing)
    lo = after[0] if after is not None else t.first_token
    readers = [s for s in t.sstables if s.max_token >= lo and s.min_token <= end_token]
    for s in readers:
        s.acquire()
    try:
        iters.extend(_sstable_items(engine, t, s, after, end_token) for s in readers)
        group: list[Item] = []
        for item in heapq.merge(*iters, key=_key):
            if group and (item[0] != group[0][0] or item[1] != group[0][1]):
                pd = _finish(engine, t, group, sl)
                group = []
                if pd is not None:
                    yield pd
            group.append(item)
        if group:
            pd = _finish(engine, t, group, sl)
            if pd is not None:
                yield pd
    finally:
        for s in readers:
            s.release()


def _finish(engine: StorageEngine, t: TabletState, group: list[Item], sl: Slice) -> PartitionData | None:
    if len(group) == 1:
        v = group[0][2]
        if isinstance(v, Mutation):
            return materialize(v, sl)
        return _checked(engine, t, group[0], materialize_encoded, sl)
    versions = [it[2] if isinstance(it[2], Mutation) else _checked(engine, t, it, mutation_from_obj)
                for it in group]
    return materialize(merge_versions(group[0][0], group[0][1], versions), sl)


def _checked(engine: StorageEngine, t: TabletState, item: Item, fn: Callable[..., T], *args: Any) -> T:
    """fn(item's codec-form version, *args); a malformed partition of an sstable quarantines it
    and raises CorruptionError."""
    s = item[3]
    if s is None:
        return fn(item[2], *args)
    try:
        return fn(item[2], *args)
    except (ValueError, TypeError, IndexError) as e:
        engine.quarantine(t, s)
        raise CorruptionError(s.path("Data.db"), item[4], f"malformed partition: {e}") from e

"""Range scans over a tablet: a lazy k-way merge of memtables and sstables in (token, key) order.

Invariant: every sstable a scan reads is acquired for the scan's lifetime, so a compaction that
finishes meanwhile cannot close its files under the scan. A corrupt sstable met by a scan is
quarantined and the scan raises `CorruptionError`; the caller may resume from its last position.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import CorruptionError
from .mutation import Mutation
from .read import PartitionData, Slice, materialize
from .reconcile import merge_versions
from .sstable_reader import SSTableReader
from .tablet import TabletState

if TYPE_CHECKING:
    from .engine import StorageEngine


def _guarded(engine: StorageEngine, t: TabletState, s: SSTableReader,
             it: Iterator[Mutation]) -> Iterator[Mutation]:
    try:
        yield from it
    except CorruptionError:
        engine.quarantine(t, s)
        raise


def _key(m: Mutation) -> tuple[int, bytes]:
    return (m.token, m.key)


def scan_tablet(engine: StorageEngine, t: TabletState, after: tuple[int, bytes] | None, end_token: int,
                sl: Slice) -> Iterator[PartitionData]:
    iters: list[Iterator[Mutation]] = [t.memtable.iter_range(after, end_token)]
    iters.extend(mt.iter_range(after, end_token) for mt in t.flushing)
    lo = after[0] if after is not None else t.first_token
    readers = [s for s in t.sstables if s.max_token >= lo and s.min_token <= end_token]
    for s in readers:
        s.acquire()
    try:
        iters.extend(_guarded(engine, t, s, s.iter_range(after, end_token)) for s in readers)
        group: list[Mutation] = []
        for m in heapq.merge(*iters, key=_key):
            if group and (m.token != group[0].token or m.key != group[0].key):
                pd = _finish(group, sl)
                group = []
                if pd is not None:
                    yield pd
            group.append(m)
        if group:
            pd = _finish(group, sl)
            if pd is not None:
                yield pd
    finally:
        for s in readers:
            s.release()


def _finish(group: list[Mutation], sl: Slice) -> PartitionData | None:
    m = group[0] if len(group) == 1 else merge_versions(group[0].token, group[0].key, group)
    return materialize(m, sl)

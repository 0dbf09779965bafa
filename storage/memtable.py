"""Memtable: the in-memory, sorted write buffer of one tablet.

Partitions are kept in a dict keyed by (token, key) for O(1) point reads, plus a sorted index
of the same keys for scans and flushes in (token, key) order; clustering rows are sorted lazily
(on read or flush), which keeps the write path cheap.

A partition's version is in one of two forms:
- written once: the bytes `encode_mutation` made of that write for the commitlog (rows in
  clustering order, at most one range tombstone: the form an sstable stores, so a flush copies
  it as is, with the statistics collected when it was written). One untracked `bytes`
  object instead of a dozen Python objects per write: the cyclic GC never walks it, and a full
  collection over a large memtable of object graphs cost more than the whole write path.
  `apply_encoded` takes such bytes without a Mutation (the plain-write lane);
- written more than once: a `Mutation` holding the reconciled sum of everything applied to it
  (the bytes are decoded on the second write and later writes are merged into it in place).

Invariants: once `seal()` is called the memtable is immutable, so a flush thread may iterate it
while the event loop keeps reading it. Applied mutations are owned by the memtable (they are
merged into in place; callers never touch them again).
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter, le
from typing import Any

import msgpack
from sortedcontainers import SortedList

from .codec import PlainSummary, decode_mutation
from .mutation import Mutation
from .reconcile import merge_mutation_into
from .sstable_stats import StatsCollector

PartitionKey = tuple[int, bytes]
_first = itemgetter(0)
_second = itemgetter(1)
_third = itemgetter(2)
_unpackb = msgpack.unpackb
Version = bytes | Mutation  # see the module docstring


def as_mutation(v: Version) -> Mutation:
    """A version as a Mutation: a new object if it was encoded; a stored Mutation is returned
    as is (callers must not modify it)."""
    return decode_mutation(v) if isinstance(v, bytes) else v


class Memtable:
    __slots__ = ("_keys", "_new_keys", "_plain", "partitions", "replay_position", "sealed", "size_bytes",
                 "stats", "writes")

    def __init__(self) -> None:
        self.partitions: dict[PartitionKey, Version] = {}
        self._keys: SortedList = SortedList()
        # keys of new partitions not yet in _keys: sorting in bulk when a scan or flush needs
        # order is much cheaper than a SortedList insert per write
        self._new_keys: list[PartitionKey] = []
        self.size_bytes = 0
        self.writes = 0
        self.sealed = False
        # commitlog position at seal time: everything applied here sits at or before it
        self.replay_position: tuple[int, int] = (0, 0)
        # sstable statistics of the partitions kept encoded (see sstable_stats.py and
        # `statistics`): plain ones summarized by the encoder in `_plain` (an append per write),
        # others in `stats`. A partition merged after a second write has its counts taken back
        # from `stats`, wherever they were put: `stats` alone may count below zero.
        self.stats = StatsCollector()
        self._plain: list[PlainSummary] = []

    def apply(self, m: Mutation, size_bytes: int, payload: bytes | None = None,
              summary: PlainSummary | None = None) -> None:
        """Requires: not sealed; `m` is handed over (stored or merged into in place);
        `payload`, if given, is `encode_mutation(m)` (kept instead of `m` if the partition is
        new), and `summary` what `encode_mutation_summarized` returned with it, if anything."""
        pk = (m.token, m.key)
        parts = self.partitions
        old = parts.get(pk)
        if old is None:
            # more than one range tombstone: an sstable stores them sorted, the payload may not
            if payload is not None and len(m.range_tombstones) < 2:
                parts[pk] = payload
                if summary is not None:
                    self._plain.append(summary)
                else:
                    self.stats.add(m)
            else:
                parts[pk] = m
            self._new_keys.append(pk)
        else:
            if isinstance(old, bytes):
                old = parts[pk] = decode_mutation(old)
                self.stats.remove(old)  # a flush counts the merged partition instead
            merge_mutation_into(old, m, take_ownership=True)
        self.size_bytes += size_bytes
        self.writes += 1

    def apply_encoded(self, token: int, key: bytes, payload: bytes, summary: PlainSummary | None,
                      size_bytes: int) -> None:
        """`apply(decode_mutation(payload), size_bytes, payload, summary)`, decoding only when it
        must: when the partition is already here (to merge), or to count the statistics of a
        write the encoder could not summarize.

        Requires: not sealed; `payload` one partition (token, key) in the form `encode_mutation`
        makes, with at most one range tombstone (what `codec.encode_plain_row` makes), and
        `summary` what its encoder returned with it."""
        pk = (token, key)
        parts = self.partitions
        old = parts.get(pk)
        if old is None:
            parts[pk] = payload
            if summary is not None:
                self._plain.append(summary)
            else:
                self.stats.add(decode_mutation(payload))
            self._new_keys.append(pk)
        else:
            if isinstance(old, bytes):
                old = parts[pk] = decode_mutation(old)
                self.stats.remove(old)  # a flush counts the merged partition instead
            merge_mutation_into(old, decode_mutation(payload), take_ownership=True)
        self.size_bytes += size_bytes
        self.writes += 1

    def statistics(self) -> StatsCollector:
        """The sstable statistics of the partitions kept encoded, token bounds aside (a flush
        takes those from the partitions it writes). Requires: sealed."""
        s = StatsCollector()
        s.merge(self.stats)
        p = self._plain
        if p:
            s.add_summaries(len(p), min(map(_first, p)), max(map(_second, p)), sum(map(_third, p)),
                            any(map(le, map(_first, p), map(_second, p))))
        return s

    def _settle(self) -> None:
        if self._new_keys:
            self._keys.update(self._new_keys)
            self._new_keys = []

    def get(self, token: int, key: bytes) -> Mutation | None:
        """The partition's version (do not modify it), or None."""
        v = self.partitions.get((token, key))
        return None if v is None else as_mutation(v)

    def __len__(self) -> int:
        return len(self.partitions)

    def seal(self, replay_position: tuple[int, int]) -> None:
        # afterwards nothing changes `partitions`: the flush thread reads only that (and sorts
        # its keys itself); scans on the event loop may still sort `_keys` lazily
        self.sealed = True
        self.replay_position = replay_position

    def iter_range(self, after: PartitionKey | None, end_token: int) -> Iterator[tuple[int, bytes, Any]]:
        """(token, key, version) of the partitions strictly after `after` with token <= end_token,
        in (token, key) order; a version is a Mutation (do not modify it) or, for a partition
        kept encoded, its codec form (codec.py; rows in clustering order).

        Safe against concurrent inserts: it re-seeks from the last key it returned.
        """
        parts = self.partitions
        last = after
        self._settle()
        while True:
            it = self._keys.irange(last, (end_token + 1, b""), inclusive=(False, False)) if last is not None \
                else self._keys.irange(None, (end_token + 1, b""), inclusive=(True, False))
            n = len(parts)
            for pk in it:
                v = parts[pk]
                yield pk[0], pk[1], _unpackb(v, raw=False, use_list=False) if isinstance(v, bytes) else v
                last = pk
                if len(parts) != n:
                    self._settle()
                    break  # an insert happened while we were suspended: re-seek
            else:
                return

    def sorted_chunks(self, size: int = 1024) -> Iterator[tuple[list[int], list[bytes], list[Version]]]:
        """Every partition in (token, key) order, `size` at a time, as columns (tokens, keys,
        versions in the form they are stored in). Requires: sealed (no concurrent inserts).

        Sorts the partition numbers by token (int comparisons; tuples compare several times
        slower), and again by (token, key) only if two partitions share a token; takes the
        versions from `partitions.values()` in the same insertion order, never hashing a key.
        Every column is gathered from a flat list in insertion order: a gather through `order`
        touches memory at random, so each one done (not two chained) counts."""
        parts = self.partitions
        pks = list(parts)
        unsorted_versions = list(parts.values())
        toks = list(map(_first, pks))
        order = sorted(range(len(pks)), key=toks.__getitem__)
        if len(set(toks)) != len(toks):  # two partitions share a token: order them by key too
            order.sort(key=pks.__getitem__)
        tokens = list(map(toks.__getitem__, order))
        unsorted_keys = list(map(_second, pks))
        keys = list(map(unsorted_keys.__getitem__, order))
        versions = list(map(unsorted_versions.__getitem__, order))
        for i in range(0, len(order), size):
            yield tokens[i:i + size], keys[i:i + size], versions[i:i + size]

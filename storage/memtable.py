"""Memtable: the in-memory, sorted write buffer of one tablet.

Partitions are kept in a dict keyed by (token, key) for O(1) point reads, plus a sorted index
of the same keys for scans and flushes in (token, key) order; clustering rows are sorted lazily
(on read or flush), which keeps the write path cheap.

A partition's version is in one of two forms:
- encoded: the bytes `encode_mutation` made of a write for the commitlog (rows in clustering
  order, at most one range tombstone: the form an sstable stores, so a flush copies it as is,
  with the statistics collected when it was written). One untracked `bytes` object instead of a
  dozen Python objects per write: the cyclic GC never walks it, and a full collection over a
  large memtable of object graphs cost more than the whole write path. `apply_encoded` takes
  such bytes without a Mutation (the plain-write lane). A plain partition (one row of live
  cells without TTL, summarized by its encoder) overwritten by a plain write of the same row
  stays encoded: the two are merged in codec form (`plain_merge.merge_plain_rows`, exactly
  what `merge_mutation_into` makes), and when the new write wins every cell, as an upsert
  does, the result is its payload as it is;
- merged: a `Mutation` holding the reconciled sum of everything applied to it (any other
  second write decodes the bytes, and later writes are merged into it in place).

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

from .codec import PlainSummary, decode_mutation, strict_packer
from .mutation import Mutation
from .plain_merge import PlainMergeFallback, merge_plain_rows
from .reconcile import merge_mutation_into
from .sstable_stats import StatsCollector

PartitionKey = tuple[int, bytes]
_first = itemgetter(0)
_second = itemgetter(1)
_third = itemgetter(2)
_unpackb = msgpack.unpackb
_pack = strict_packer().pack  # event loop only: memtables are written there
Version = bytes | Mutation  # see the module docstring


def as_mutation(v: Version) -> Mutation:
    """A version as a Mutation: a new object if it was encoded; a stored Mutation is returned
    as is (callers must not modify it)."""
    return decode_mutation(v) if isinstance(v, bytes) else v


class Memtable:
    __slots__ = ("_keys", "_new_keys", "_plain", "_unsummarized", "partitions", "replay_position", "sealed",
                 "size_bytes", "stats", "writes")

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
        # others in `stats`. A partition decoded to merge a second write has its counts taken
        # back from `stats`, wherever they were put: `stats` alone may count below zero. One
        # merged in codec form moves its cell count in `stats` (`_merge_plain`).
        self.stats = StatsCollector()
        self._plain: list[PlainSummary] = []
        # keys of partitions stored encoded without a summary (not plain, or replayed): an
        # overwrite of one takes the Mutation path. A key that was summarized (or merged in
        # codec form since) is plain: `_merge_plain` relies on it.
        self._unsummarized: set[PartitionKey] = set()

    def apply(self, m: Mutation, size_bytes: int, payload: bytes | None = None,
              summary: PlainSummary | None = None) -> None:
        """Requires: not sealed; `m` is handed over (stored or merged into in place);
        `payload`, if given, is `encode_mutation(m)` (kept instead of `m` if the partition is
        new), and `summary` what `encode_mutation_summarized` returned with it, if anything.
        A summarized write over a plain encoded partition is merged in codec form, as
        `apply_encoded` does (`m` is then dropped)."""
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
                    self._unsummarized.add(pk)
                    self.stats.add(m)
            else:
                parts[pk] = m
            self._new_keys.append(pk)
        elif payload is None or summary is None or old.__class__ is not bytes or pk in self._unsummarized \
                or not self._merge_plain(pk, old, payload, summary):
            if isinstance(old, bytes):
                old = parts[pk] = decode_mutation(old)
                self.stats.remove(old)  # a flush counts the merged partition instead
            merge_mutation_into(old, m, take_ownership=True)
        self.size_bytes += size_bytes
        self.writes += 1

    def apply_encoded(self, token: int, key: bytes, payload: bytes, summary: PlainSummary | None,
                      size_bytes: int) -> None:
        """`apply(decode_mutation(payload), size_bytes, payload, summary)`, decoding only when it
        must: when the partition is already here as a Mutation or not plain (to merge), or to
        count the statistics of a write the encoder could not summarize. A plain write over a
        plain encoded partition is merged in codec form (`_merge_plain`).

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
                self._unsummarized.add(pk)
                self.stats.add(decode_mutation(payload))
            self._new_keys.append(pk)
        elif summary is None or old.__class__ is not bytes or pk in self._unsummarized \
                or not self._merge_plain(pk, old, payload, summary):
            if isinstance(old, bytes):
                old = parts[pk] = decode_mutation(old)
                self.stats.remove(old)  # a flush counts the merged partition instead
            merge_mutation_into(old, decode_mutation(payload), take_ownership=True)
        self.size_bytes += size_bytes
        self.writes += 1

    def _merge_plain(self, pk: PartitionKey, old: bytes, payload: bytes, summary: PlainSummary) -> bool:
        """Store the merge of plain encoded partition `old` (stored at `pk`, its statistics
        counted as a summary's) and plain write `payload` (`summary` its encoder's) in codec
        form, and count the merged partition's statistics instead of `old`'s; False, having
        changed nothing, if the two are not one row each of the same clustering, or the merge
        needs the Mutation path (counters, nothing left).

        Statistics: partitions and rows stay (one each before and after); the cell count moves
        by what the merge added to `old`'s; the bounds widen by `summary`'s. The merged cells
        are `old`'s and `payload`'s, so the bounds already counted for `old` and these cover
        them (they may be wider than the data, never narrower: sstable_stats.py)."""
        o = _unpackb(old, raw=False, use_list=False)
        n = _unpackb(payload, raw=False, use_list=False)
        orows = o[4]
        nrows = n[4]
        if len(orows) != 2 or len(nrows) != 2 or orows[0] != nrows[0]:
            return False  # another row: the partition becomes a Mutation of several rows
        orow = orows[1]
        nrow = nrows[1]
        try:
            r, _ = merge_plain_rows([orow, nrow])
        except PlainMergeFallback:
            return False
        if r is orow:
            return True  # the stored version wins every cell: nothing changes
        if r is None:
            return False  # two empty rows: the Mutation path keeps the (empty) row
        # when the new write wins every cell (an upsert), its payload is the merged partition
        self.partitions[pk] = payload if r is nrow else _pack([pk[0], pk[1], None, None, [orows[0], r], []])
        st = self.stats
        st.cells += (len(r[2]) - len(orow[2])) // 7
        lo, hi, _ = summary
        if lo <= hi:  # (an empty write's summary bounds nothing)
            if lo < st.min_ts:
                st.min_ts = lo
            if hi > st.max_ts:
                st.max_ts = hi
            st.non_expiring = True
        return True

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

"""Memtable: the in-memory, sorted write buffer of one tablet.

Partitions are kept in a dict keyed by (token, key) for O(1) point reads, plus a sorted index
of the same keys for scans and flushes in (token, key) order. Each partition is one Mutation
holding the reconciled sum of everything applied to it; clustering rows are sorted lazily (on
read or flush), which keeps the write path cheap.

Invariants: once `seal()` is called the memtable is immutable, so a flush thread may iterate it
while the event loop keeps reading it. Applied mutations are owned by the memtable (they are
merged into in place; callers never touch them again).
"""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedList

from .mutation import Mutation
from .reconcile import merge_mutation_into

PartitionKey = tuple[int, bytes]


class Memtable:
    __slots__ = ("_keys", "_new_keys", "partitions", "replay_position", "sealed", "size_bytes", "writes")

    def __init__(self) -> None:
        self.partitions: dict[PartitionKey, Mutation] = {}
        self._keys: SortedList = SortedList()
        # keys of new partitions not yet in _keys: sorting in bulk when a scan or flush needs
        # order is much cheaper than a SortedList insert per write
        self._new_keys: list[PartitionKey] = []
        self.size_bytes = 0
        self.writes = 0
        self.sealed = False
        # commitlog position at seal time: everything applied here sits at or before it
        self.replay_position: tuple[int, int] = (0, 0)

    def apply(self, m: Mutation, size_bytes: int) -> None:
        """Requires: not sealed; `m` is handed over (stored or merged into in place)."""
        pk = (m.token, m.key)
        old = self.partitions.get(pk)
        if old is None:
            self.partitions[pk] = m
            self._new_keys.append(pk)
        else:
            merge_mutation_into(old, m, take_ownership=True)
        self.size_bytes += size_bytes
        self.writes += 1

    def _settle(self) -> None:
        if self._new_keys:
            self._keys.update(self._new_keys)
            self._new_keys = []

    def get(self, token: int, key: bytes) -> Mutation | None:
        return self.partitions.get((token, key))

    def __len__(self) -> int:
        return len(self.partitions)

    def seal(self, replay_position: tuple[int, int]) -> None:
        # sort now, on the event loop: afterwards nothing mutates the memtable, so the flush
        # thread and concurrent scans only read it
        self._settle()
        self.sealed = True
        self.replay_position = replay_position

    def iter_range(self, after: PartitionKey | None, end_token: int) -> Iterator[Mutation]:
        """Partitions strictly after `after` with token <= end_token, in (token, key) order.

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
                yield parts[pk]
                last = pk
                if len(parts) != n:
                    self._settle()
                    break  # an insert happened while we were suspended: re-seek
            else:
                return

    def sorted_partitions(self) -> Iterator[Mutation]:
        """Requires: sealed (no concurrent inserts)."""
        self._settle()
        parts = self.partitions
        for pk in self._keys:
            yield parts[pk]

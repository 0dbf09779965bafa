"""Token -> shard routing of the stress client: learned tablets first, the sharding function after.

Owns what the client knows of one table's tablets on the node it talks to. Each
`tablets-routing-v1` hint (a RESULT's custom payload, sent when a request reached a shard that is
not the tablet's replica) covers tokens (first, last] and names the replicas; we keep the shard of
the replica on our node. Before a token's tablet is known we fall back to ScyllaDB's
biased-token-round-robin `shard_of_token` (exact for vnode tables, a guess for tablets).

Invariants: the learned ranges never overlap (a new hint replaces every range it overlaps: the
tablet was split, merged or migrated); `shard_for()` always returns a shard in [0, nr_shards).
Also owns the choice of source ports for the shard-aware port (`port % nr_shards == shard`).
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Final

from cql.protocol.client import TabletRoute
from topology.tablets import shard_of_token

SOURCE_PORT_MIN: Final = 49152
SOURCE_PORT_MAX: Final = 65535


class TabletRouter:
    """Learned tablets of one table, on the node `host_id` (None: take each tablet's first
    replica)."""

    def __init__(self, nr_shards: int, ignore_msb: int, host_id: uuid.UUID | None) -> None:
        if nr_shards < 1:
            raise ValueError("nr_shards must be at least 1")
        self.nr_shards = nr_shards
        self.ignore_msb = ignore_msb
        self.host_id = host_id
        # Parallel lists sorted by last token; shard -1: the tablet has no replica on our node.
        self._lasts: list[int] = []
        self._firsts: list[int] = []
        self._shards: list[int] = []

    def __len__(self) -> int:
        return len(self._lasts)

    def shard_for(self, token: int) -> int:
        lasts = self._lasts
        i = bisect_left(lasts, token)
        if i < len(lasts) and self._firsts[i] < token:
            shard = self._shards[i]
            if shard >= 0:
                return shard
        if self.nr_shards == 1:
            return 0
        return shard_of_token(token, self.nr_shards, self.ignore_msb)

    def learn(self, route: TabletRoute) -> bool:
        """Record a hint; True if it changed what we knew."""
        shard = self._local_shard(route)
        lasts, firsts = self._lasts, self._firsts
        # Entries overlapping (first, last]: those with last > first and first < last.
        start = bisect_right(lasts, route.first_token)
        end = start
        while end < len(lasts) and firsts[end] < route.last_token:
            end += 1
        if end == start + 1 and (firsts[start], lasts[start], self._shards[start]) == (
                route.first_token, route.last_token, shard):
            return False
        del lasts[start:end], firsts[start:end], self._shards[start:end]
        lasts.insert(start, route.last_token)
        firsts.insert(start, route.first_token)
        self._shards.insert(start, shard)
        return True

    def _local_shard(self, route: TabletRoute) -> int:
        for host_id, shard in route.replicas:
            if (self.host_id is None or host_id == self.host_id) and 0 <= shard < self.nr_shards:
                return shard
        return -1

    def ranges(self) -> list[tuple[int, int, int]]:
        """(first, last, shard) of every learned tablet, by token."""
        return list(zip(self._firsts, self._lasts, self._shards))


def source_ports(shard: int, nr_shards: int, rng: random.Random) -> Iterator[int]:
    """Candidate local ports p in [49152, 65535] with p % nr_shards == shard, starting at a random
    one and walking all of them once (the next one is tried when a port is in use)."""
    if not 0 <= shard < nr_shards:
        raise ValueError(f"shard {shard} out of range for {nr_shards} shards")
    first = SOURCE_PORT_MIN + (shard - SOURCE_PORT_MIN) % nr_shards
    candidates = range(first, SOURCE_PORT_MAX + 1, nr_shards)
    if not candidates:
        return
    offset = rng.randrange(len(candidates))
    for i in range(len(candidates)):
        yield candidates[(offset + i) % len(candidates)]

"""The tablets map: how each table's token range is cut into tablets and where each tablet lives.

Owns the pure arithmetic of tablets (ScyllaDB 6 rules) and the immutable per-table map.

- A table has a power-of-two number of tablets `n`. Tablet `i` covers the tokens
  `(last_token(i - 1), last_token(i)]`, where `last_token(i)` is the last token of the i-th of `n`
  equal slices of the unsigned-biased token space `[0, 2**64)` (token + 2**63), so the last tablet
  ends at INT64_MAX. The first tablet starts just above INT64_MIN (Murmur3 never yields INT64_MIN).
- Token -> tablet index is `((token + 2**63) * n) >> 64`, a shift for a power of two.
- Each tablet has an ordered replica list of `(host_id, shard)`; the first is the primary.
Invariant: maps are immutable; a change (split, migration) produces a new map.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1
_BIAS = 2**63
_SPACE = 2**64

Replica = tuple[uuid.UUID, int]  # (host_id, shard)


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def last_token(index: int, tablet_count: int) -> int:
    """The last token (inclusive) of tablet `index` of `tablet_count`."""
    return ((index + 1) * _SPACE) // tablet_count - 1 - _BIAS


def first_token(index: int, tablet_count: int) -> int:
    """The exclusive lower bound of tablet `index`: tokens > this belong to it (or to tablet 0,
    whose bound is INT64_MIN)."""
    return MIN_TOKEN if index == 0 else last_token(index - 1, tablet_count)


def tablet_index(token: int, tablet_count: int) -> int:
    return ((token + _BIAS) * tablet_count) >> 64


def shard_of_token(token: int, shard_count: int, ignore_msb: int = 12) -> int:
    """ScyllaDB's token -> shard (biased-token-round-robin with `ignore_msb` high bits ignored),
    the function scylla-driver uses to pick a shard-aware connection."""
    biased = (token + _BIAS) % _SPACE
    biased = (biased << ignore_msb) % _SPACE
    return (biased * shard_count) >> 64


@dataclass(frozen=True, slots=True)
class TabletInfo:
    last_token: int
    replicas: tuple[Replica, ...]


@dataclass(frozen=True)
class TableTablets:
    """The tablets of one table."""

    table_id: uuid.UUID
    tablets: tuple[TabletInfo, ...]

    def __post_init__(self) -> None:
        if not is_power_of_two(len(self.tablets)):
            raise ValueError(f"tablet count must be a power of two, got {len(self.tablets)}")

    @property
    def tablet_count(self) -> int:
        return len(self.tablets)

    def index_of(self, token: int) -> int:
        return tablet_index(token, len(self.tablets))

    def tablet_for(self, token: int) -> TabletInfo:
        return self.tablets[tablet_index(token, len(self.tablets))]

    def first_token(self, index: int) -> int:
        return first_token(index, len(self.tablets))

    def replicas_for(self, token: int) -> tuple[Replica, ...]:
        return self.tablet_for(token).replicas

    @staticmethod
    def allocate(
        table_id: uuid.UUID, tablet_count: int, shards: Sequence[Replica], replication_factor: int = 1
    ) -> TableTablets:
        """A fresh map with tablets spread round-robin over `shards` (each a (host, shard)).

        Consecutive tablets land on consecutive shards so a table's load spreads evenly; with RF > 1
        the replicas of a tablet are taken on distinct hosts where possible.
        """
        if not shards:
            raise ValueError("no shards to place tablets on")
        hosts = list(dict.fromkeys(h for h, _ in shards))
        if replication_factor > len(hosts):
            replication_factor = len(hosts)
        tablets = []
        for i in range(tablet_count):
            replicas: list[Replica] = []
            used_hosts: set[uuid.UUID] = set()
            j = i
            while len(replicas) < replication_factor:
                host, shard = shards[j % len(shards)]
                if host not in used_hosts:
                    replicas.append((host, shard))
                    used_hosts.add(host)
                j += 1
            tablets.append(TabletInfo(last_token(i, tablet_count), tuple(replicas)))
        return TableTablets(table_id, tuple(tablets))


def default_tablet_count(shard_count: int, minimum_per_shard: int = 1) -> int:
    """The smallest power of two giving every shard at least `minimum_per_shard` tablets.

    ScyllaDB aims for ~10 tablet replicas per shard per table initially; on one node with few
    shards that is mostly fixed cost, so the daemon passes its own `minimum_per_shard`.
    """
    want = max(1, shard_count * minimum_per_shard)
    n = 1
    while n < want:
        n <<= 1
    return n

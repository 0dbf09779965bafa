"""The data model: what one write carries for one partition (contracts.md section 1.1).

Owns the shapes only; merging lives in `reconcile.py`, encoding in `codec.py`.
Invariants the rest of storage relies on:
- clustering keys and range-tombstone bounds are plain bytes compared bytewise (the CQL layer
  made byte order equal CQL order), so storage never needs the schema;
- range tombstones are half-open `[start, end)` over clustering bytes;
- `Cell.expiry_s` of a tombstone is its local deletion time (gc_grace counts from it).
A `Mutation` handed to `StorageEngine.apply` is owned by storage from then on.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DeletionTime:
    timestamp_us: int  # marked-for-delete-at: shadows data with timestamp <= this
    local_deletion_time_s: int  # wall-clock seconds when deleted (gc_grace_seconds counts from it)


@dataclass(frozen=True, slots=True)
class Cell:
    timestamp_us: int
    value: bytes | None  # None: a cell tombstone
    ttl_s: int = 0  # 0: no TTL
    expiry_s: int = 0  # live cell with TTL: when it expires; tombstone: local deletion time
    counter: bool = False  # value is a storage.counter-encoded shard set


@dataclass(frozen=True, slots=True)
class LivenessInfo:  # the row marker written by INSERT
    timestamp_us: int
    ttl_s: int = 0
    expiry_s: int = 0


CellKey = tuple[str, bytes]  # (column name, cell path); path b"" for a simple cell


@dataclass(slots=True)
class Row:
    marker: LivenessInfo | None = None
    deletion: DeletionTime | None = None  # row tombstone
    cells: dict[CellKey, Cell] = field(default_factory=dict)
    # per multi-cell column: shadows every cell of that column with timestamp <= it
    collection_deletions: dict[str, DeletionTime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RangeTombstone:  # shadows rows with start <= clustering < end (half-open, bytes order)
    start: bytes
    end: bytes
    deletion: DeletionTime


@dataclass(slots=True)
class Mutation:  # everything written to one partition in one write
    token: int
    key: bytes  # serialized partition key (what Murmur3 hashed)
    partition_deletion: DeletionTime | None = None
    static_row: Row | None = None
    rows: dict[bytes, Row] = field(default_factory=dict)  # clustering bytes -> row
    range_tombstones: list[RangeTombstone] = field(default_factory=list)

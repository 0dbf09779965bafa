"""The data model: what one write carries for one partition (contracts.md section 1.1).

Owns the shapes only; merging lives in `reconcile.py`, encoding in `codec.py`.
Invariants the rest of storage relies on:
- clustering keys and range-tombstone bounds are plain bytes compared bytewise (the CQL layer
  made byte order equal CQL order), so storage never needs the schema;
- range tombstones are half-open `[start, end)` over clustering bytes;
- `Cell.expiry_s` of a tombstone is its local deletion time (gc_grace counts from it).
A `Mutation` handed to `StorageEngine.apply` is owned by storage from then on.

Immutability by convention: `DeletionTime`, `Cell`, `LivenessInfo` and `RangeTombstone` are
values. Nothing may assign to their attributes after construction: they are shared freely (one
marker for every row of a write, one cell object in a memtable and in a read result), and they
hash by value (`RangeTombstone` and `DeletionTime` go in sets when merging). `Row` and
`Mutation` are mutable containers. All six are plain `__slots__` classes with hand-written
`__init__`s rather than (frozen) dataclasses: they are built for every cell of every write and
every read, and a frozen dataclass's generated `__init__` (which stores each field through
`object.__setattr__`) costs about four times as much. `__eq__` and `__repr__` behave as the
dataclasses' did: equal when of the same class with equal fields.
"""

from __future__ import annotations

from typing import Any


class DeletionTime:
    __slots__ = ("local_deletion_time_s", "timestamp_us")

    def __init__(self, timestamp_us: int, local_deletion_time_s: int) -> None:
        self.timestamp_us = timestamp_us  # marked-for-delete-at: shadows data with timestamp <= this
        self.local_deletion_time_s = local_deletion_time_s  # wall-clock seconds when deleted (gc_grace counts from it)

    def _key(self) -> tuple[Any, ...]:
        return (self.timestamp_us, self.local_deletion_time_s)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not DeletionTime:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"DeletionTime(timestamp_us={self.timestamp_us!r}, local_deletion_time_s={self.local_deletion_time_s!r})"


class Cell:
    __slots__ = ("counter", "expiry_s", "timestamp_us", "ttl_s", "value")

    def __init__(self, timestamp_us: int, value: bytes | None, ttl_s: int = 0, expiry_s: int = 0,
                 counter: bool = False) -> None:
        self.timestamp_us = timestamp_us
        self.value = value  # None: a cell tombstone
        self.ttl_s = ttl_s  # 0: no TTL
        self.expiry_s = expiry_s  # live cell with TTL: when it expires; tombstone: local deletion time
        self.counter = counter  # value is a storage.counter-encoded shard set

    def _key(self) -> tuple[Any, ...]:
        return (self.timestamp_us, self.value, self.ttl_s, self.expiry_s, self.counter)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Cell:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Cell(timestamp_us={self.timestamp_us!r}, value={self.value!r}, ttl_s={self.ttl_s!r}, "
                f"expiry_s={self.expiry_s!r}, counter={self.counter!r})")


class LivenessInfo:  # the row marker written by INSERT
    __slots__ = ("expiry_s", "timestamp_us", "ttl_s")

    def __init__(self, timestamp_us: int, ttl_s: int = 0, expiry_s: int = 0) -> None:
        self.timestamp_us = timestamp_us
        self.ttl_s = ttl_s
        self.expiry_s = expiry_s

    def _key(self) -> tuple[Any, ...]:
        return (self.timestamp_us, self.ttl_s, self.expiry_s)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not LivenessInfo:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"LivenessInfo(timestamp_us={self.timestamp_us!r}, ttl_s={self.ttl_s!r}, expiry_s={self.expiry_s!r})"


CellKey = tuple[str, bytes]  # (column name, cell path); path b"" for a simple cell


class Row:
    __slots__ = ("cells", "collection_deletions", "deletion", "marker")

    def __init__(self, marker: LivenessInfo | None = None, deletion: DeletionTime | None = None,
                 cells: dict[CellKey, Cell] | None = None,
                 collection_deletions: dict[str, DeletionTime] | None = None) -> None:
        self.marker = marker
        self.deletion = deletion  # row tombstone
        self.cells: dict[CellKey, Cell] = {} if cells is None else cells
        # per multi-cell column: shadows every cell of that column with timestamp <= it
        self.collection_deletions: dict[str, DeletionTime] = {} if collection_deletions is None \
            else collection_deletions

    def _key(self) -> tuple[Any, ...]:
        return (self.marker, self.deletion, self.cells, self.collection_deletions)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Row:
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Row(marker={self.marker!r}, deletion={self.deletion!r}, cells={self.cells!r}, "
                f"collection_deletions={self.collection_deletions!r})")


class RangeTombstone:  # shadows rows with start <= clustering < end (half-open, bytes order)
    __slots__ = ("deletion", "end", "start")

    def __init__(self, start: bytes, end: bytes, deletion: DeletionTime) -> None:
        self.start = start
        self.end = end
        self.deletion = deletion

    def _key(self) -> tuple[Any, ...]:
        return (self.start, self.end, self.deletion)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not RangeTombstone:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"RangeTombstone(start={self.start!r}, end={self.end!r}, deletion={self.deletion!r})"


class Mutation:  # everything written to one partition in one write
    __slots__ = ("key", "partition_deletion", "range_tombstones", "rows", "static_row", "token")

    def __init__(self, token: int, key: bytes, partition_deletion: DeletionTime | None = None,
                 static_row: Row | None = None, rows: dict[bytes, Row] | None = None,
                 range_tombstones: list[RangeTombstone] | None = None) -> None:
        self.token = token
        self.key = key  # serialized partition key (what Murmur3 hashed)
        self.partition_deletion = partition_deletion
        self.static_row = static_row
        self.rows: dict[bytes, Row] = {} if rows is None else rows  # clustering bytes -> row
        self.range_tombstones: list[RangeTombstone] = [] if range_tombstones is None else range_tombstones

    def _key(self) -> tuple[Any, ...]:
        return (self.token, self.key, self.partition_deletion, self.static_row, self.rows, self.range_tombstones)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Mutation:
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Mutation(token={self.token!r}, key={self.key!r}, partition_deletion={self.partition_deletion!r}, "
                f"static_row={self.static_row!r}, rows={self.rows!r}, range_tombstones={self.range_tombstones!r})")

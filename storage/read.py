"""Read-side shapes and the last step of every read: turning a reconciled partition into rows.

Owns `Slice` and `PartitionData` (contracts.md section 1.2) and `materialize`, which applies
partition, range, row and collection tombstones and TTL expiry, then slice, column selection
and row limit. Invariant: what `materialize` returns carries only live data and never aliases a
mutable object of its input (rows are rebuilt), so callers may hand it memtable versions.

`materialize_encoded` is the same function over a partition still in codec form (a point read
whose only version is in one sstable, the common case): it builds only the objects of the
result instead of a whole Mutation first. Both must agree on every input (a Hypothesis test
holds them to it).

`point_row_encoded` and `point_row` are the point-read lane: the values of some columns of one
clustering row, read straight from a partition's only version (codec form or Mutation) into a
result list, with no Row or Cell built (`point_merge.py` does it for several versions, with
`encoded_row` and `encoded_row_values`). They apply the same deletions and TTL expiry as
`materialize`, and say whether the row exists by the same rule (a live marker or any live cell
of any column). They never see static rows: the lane's caller selects no static column.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any, Literal

from .mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from .reconcile import covering_deletion

_MIN_TS = -(1 << 63)


class Slice:
    """What a read wants of a partition. A value: never modified after construction (a plain
    `__slots__` class, like mutation.py's, because one is built per query)."""

    __slots__ = ("columns", "now_s", "ranges", "reverse", "row_limit")

    def __init__(self, ranges: tuple[tuple[bytes, bytes], ...] | None = None, reverse: bool = False,
                 columns: frozenset[str] | None = None, row_limit: int | None = None, now_s: int = 0) -> None:
        # half-open [start, end) clustering ranges, sorted and disjoint; None: whole partition
        self.ranges = ranges
        self.reverse = reverse  # rows returned in descending clustering order
        self.columns = columns  # None: every column; static and regular names mixed
        self.row_limit = row_limit  # stop after this many live clustering rows
        self.now_s = now_s  # reference time for TTL expiry

    def _key(self) -> tuple[Any, ...]:
        return (self.ranges, self.reverse, self.columns, self.row_limit, self.now_s)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Slice:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Slice(ranges={self.ranges!r}, reverse={self.reverse!r}, columns={self.columns!r}, "
                f"row_limit={self.row_limit!r}, now_s={self.now_s!r})")


FULL_SLICE = Slice()


class PartitionData:
    """A read's result for one partition (a plain `__slots__` class: one is built per read)."""

    __slots__ = ("key", "rows", "static_row", "token")

    def __init__(self, token: int, key: bytes, static_row: Row | None, rows: list[tuple[bytes, Row]]) -> None:
        self.token = token
        self.key = key
        self.static_row = static_row  # live cells only; None if nothing live
        self.rows = rows  # live rows only, in slice order; tombstones already applied

    def _key(self) -> tuple[Any, ...]:
        return (self.token, self.key, self.static_row, self.rows)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not PartitionData:
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"PartitionData(token={self.token!r}, key={self.key!r}, static_row={self.static_row!r}, "
                f"rows={self.rows!r})")


def live_row(row: Row, floor_us: int, now_s: int, columns: frozenset[str] | None) -> Row | None:
    """The live part of `row` given deletions up to `floor_us` shadowing it, or None."""
    d = row.deletion
    if d is not None and d.timestamp_us > floor_us:
        floor_us = d.timestamp_us
    mk = row.marker
    if mk is not None and (mk.timestamp_us <= floor_us or (mk.ttl_s > 0 and mk.expiry_s <= now_s)):
        mk = None
    cells = {}
    any_live = False
    cd = row.collection_deletions
    for k, c in row.cells.items():
        if c.value is None or c.timestamp_us <= floor_us or (c.ttl_s > 0 and c.expiry_s <= now_s):
            continue
        if cd:
            t = cd.get(k[0])
            if t is not None and c.timestamp_us <= t.timestamp_us:
                continue
        any_live = True
        if columns is None or k[0] in columns:
            cells[k] = c
    if mk is None and not any_live:
        return None
    return Row(mk, None, cells, {})


def select_keys(keys: list[bytes], ranges: tuple[tuple[bytes, bytes], ...] | None) -> list[bytes]:
    """`keys` (ascending) restricted to the slice ranges."""
    if ranges is None:
        return keys
    out: list[bytes] = []
    for start, end in ranges:
        i = bisect_left(keys, start)
        j = bisect_left(keys, end, i)
        out.extend(keys[i:j])
    return out


def materialize(m: Mutation, sl: Slice) -> PartitionData | None:
    now = sl.now_s
    pd = m.partition_deletion
    floor = pd.timestamp_us if pd is not None else _MIN_TS
    cols = sl.columns
    static = None if m.static_row is None else live_row(m.static_row, floor, now, cols)
    out: list[tuple[bytes, Row]] = []
    limit = sl.row_limit
    if m.rows and (limit is None or limit > 0):
        keys = select_keys(sorted(m.rows), sl.ranges)
        if sl.reverse:
            keys.reverse()
        rts = m.range_tombstones
        rows = m.rows
        for ck in keys:
            f = floor
            if rts:
                f = max(f, covering_deletion(rts, ck))
            r = live_row(rows[ck], f, now, cols)
            if r is not None:
                out.append((ck, r))
                if limit is not None and len(out) >= limit:
                    break
    if static is None and not out:
        return None
    return PartitionData(m.token, m.key, static, out)


def collection_shadow(cd: Any, col: str) -> int:
    """The timestamp at or below which a codec-form row's collection deletions (flat
    [column, timestamp_us, local_deletion_time_s, ...]) shadow column `col`'s cells."""
    shadow = _MIN_TS - 1
    for x in range(0, len(cd), 3):
        if cd[x] == col:
            shadow = cd[x + 1]  # (the last entry wins, as when decoding to a dict)
    return shadow


def _live_row_encoded(o: Any, floor_us: int, now_s: int, columns: frozenset[str] | None) -> Row | None:
    """`live_row` of a codec-form row (codec.py: [marker, deletion, cells, coll_dels])."""
    mk, dl, cf, cd = o
    if dl is not None and dl[0] > floor_us:
        floor_us = dl[0]
    marker = None
    if mk is not None and not (mk[0] <= floor_us or (mk[1] > 0 and mk[2] <= now_s)):
        marker = LivenessInfo(mk[0], mk[1], mk[2])
    cells = {}
    any_live = False
    it = iter(cf)
    # strict: a cell array whose length is not a multiple of 7 is malformed (ValueError)
    for col, path, ts, value, ttl, exp, counter in zip(it, it, it, it, it, it, it, strict=True):
        if value is None or ts <= floor_us or (ttl > 0 and exp <= now_s):
            continue
        if cd and ts <= collection_shadow(cd, col):
            continue
        any_live = True
        if columns is None or col in columns:
            cells[(col, path)] = Cell(ts, value, ttl, exp, counter)
    if marker is None and not any_live:
        return None
    return Row(marker, None, cells, None)


def materialize_encoded(o: Any, sl: Slice) -> PartitionData | None:
    """`materialize(mutation_from_obj(o), sl)` for a codec-form partition whose rows are in
    ascending clustering order (as sstables store them)."""
    token, key, pd, st, rows_flat, rts_flat = o
    now = sl.now_s
    floor = pd[0] if pd is not None else _MIN_TS
    cols = sl.columns
    static = None if st is None else _live_row_encoded(st, floor, now, cols)
    out: list[tuple[bytes, Row]] = []
    limit = sl.row_limit
    if len(rows_flat) == 2 and not rts_flat and sl.ranges is None and (limit is None or limit > 0):
        r = _live_row_encoded(rows_flat[1], floor, now, cols)  # the common case: one row
        if r is not None:
            out.append((rows_flat[0], r))
    elif rows_flat and (limit is None or limit > 0):
        n = len(rows_flat) // 2
        ranges = sl.ranges
        if ranges is None:
            order: list[int] | range = range(n)
        else:
            cks = rows_flat[0::2]
            order = []
            for start, end in ranges:
                i = bisect_left(cks, start)
                order.extend(range(i, bisect_left(cks, end, i)))
        if sl.reverse:
            order = order[::-1]
        rts: list[RangeTombstone] = [
            RangeTombstone(rts_flat[i], rts_flat[i + 1], DeletionTime(rts_flat[i + 2], rts_flat[i + 3]))
            for i in range(0, len(rts_flat), 4)
        ] if rts_flat else []
        for i in order:
            ck = rows_flat[2 * i]
            f = floor
            if rts:
                f = max(f, covering_deletion(rts, ck))
            r = _live_row_encoded(rows_flat[2 * i + 1], f, now, cols)
            if r is not None:
                out.append((ck, r))
                if limit is not None and len(out) >= limit:
                    break
    if static is None and not out:
        return None
    return PartitionData(token, key, static, out)


class PointMiss(enum.Enum):
    """What `point_row_encoded` answers when it cannot read the row itself (a sentinel type, so
    the result stays typed)."""

    MALFORMED = 0  # the codec form does not parse: let `materialize_encoded` report it
    UNSUPPORTED = 1  # the lane does not reconcile this (counter cells in several versions)


# What a point-lane read returns: the row's values, None when the row does not exist (or is dead)
PointRow = list[bytes | None] | None


def encoded_row(rows_flat: Any, ck: bytes) -> Any:
    """Row `ck` of a codec-form partition's rows (flat [ck, row, ...], ascending clustering
    order, as the codec always writes them), or None. Raises what indexing and comparing a
    malformed array raises (TypeError, IndexError)."""
    n = len(rows_flat) >> 1
    if n == 1:  # the common case: one row
        return rows_flat[1] if rows_flat[0] == ck else None
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if rows_flat[2 * mid] < ck:
            lo = mid + 1
        else:
            hi = mid
    if lo == n or rows_flat[2 * lo] != ck:
        return None
    return rows_flat[2 * lo + 1]


def point_row_encoded(o: Any, ck: bytes, positions: Mapping[str, int], width: int,
                      now_s: int) -> PointRow | Literal[PointMiss.MALFORMED]:
    """Clustering row `ck` of a codec-form partition whose rows are in ascending clustering order
    (as the codec always writes them): a list of `width` values where `positions[column]` holds
    that live simple column's value (None if it has no live cell), or None when the row is not
    live (no live marker and no live cell in any column), under the partition deletion, covering
    range tombstones, the row deletion and collection deletions, and TTL expiry at `now_s`.
    Exactly the row `materialize_encoded` would return for a slice of just `ck` and the
    selection's values from it. Requires: `positions` names only simple (non-collection)
    columns, with distinct indexes below `width`. `MALFORMED` when `o` does not parse; the
    caller then asks `materialize_encoded`, which reports the corruption (so this never has to
    decide what a malformed partition means)."""
    try:
        _token, _key, pd, _static, rows_flat, rts_flat = o
        if len(rows_flat) == 2:  # the common case: one row (`encoded_row`, without the call)
            if rows_flat[0] != ck:
                return None
            row = rows_flat[1]
        else:
            row = encoded_row(rows_flat, ck)
            if row is None:
                return None
        floor = pd[0] if pd is not None else _MIN_TS
        for i in range(0, len(rts_flat), 4):  # covering range tombstones (`covering_deletion`)
            if rts_flat[i] <= ck < rts_flat[i + 1] and rts_flat[i + 2] > floor:
                floor = rts_flat[i + 2]
        # (`encoded_row_values`, inlined: this is every point read of a partition's only version)
        mk, dl, cf, cd = row
        if dl is not None and dl[0] > floor:
            floor = dl[0]
        live = mk is not None and not (mk[0] <= floor or (mk[1] > 0 and mk[2] <= now_s))
        out: list[bytes | None] = [None] * width
        it = iter(cf)
        for col, path, ts, value, ttl, exp, _counter in zip(it, it, it, it, it, it, it, strict=True):
            if value is None or ts <= floor or (ttl > 0 and exp <= now_s):
                continue
            if cd and ts <= collection_shadow(cd, col):
                continue
            live = True
            if path == b"":
                slot = positions.get(col)
                if slot is not None:
                    out[slot] = value
    except (ValueError, TypeError, IndexError, KeyError):
        return PointMiss.MALFORMED
    return out if live else None


def encoded_row_values(row: Any, floor: int, positions: Mapping[str, int], width: int, now_s: int) -> PointRow:
    """`point_row_encoded`'s answer for codec-form row `row` under deletions up to `floor`
    (partition deletion and covering range tombstones). Raises what a malformed row raises
    (ValueError, TypeError, IndexError)."""
    mk, dl, cf, cd = row
    if dl is not None and dl[0] > floor:
        floor = dl[0]
    live = mk is not None and not (mk[0] <= floor or (mk[1] > 0 and mk[2] <= now_s))
    out: list[bytes | None] = [None] * width
    it = iter(cf)
    for col, path, ts, value, ttl, exp, _counter in zip(it, it, it, it, it, it, it, strict=True):
        if value is None or ts <= floor or (ttl > 0 and exp <= now_s):
            continue
        if cd and ts <= collection_shadow(cd, col):
            continue
        live = True
        if path == b"":
            slot = positions.get(col)
            if slot is not None:
                out[slot] = value
    return out if live else None


def point_row(m: Mutation, ck: bytes, positions: Mapping[str, int], width: int, now_s: int) -> PointRow:
    """`point_row_encoded` of a decoded partition (a memtable's Mutation, written more than once)."""
    row = m.rows.get(ck)
    if row is None:
        return None
    pd = m.partition_deletion
    floor = pd.timestamp_us if pd is not None else _MIN_TS
    if m.range_tombstones:
        floor = max(floor, covering_deletion(m.range_tombstones, ck))
    d = row.deletion
    if d is not None and d.timestamp_us > floor:
        floor = d.timestamp_us
    mk = row.marker
    live = mk is not None and not (mk.timestamp_us <= floor or (mk.ttl_s > 0 and mk.expiry_s <= now_s))
    out: list[bytes | None] = [None] * width
    cd = row.collection_deletions
    for (col, path), c in row.cells.items():
        if c.value is None or c.timestamp_us <= floor or (c.ttl_s > 0 and c.expiry_s <= now_s):
            continue
        if cd:
            t = cd.get(col)
            if t is not None and c.timestamp_us <= t.timestamp_us:
                continue
        live = True
        if path == b"":
            slot = positions.get(col)
            if slot is not None:
                out[slot] = c.value
    return out if live else None

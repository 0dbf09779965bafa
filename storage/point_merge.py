"""The point-read lane over several versions of a partition (docs/storage/engine.md, "Point
reads of several versions").

Owns `point_row_versions`: the values of some simple columns of one clustering row, read
straight from every version of its partition (codec form, as memtables and sstables hand them
out, or a memtable's Mutation) into a result list, with no merged Mutation, Row or Cell built.

Invariant: the answer is exactly what the general path gives, `point_row` of
`merge_versions(versions)` (that is, the row `materialize` returns for a slice of just that
row): the same existence and the same live values, whatever the versions hold (overwrites with
equal timestamps, TTLs, row, partition, range and collection deletions, cell tombstones,
markers or none). It gets there without merging the partition because, for one row, the merge
reduces to a few maxima:
- the deletions shadowing the row are the highest partition deletion, covering range
  tombstone and row deletion of any version (`max_deletion` keeps the highest timestamp);
- per collection column, the highest collection deletion;
- the marker is the greatest under `reconcile_markers`' order (timestamp, has TTL, expiry);
  whether it is live depends only on that key, so ties between versions do not matter;
- each (column, path) holds the greatest cell under `reconcile_cells`' order; two cells that
  tie on it are equal in everything the read looks at.
It never purges (compaction's `compact_partition` drops gc-able tombstones; a read must not
need to know gc_grace), so nothing here depends on gc_grace_seconds.

Counter cells in more than one version merge shard-wise: the lane answers `UNSUPPORTED` and the
caller takes the general path. A version that does not parse gives `MALFORMED`, so the general
path (which knows where each version came from) reports and quarantines it. Never modifies its
inputs: memtable Mutations are shared with the memtable, codec forms with the block cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .codec import row_to_obj
from .mutation import Mutation
from .plain_merge import newest_everywhere
from .read import PointMiss, PointRow, collection_shadow, encoded_row, encoded_row_values
from .reconcile import covering_deletion

_MIN_TS = -(1 << 63)
_MAX_TS = (1 << 63) - 1


class _Unsupported(Exception):
    """Counter cells of one (column, path) in several versions: they do not reconcile by order."""


def point_row_versions(versions: Sequence[Any], ck: bytes, positions: Mapping[str, int], width: int,
                       now_s: int) -> PointRow | Literal[PointMiss.MALFORMED, PointMiss.UNSUPPORTED]:
    """Clustering row `ck` of the partition whose versions are `versions` (each a codec-form
    partition with rows in ascending clustering order, or a Mutation), as `point_row_encoded`
    describes the result: `width` values with `positions[column]` holding that simple column's
    live value, or None when the merged row is not live at `now_s`.
    Requires: what `point_row_encoded` requires of `positions`; every version is of the same
    partition. Order of `versions` does not matter (see the module docstring)."""
    try:
        floor, rows = _gather(versions, ck)
        if not rows:
            return None
        if len(rows) == 1:
            # one version holds the row: the others only add deletions, already in `floor`
            return encoded_row_values(rows[0], floor, positions, width, now_s)
        return _merged_row(rows, _heads(rows, floor), positions, width, now_s)
    except _Unsupported:
        return PointMiss.UNSUPPORTED
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        return PointMiss.MALFORMED


def point_row_settled(versions: Sequence[Any], ck: bytes, positions: Mapping[str, int], width: int,
                      now_s: int) -> tuple[PointRow | Literal[PointMiss.MALFORMED, PointMiss.UNSUPPORTED], int]:
    """`point_row_versions(versions, ...)` and the bound `settled_us` up to which that answer
    is settled: it is also the answer for `versions` plus any further versions of the partition
    whose every timestamp (cells, markers, deletions of every kind) is below `settled_us`.
    `_MIN_TS` (-2**63) when nothing is settled; then read every version.

    The bound is the larger of two (a version older than either cannot change the answer):
    - the highest deletion covering the row (partition, range, row deletion): everything
      older is shadowed by it, whatever it is;
    - the smaller of (a) the newest live marker or cell of the row (it stays the winner of its
      marker or (column, path) and stays live: an older deletion cannot shadow it) and (b) the
      oldest winning cell among the columns of `positions`, each of which must have one (live,
      expired or a tombstone: an older cell loses to it under `reconcile_cells`' order).
    Equal timestamps do not settle (they reconcile by value and kind), hence "below". Counter
    cells (they merge shard-wise, not by timestamp) settle nothing. Requires what
    `point_row_versions` requires."""
    try:
        floor, rows = _gather(versions, ck)
        if not rows:
            return None, floor  # no row, and whatever is under `floor` stays shadowed
        if len(rows) == 1:
            return _row_settled(rows[0], floor, positions, width, now_s)
        heads = _heads(rows, floor)
        return _merged_row(rows, heads, positions, width, now_s), _rows_settled(rows, heads, positions, now_s)
    except _Unsupported:
        return PointMiss.UNSUPPORTED, _MIN_TS
    except (ValueError, TypeError, IndexError, KeyError, AttributeError):
        return PointMiss.MALFORMED, _MIN_TS


def _gather(versions: Sequence[Any], ck: bytes) -> tuple[int, list[Any]]:
    """The highest partition deletion or covering range tombstone of `versions` (`_MIN_TS` if
    none), and the versions' codec-form rows `ck`. Raises what a malformed version raises."""
    floor = _MIN_TS
    rows: list[Any] = []
    for v in versions:
        if v.__class__ is Mutation:
            pd = v.partition_deletion
            if pd is not None and pd.timestamp_us > floor:
                floor = pd.timestamp_us
            if v.range_tombstones:
                floor = max(floor, covering_deletion(v.range_tombstones, ck))
            r = v.rows.get(ck)
            if r is not None:
                rows.append(row_to_obj(r))
            continue
        _token, _key, pd, _static, rows_flat, rts_flat = v
        if pd is not None and pd[0] > floor:
            floor = pd[0]
        for i in range(0, len(rts_flat), 4):  # covering range tombstones (`covering_deletion`)
            if rts_flat[i] <= ck < rts_flat[i + 1] and rts_flat[i + 2] > floor:
                floor = rts_flat[i + 2]
        r = encoded_row(rows_flat, ck)
        if r is not None:
            rows.append(r)
    return floor, rows


def _row_settled(row: Any, floor: int, positions: Mapping[str, int], width: int,
                 now_s: int) -> tuple[PointRow, int]:
    """`encoded_row_values(row, floor, ...)` and `point_row_settled`'s bound, in one pass over
    the cells of the one version's row `row`."""
    mk, dl, cf, cd = row
    if dl is not None and dl[0] > floor:
        floor = dl[0]
    live = mk is not None and not (mk[0] <= floor or (mk[1] > 0 and mk[2] <= now_s))
    newest_live = mk[0] if live else _MIN_TS  # (a)
    oldest = _MAX_TS  # (b): of the cells of `positions`' columns
    seen = 0  # bit `slot` set: that column has a cell (a set of slots: duplicates count once)
    counter = False
    out: list[bytes | None] = [None] * width
    it = iter(cf)
    for col, path, ts, value, ttl, exp, is_counter in zip(it, it, it, it, it, it, it, strict=True):
        slot = positions.get(col) if path == b"" else None
        if slot is not None:
            seen |= 1 << slot
            if ts < oldest:
                oldest = ts
        if is_counter:
            counter = True
        if value is None or ts <= floor or (ttl > 0 and exp <= now_s):
            continue
        if cd and ts <= collection_shadow(cd, col):
            continue
        live = True
        if ts > newest_live:
            newest_live = ts
        if slot is not None:
            out[slot] = value
    if counter:
        settled = _MIN_TS
    elif seen.bit_count() != len(positions):
        settled = floor
    else:
        settled = max(floor, min(newest_live, oldest))
    return (out if live else None), settled


_Heads = tuple[int, Any, "dict[str, int] | None"]


def _heads(rows: list[Any], floor: int) -> _Heads:
    """What several codec-form versions `rows` of one row hold besides their cells: the
    highest of `floor` and their row deletions, the winning marker (the greatest (timestamp,
    has TTL, expiry), the first of equals; None if none) and per column the highest collection
    deletion (None if there is none)."""
    best: tuple[int, bool, int] | None = None  # the winning marker's (timestamp, has TTL, expiry)
    best_mk = None  # that marker
    shadows: dict[str, int] | None = None  # column -> highest collection deletion timestamp
    for mk, dl, _cf, cd in rows:
        if dl is not None and dl[0] > floor:
            floor = dl[0]
        if mk is not None:
            mkey = (mk[0], mk[1] > 0, mk[2])
            if best is None or mkey > best:
                best = mkey
                best_mk = mk
        if cd:
            last: dict[str, int] = {}
            for x in range(0, len(cd), 3):
                last[cd[x]] = cd[x + 1]  # (the last entry of a column wins, as when decoding)
            if shadows is None:
                shadows = last
            else:
                for col, ts in last.items():
                    if ts > shadows.get(col, _MIN_TS - 1):
                        shadows[col] = ts
    return floor, best_mk, shadows


def _rows_settled(rows: list[Any], heads: _Heads, positions: Mapping[str, int], now_s: int) -> int:
    """`point_row_settled`'s bound for codec-form rows `rows` (several versions of one row)
    whose `_heads` are `heads`. Raises `_Unsupported` on counter cells."""
    floor, mk, shadows = heads
    cur: dict[tuple[str, bytes], tuple[Any, ...]] = {}
    for r in rows:
        it = iter(r[2])
        for c in zip(it, it, it, it, it, it, it, strict=True):
            if c[6]:
                raise _Unsupported
            k = (c[0], c[1])
            old = cur.get(k)
            if old is None or _beats(c, old):
                cur[k] = c
    newest_live = _MIN_TS
    if mk is not None and mk[0] > floor and not (mk[1] > 0 and mk[2] <= now_s):
        newest_live = mk[0]
    for (col, _path), c in cur.items():
        ts = c[2]
        if (ts > newest_live and c[3] is not None and ts > floor and not (c[4] > 0 and c[5] <= now_s)
                and not (shadows and ts <= shadows.get(col, _MIN_TS - 1))):
            newest_live = ts
    oldest = _MAX_TS
    for col in positions:
        w = cur.get((col, b""))
        if w is None:
            return floor
        if w[2] < oldest:
            oldest = w[2]
    return max(floor, min(newest_live, oldest))


def _merged_row(rows: list[Any], heads: _Heads, positions: Mapping[str, int], width: int,
                now_s: int) -> PointRow:
    """The point-lane answer for the reconciled sum of codec-form rows `rows` (several versions
    of one row) whose `_heads` are `heads`."""
    floor, best_mk, shadows = heads
    if shadows is None:
        w = newest_everywhere(rows)
        if w is not None:
            # the common overwrite: its cells win every (column, path) on timestamp alone, so the
            # merged row is its cells with the winning marker, under every version's deletions
            return encoded_row_values((best_mk, None, rows[w][2], ()), floor, positions, width, now_s)
    live = best_mk is not None and not (best_mk[0] <= floor or (best_mk[1] > 0 and best_mk[2] <= now_s))
    cur: dict[tuple[str, bytes], tuple[Any, ...]] = {}
    for r in rows:
        it = iter(r[2])
        # strict: a cell array whose length is not a multiple of 7 is malformed (ValueError)
        for c in zip(it, it, it, it, it, it, it, strict=True):
            k = (c[0], c[1])
            old = cur.get(k)
            if old is None or _beats(c, old):
                cur[k] = c
    out: list[bytes | None] = [None] * width
    for (col, path), c in cur.items():
        ts = c[2]
        value = c[3]
        if value is None or ts <= floor or (c[4] > 0 and c[5] <= now_s):
            continue
        if shadows and ts <= shadows.get(col, _MIN_TS - 1):
            continue
        live = True
        if path == b"":
            slot = positions.get(col)
            if slot is not None:
                out[slot] = value
    return out if live else None


def _beats(c: tuple[Any, ...], old: tuple[Any, ...]) -> bool:
    """Whether codec-form cell `c` wins over `old` under `reconcile_cells` (its order for
    non-counter cells: timestamp; then a tombstone; then an expiring cell; then the larger
    expiry; then the larger value). False on a tie: the two then read the same."""
    if c[6] or old[6]:
        raise _Unsupported
    ts = c[2]
    ots = old[2]
    if ts != ots:
        return bool(ts > ots)
    v = c[3]
    ov = old[3]
    if v is None or ov is None:
        return ov is not None  # a tombstone beats a live cell; two tombstones read the same
    if (c[4] > 0) != (old[4] > 0):
        return bool(c[4] > 0)
    if c[5] != old[5]:
        return bool(c[5] > old[5])
    return bool(v > ov)

"""The codec-level merge of versions of one plain row, shared by compaction (merging sstable
versions, `compaction.merge_plain_versions`) and the memtable (an overwrite of a partition it
keeps encoded, `Memtable.apply_encoded`).

A plain row (sstable_stats.py) holds no deletion of any kind and no TTL: of reconcile.py's
rules only the timestamp, expiry and value comparisons apply, so the merge needs no Mutation.
It purges nothing (there is nothing to purge in plain rows) and keeps the exact result of
`reconcile.merge_row_into`, cell order included, so a packed result is the bytes the Mutation
path would write. Pure: never modifies its inputs (a result may be one of them, as it is).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any


def newest_everywhere(rows: Sequence[Any]) -> int | None:
    """The index of the version among codec-form rows `rows` whose every cell is newer than
    every cell of the others, if they all hold the same (column, path)s in the same order, at
    least one, and no counter cell (the common overwrite); else None (then each cell takes the
    general reconcile)."""
    cf0 = rows[0][2]
    n = len(cf0)
    if not n or n % 7:
        return None
    cols = cf0[0::7]
    paths = cf0[1::7]
    lows = []
    highs = []
    for r in rows:
        cf = r[2]
        if len(cf) != n or cf[0::7] != cols or cf[1::7] != paths or True in cf[6::7]:
            return None
        t = cf[2::7]
        lows.append(min(t))
        highs.append(max(t))
    low = max(lows)
    w = lows.index(low)
    for i, high in enumerate(highs):
        if high >= low and i != w:
            return None
    return w


class PlainMergeFallback(Exception):
    """A plain merge met what it does not reconcile (a counter cell in several versions)."""


def merge_plain_rows(rs: list[Any]) -> tuple[Any, int]:
    """The codec form of rows `rs` (versions of one row as msgpack decodes them, oldest
    first, none holding a deletion or a TTL) reconciled as `reconcile.merge_row_into` merges
    them in order, and how many cells were merged away; (None, n) if the result holds nothing.
    Raises PlainMergeFallback on a counter cell present in several versions (counters merge
    shard-wise). The result may be one of `rs` itself: when every version holds the same cells
    in the same order and that one wins every cell and the marker (the common overwrite;
    callers test `is` to reuse its bytes).

    Of reconcile.py's rules only these apply: markers, the higher (timestamp, expiry) wins, the
    earlier version on a tie; cells per (column, path), the higher timestamp, on a tie the
    larger expiry, then the larger value, the earlier version on a full tie (the two are then
    equal). Cells keep the order of their first appearance (the slow path's dict order).
    Nothing is dropped: compaction's purge of data at timestamp -2**63 is the caller's check.
    """
    mk = None
    for r in rs:
        m = r[0]
        if m is not None and (mk is None or (m[0], m[2]) > (mk[0], mk[2])):
            mk = m
    n = len(rs[0][2]) // 7
    if n:
        w = newest_everywhere(rs)
        if w is not None:
            # one version is newer in every cell: its cells win them all
            rw = rs[w]
            return rw if rw[0] == mk else (mk, None, rw[2], ()), n * (len(rs) - 1)
    elif all(not r[2] for r in rs):
        return (None, 0) if mk is None else ((mk, None, (), ()), 0)
    cur: dict[tuple[str, bytes], Any] = {}
    merged = 0
    for r in rs:
        cells = r[2]
        for i in range(0, len(cells), 7):
            c = cells[i:i + 7]
            k = c[:2]
            old = cur.get(k)
            if old is None:
                cur[k] = c
                continue
            merged += 1
            if old[6] or c[6]:
                raise PlainMergeFallback
            ts = c[2]
            ots = old[2]
            if ts > ots or (ts == ots and (c[5], c[3]) > (old[5], old[3])):
                cur[k] = c  # (an existing key keeps its place in the dict)
    if mk is None and not cur:
        return None, merged
    return (mk, None, list(chain.from_iterable(cur.values())), ()), merged

"""Reconciliation: merging versions of the same data (contracts.md section 1.1).

Rules (Cassandra's): the higher write timestamp wins; on a tie a tombstone beats a live cell,
then an expiring cell beats a non-expiring one, then the larger `expiry_s`, then the larger
value (bytewise). Live counter cells merge shard-wise instead; a counter tombstone always wins,
because counter deletes are final. Deletion times: the larger timestamp wins (tie: later
local deletion time). Every function here is pure with respect to its inputs except the
`*_into` functions, which mutate only their `dst` argument.
"""

from __future__ import annotations

from .counter import merge_counter_values
from .mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row


def reconcile_cells(a: Cell, b: Cell) -> Cell:
    if a.counter or b.counter:
        a_dead = a.value is None
        b_dead = b.value is None
        if a_dead or b_dead:
            if a_dead and b_dead:
                return a if a.timestamp_us >= b.timestamp_us else b
            return a if a_dead else b
        assert a.value is not None and b.value is not None
        return Cell(max(a.timestamp_us, b.timestamp_us), merge_counter_values(a.value, b.value),
                    counter=True)
    at = a.timestamp_us
    bt = b.timestamp_us
    if at != bt:
        return a if at > bt else b
    av = a.value
    bv = b.value
    if av is None or bv is None:
        if av is None and bv is None:
            return a if (a.expiry_s, a.ttl_s) >= (b.expiry_s, b.ttl_s) else b
        return a if av is None else b
    if (a.ttl_s > 0) != (b.ttl_s > 0):
        return a if a.ttl_s > 0 else b
    if a.expiry_s != b.expiry_s:
        return a if a.expiry_s > b.expiry_s else b
    if av != bv:
        return a if av > bv else b
    return a if a.ttl_s >= b.ttl_s else b  # only to make the merge a total order


def max_deletion(a: DeletionTime | None, b: DeletionTime | None) -> DeletionTime | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.timestamp_us != b.timestamp_us:
        return a if a.timestamp_us > b.timestamp_us else b
    return a if a.local_deletion_time_s >= b.local_deletion_time_s else b


def reconcile_markers(a: LivenessInfo | None, b: LivenessInfo | None) -> LivenessInfo | None:
    if a is None:
        return b
    if b is None:
        return a
    ka = (a.timestamp_us, a.ttl_s > 0, a.expiry_s)
    kb = (b.timestamp_us, b.ttl_s > 0, b.expiry_s)
    return a if ka >= kb else b


def copy_row(row: Row) -> Row:
    return Row(row.marker, row.deletion, dict(row.cells), dict(row.collection_deletions))


def merge_row_into(dst: Row, src: Row) -> None:
    if src.marker is not None:
        dst.marker = reconcile_markers(dst.marker, src.marker)
    if src.deletion is not None:
        dst.deletion = max_deletion(dst.deletion, src.deletion)
    cells = dst.cells
    for k, c in src.cells.items():
        old = cells.get(k)
        cells[k] = c if old is None else reconcile_cells(old, c)
    if src.collection_deletions:
        cd = dst.collection_deletions
        for col, dt in src.collection_deletions.items():
            cd[col] = max_deletion(cd.get(col), dt)  # type: ignore[assignment]


def merge_mutation_into(dst: Mutation, src: Mutation, *, take_ownership: bool = False) -> None:
    """Merge `src` into `dst`.

    With `take_ownership`, Row objects of `src` may be stored in `dst` without copying (the
    memtable does this: it owns applied mutations). Otherwise `src` is left untouched and never
    aliased, so `src` may be a memtable or sstable version shared with other readers.
    """
    if src.partition_deletion is not None:
        dst.partition_deletion = max_deletion(dst.partition_deletion, src.partition_deletion)
    if src.static_row is not None:
        if dst.static_row is None:
            dst.static_row = src.static_row if take_ownership else copy_row(src.static_row)
        else:
            merge_row_into(dst.static_row, src.static_row)
    rows = dst.rows
    for ck, row in src.rows.items():
        old = rows.get(ck)
        if old is None:
            rows[ck] = row if take_ownership else copy_row(row)
        else:
            merge_row_into(old, row)
    if src.range_tombstones:
        if dst.range_tombstones:
            seen = set(dst.range_tombstones)
            dst.range_tombstones.extend(rt for rt in src.range_tombstones if rt not in seen)
        else:
            dst.range_tombstones = list(src.range_tombstones)


def merge_versions(token: int, key: bytes, versions: list[Mutation]) -> Mutation:
    """One reconciled Mutation from several versions; the inputs are not modified."""
    out = Mutation(token, key)
    for v in versions:
        merge_mutation_into(out, v)
    return out


def covering_deletion(rts: list[RangeTombstone], ck: bytes) -> int:
    """Highest timestamp among range tombstones covering clustering `ck` (-2**63 if none)."""
    best = -(1 << 63)
    for rt in rts:
        if rt.start <= ck < rt.end and rt.deletion.timestamp_us > best:
            best = rt.deletion.timestamp_us
    return best

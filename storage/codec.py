"""Mutation <-> msgpack encoding shared by the commitlog and sstable data blocks.

Grammar (format version 1; see docs/storage/formats.md; field order never changes):

    partition  := [token:int, key:bin, pdel, static:row|nil, rows, rts]
    pdel       := nil | [timestamp_us:int, local_deletion_time_s:int]
    rows       := [ck:bin, row, ck:bin, row, ...]        (clustering bytes ascending)
    row        := [marker, deletion, cells, coll_dels]
    marker     := nil | [timestamp_us, ttl_s, expiry_s]
    deletion   := pdel
    cells      := [column:str, path:bin, timestamp_us, value:bin|nil, ttl_s, expiry_s, counter:bool, ...]
    coll_dels  := [column:str, timestamp_us, local_deletion_time_s, ...]
    rts        := [start:bin, end:bin, timestamp_us, local_deletion_time_s, ...]

Flat arrays (not arrays of arrays) keep both packing and unpacking cheap: this codec is on the
write path of every INSERT.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row

# one Packer reused: msgpack.packb would build a new one per call (this is on every INSERT)
_packer = msgpack.Packer(use_bin_type=True)
_pack = _packer.pack


def row_to_obj(row: Row) -> list[Any]:
    m = row.marker
    d = row.deletion
    cells: list[Any] = []
    ext = cells.extend
    for (col, path), c in row.cells.items():
        ext((col, path, c.timestamp_us, c.value, c.ttl_s, c.expiry_s, c.counter))
    cd: list[Any] = []
    if row.collection_deletions:
        for col, dt in row.collection_deletions.items():
            cd.extend((col, dt.timestamp_us, dt.local_deletion_time_s))
    return [
        None if m is None else (m.timestamp_us, m.ttl_s, m.expiry_s),
        None if d is None else (d.timestamp_us, d.local_deletion_time_s),
        cells,
        cd,
    ]


def mutation_to_obj(m: Mutation, rows_sorted: bool = False) -> list[Any]:
    """Requires nothing of `m.rows` order unless `rows_sorted` asks for ascending clustering."""
    pd = m.partition_deletion
    rows: list[Any] = []
    if m.rows:
        items = sorted(m.rows.items()) if rows_sorted else m.rows.items()
        ext = rows.extend
        for ck, row in items:
            ext((ck, row_to_obj(row)))
    rts: list[Any] = []
    for rt in m.range_tombstones:
        rts.extend((rt.start, rt.end, rt.deletion.timestamp_us, rt.deletion.local_deletion_time_s))
    st = m.static_row
    return [
        m.token,
        m.key,
        None if pd is None else (pd.timestamp_us, pd.local_deletion_time_s),
        None if st is None else row_to_obj(st),
        rows,
        rts,
    ]


def encode_mutation(m: Mutation) -> bytes:
    return _pack(mutation_to_obj(m))  # type: ignore[no-any-return]


def row_from_obj(o: Any) -> Row:
    mk, dl, cells_flat, cd = o
    cells: dict[tuple[str, bytes], Cell] = {}
    for i in range(0, len(cells_flat), 7):
        cells[(cells_flat[i], cells_flat[i + 1])] = Cell(
            cells_flat[i + 2], cells_flat[i + 3], cells_flat[i + 4], cells_flat[i + 5], cells_flat[i + 6]
        )
    colls: dict[str, DeletionTime] = {}
    for i in range(0, len(cd), 3):
        colls[cd[i]] = DeletionTime(cd[i + 1], cd[i + 2])
    return Row(
        None if mk is None else LivenessInfo(mk[0], mk[1], mk[2]),
        None if dl is None else DeletionTime(dl[0], dl[1]),
        cells,
        colls,
    )


def mutation_from_obj(o: Any) -> Mutation:
    token, key, pd, st, rows_flat, rts_flat = o
    rows: dict[bytes, Row] = {}
    for i in range(0, len(rows_flat), 2):
        rows[rows_flat[i]] = row_from_obj(rows_flat[i + 1])
    rts = [
        RangeTombstone(rts_flat[i], rts_flat[i + 1], DeletionTime(rts_flat[i + 2], rts_flat[i + 3]))
        for i in range(0, len(rts_flat), 4)
    ]
    return Mutation(
        token,
        key,
        None if pd is None else DeletionTime(pd[0], pd[1]),
        None if st is None else row_from_obj(st),
        rows,
        rts,
    )


def decode_mutation(data: bytes) -> Mutation:
    return mutation_from_obj(msgpack.unpackb(data, raw=False, use_list=False))

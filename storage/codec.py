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

Decoding builds the mutation.py objects without calling their dataclass `__init__`s (see
`_constructor`) for the frozen classes: decode runs for every point read, scanned partition and
replayed commitlog entry, and a frozen dataclass's generated `__init__` costs twice what
assigning its slots does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack

from .mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row

T = TypeVar("T")

# one Packer reused: msgpack.packb would build a new one per call (this is on every INSERT)
_packer = msgpack.Packer(use_bin_type=True)
_pack = _packer.pack
_unpackb = msgpack.unpackb


def _constructor(cls: type[T], *fields: str) -> Callable[..., T]:
    """A function building `cls(*values)` for the listed fields (all of them, in order) by
    assigning each slot through its descriptor. Same object as the dataclass `__init__` makes
    (these classes have no __post_init__); a frozen dataclass's `__init__` goes through
    `object.__setattr__` by name per field instead, which is what makes it slow."""
    if tuple(f.name for f in dataclasses.fields(cls)) != fields:  # type: ignore[arg-type]
        raise TypeError(f"{cls.__name__} fields changed: update the codec")
    setters = [getattr(cls, f).__set__ for f in fields]
    new = object.__new__
    if len(fields) == 2:
        s0, s1 = setters

        def make2(a: Any, b: Any) -> T:
            o = new(cls)
            s0(o, a)
            s1(o, b)
            return o
        return make2
    if len(fields) == 3:
        s0, s1, s2 = setters

        def make3(a: Any, b: Any, c: Any) -> T:
            o = new(cls)
            s0(o, a)
            s1(o, b)
            s2(o, c)
            return o
        return make3
    if len(fields) == 5:
        s0, s1, s2, s3, s4 = setters

        def make5(a: Any, b: Any, c: Any, d: Any, e: Any) -> T:
            o = new(cls)
            s0(o, a)
            s1(o, b)
            s2(o, c)
            s3(o, d)
            s4(o, e)
            return o
        return make5
    raise TypeError(f"no constructor for {len(fields)} fields")


make_cell = _constructor(Cell, "timestamp_us", "value", "ttl_s", "expiry_s", "counter")
make_liveness = _constructor(LivenessInfo, "timestamp_us", "ttl_s", "expiry_s")
make_deletion = _constructor(DeletionTime, "timestamp_us", "local_deletion_time_s")
make_range_tombstone = _constructor(RangeTombstone, "start", "end", "deletion")
# Row and Mutation are not frozen: their generated __init__ is already plain attribute stores


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


_NO_ITEMS: tuple[()] = ()


def _row_tuple(row: Row) -> tuple[Any, ...]:
    """`row_to_obj` built from tuples (cheaper to make than lists; packed the same)."""
    m = row.marker
    d = row.deletion
    cells = row.cells
    if len(cells) == 1:
        for (col, path), c in cells.items():
            cf: tuple[Any, ...] = (col, path, c.timestamp_us, c.value, c.ttl_s, c.expiry_s, c.counter)
    else:
        cf = tuple(x for (col, path), c in cells.items()
                   for x in (col, path, c.timestamp_us, c.value, c.ttl_s, c.expiry_s, c.counter))
    cds = row.collection_deletions
    return (
        None if m is None else (m.timestamp_us, m.ttl_s, m.expiry_s),
        None if d is None else (d.timestamp_us, d.local_deletion_time_s),
        cf,
        tuple(x for col, dt in cds.items() for x in (col, dt.timestamp_us, dt.local_deletion_time_s))
        if cds else _NO_ITEMS,
    )


def encode_mutation(m: Mutation) -> bytes:
    """The bytes of `mutation_to_obj(m)` (rows in any order), made without building lists: this
    is on the write path of every INSERT."""
    pd = m.partition_deletion
    st = m.static_row
    rows = m.rows
    if len(rows) == 1:
        for ck, row in rows.items():
            flat: tuple[Any, ...] = (ck, _row_tuple(row))
    else:
        flat = tuple(x for ck, row in rows.items() for x in (ck, _row_tuple(row)))
    rts = m.range_tombstones
    return _pack((  # type: ignore[no-any-return]
        m.token,
        m.key,
        None if pd is None else (pd.timestamp_us, pd.local_deletion_time_s),
        None if st is None else _row_tuple(st),
        flat,
        tuple(x for rt in rts for x in (rt.start, rt.end, rt.deletion.timestamp_us,
                                         rt.deletion.local_deletion_time_s)) if rts else _NO_ITEMS,
    ))


def row_from_obj(o: Any) -> Row:
    mk, dl, cf, cd = o
    cells: dict[tuple[str, bytes], Cell] = {}
    if len(cf) == 7:  # the common case: one cell
        cells[(cf[0], cf[1])] = make_cell(cf[2], cf[3], cf[4], cf[5], cf[6])
    else:
        for i in range(0, len(cf), 7):
            cells[(cf[i], cf[i + 1])] = make_cell(cf[i + 2], cf[i + 3], cf[i + 4], cf[i + 5], cf[i + 6])
    colls: dict[str, DeletionTime] = {}
    for i in range(0, len(cd), 3):
        colls[cd[i]] = make_deletion(cd[i + 1], cd[i + 2])
    return Row(
        None if mk is None else make_liveness(mk[0], mk[1], mk[2]),
        None if dl is None else make_deletion(dl[0], dl[1]),
        cells,
        colls,
    )


def mutation_from_obj(o: Any) -> Mutation:
    token, key, pd, st, rows_flat, rts_flat = o
    rows: dict[bytes, Row] = {}
    if len(rows_flat) == 2:  # the common case: one row
        rows[rows_flat[0]] = row_from_obj(rows_flat[1])
    else:
        for i in range(0, len(rows_flat), 2):
            rows[rows_flat[i]] = row_from_obj(rows_flat[i + 1])
    rts = [
        make_range_tombstone(rts_flat[i], rts_flat[i + 1], make_deletion(rts_flat[i + 2], rts_flat[i + 3]))
        for i in range(0, len(rts_flat), 4)
    ] if rts_flat else []
    return Mutation(
        token,
        key,
        None if pd is None else make_deletion(pd[0], pd[1]),
        None if st is None else row_from_obj(st),
        rows,
        rts,
    )


def decode_mutation(data: bytes) -> Mutation:
    return mutation_from_obj(_unpackb(data, raw=False, use_list=False))

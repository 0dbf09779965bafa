"""Mutation <-> msgpack encoding shared by the commitlog, memtables and sstable data blocks.

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

`encode_mutation` always writes rows in ascending clustering order, so a mutation with at most
one range tombstone encodes to exactly the bytes an sstable stores for it (`mutation_to_obj`
with `rows_sorted=True`, packed): the memtable keeps a partition written once in this form and
a flush copies it as is.

The plain-write lane (`encode_plain_row`, `PlainRowEncoder`) makes the same bytes for a one-row
CQL write straight from its values, without building the Mutation first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from .mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row

_unpackb = msgpack.unpackb


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


def _row_list(row: Row) -> list[Any]:
    """`row_to_obj(row)`, built a little more cheaply."""
    m = row.marker
    d = row.deletion
    cf: list[Any] = []
    for (col, path), c in row.cells.items():
        cf += (col, path, c.timestamp_us, c.value, c.ttl_s, c.expiry_s, c.counter)
    cd: list[Any] = []
    cds = row.collection_deletions
    if cds:
        for col, dt in cds.items():
            cd += (col, dt.timestamp_us, dt.local_deletion_time_s)
    return [
        None if m is None else [m.timestamp_us, m.ttl_s, m.expiry_s],
        None if d is None else [d.timestamp_us, d.local_deletion_time_s],
        cf,
        cd,
    ]


def _rts_key(rt: RangeTombstone) -> tuple[bytes, bytes, int]:
    return (rt.start, rt.end, rt.deletion.timestamp_us)


def partition_obj(m: Mutation, sort_range_tombstones: bool = False) -> list[Any]:
    """`mutation_to_obj(m, rows_sorted=True)`, built a little more cheaply, of lists only (what
    a `strict_packer` takes). `sort_range_tombstones`: in ascending (start, end, timestamp)
    order, as sstables store them (otherwise in `m`'s order)."""
    pd = m.partition_deletion
    st = m.static_row
    rows = m.rows
    if len(rows) == 1:
        for ck, row in rows.items():
            flat = [ck, _row_list(row)]
    else:
        flat = []
        for ck, row in sorted(rows.items()):  # clustering keys are distinct: rows never compare
            flat += (ck, _row_list(row))
    rf: list[Any] = []
    rts = m.range_tombstones
    if rts:
        if sort_range_tombstones and len(rts) > 1:
            rts = sorted(rts, key=_rts_key)
        for rt in rts:
            d = rt.deletion
            rf += (rt.start, rt.end, d.timestamp_us, d.local_deletion_time_s)
    return [
        m.token,
        m.key,
        None if pd is None else [pd.timestamp_us, pd.local_deletion_time_s],
        None if st is None else _row_list(st),
        flat,
        rf,
    ]


def _strict_default(o: Any) -> Any:
    """What a strict-types packer cannot take itself, as the type a plain packer would have
    packed it as (the same bytes): a tuple as a list, a subclass as its base type."""
    if isinstance(o, (tuple, list)):
        return list(o)
    if isinstance(o, int):  # (bool is final: True and False never get here)
        return int(o)
    if isinstance(o, str):
        return str(o)
    if isinstance(o, (bytes, bytearray, memoryview)):
        return bytes(o)
    if isinstance(o, float):
        return float(o)
    if isinstance(o, dict):
        return dict(o)
    raise TypeError(f"can not serialize {type(o).__name__!r} object")


def strict_packer() -> msgpack.Packer:
    """A Packer checking exact types (fewer checks per value: ~20% cheaper for our partitions)
    that writes the same bytes as `msgpack.Packer(use_bin_type=True)`. Not thread-safe: one per
    thread."""
    return msgpack.Packer(use_bin_type=True, strict_types=True, default=_strict_default)


_pack = strict_packer().pack  # event loop only (flush and compaction threads have their own)


def encode_mutation(m: Mutation) -> bytes:
    """The bytes of `mutation_to_obj(m, rows_sorted=True)` (range tombstones in `m`'s order),
    made as cheaply as it can: this is on the write path of every INSERT."""
    return _pack(partition_obj(m))  # type: ignore[no-any-return]


# (min timestamp, max timestamp, cells) of a plain partition; min > max if it holds nothing
PlainSummary = tuple[int, int, int]
_MAX_I64 = (1 << 63) - 1
_MIN_I64 = -(1 << 63)


def encode_mutation_summarized(m: Mutation) -> tuple[bytes, PlainSummary | None]:
    """`encode_mutation(m)`, and if `m` is one row of live cells without TTL (and a marker
    without TTL, or none) and nothing else, what its sstable statistics need, gathered in the
    encoding loop: a memtable would otherwise walk the cells again (`StatsCollector.add`)."""
    rows = m.rows
    if len(rows) != 1 or m.partition_deletion is not None or m.static_row is not None or m.range_tombstones:
        return _pack(partition_obj(m)), None
    ((ck, row),) = rows.items()
    mk = row.marker
    if row.deletion is not None or row.collection_deletions or (mk is not None and mk.ttl_s):
        return _pack(partition_obj(m)), None
    if mk is None:
        lo = _MAX_I64
        hi = _MIN_I64
        marker = None
    else:
        lo = hi = mk.timestamp_us
        marker = [lo, mk.ttl_s, mk.expiry_s]
    plain = True
    cf: list[Any] = []
    for (col, path), c in row.cells.items():
        ts = c.timestamp_us
        v = c.value
        ttl = c.ttl_s
        cf += (col, path, ts, v, ttl, c.expiry_s, c.counter)
        if v is None or ttl:
            plain = False
        if ts < lo:
            lo = ts
        if ts > hi:
            hi = ts
    payload: bytes = _pack([m.token, m.key, None, None, [ck, [marker, None, cf, []]], []])
    return payload, (lo, hi, len(cf) // 7) if plain else None


def encode_plain_row(token: int, key: bytes, ck: bytes, marker: bool, columns: Sequence[str],
                     values: Sequence[bytes | None], ts: int, ttl: int, expiry: int,
                     now_s: int) -> tuple[bytes, PlainSummary | None]:
    """`encode_mutation_summarized` of the mutation a plain CQL write makes of one row, made
    without building it: partition (token, key), row `ck` holding, if `marker`, a row marker
    (ts, ttl, expiry) and one simple cell per column, in `columns` order: the value of
    `values` at the same index with (ts, ttl, expiry), or for None a cell tombstone
    (ts, local deletion time now_s, no TTL). A row with neither marker nor cells is not
    written: the partition is then empty, as the mutation would be.

    Requires: `columns` distinct; `ttl` 0 (and `expiry` 0) or positive. The bytes and the
    summary are the same as the Mutation path's, so the memtable, the commitlog and a replay
    cannot tell the two apart (tests/storage/test_write_lane.py checks it)."""
    cf: list[Any] = []
    plain = not ttl  # a TTL or a tombstone makes the partition non-plain (no summary)
    for col, v in zip(columns, values, strict=True):
        if v is None:
            cf += (col, b"", ts, None, 0, now_s, False)
            plain = False
        else:
            cf += (col, b"", ts, v, ttl, expiry, False)
    if not cf and not marker:
        return _pack([token, key, None, None, [], []]), None
    payload: bytes = _pack([token, key, None, None, [ck, [[ts, ttl, expiry] if marker else None, None, cf, []]],
                            []])
    return payload, (ts, ts, len(cf) // 7) if plain else None


class PlainRowEncoder:
    """`encode_plain_row` for one fixed, non-empty list of columns (a prepared statement's),
    cheaper per call: the cell array is copied from a template made once, and the per-write
    fields are stored into it by slice (no Python-level step per cell). Values with a None
    (cell tombstones) take `encode_plain_row` itself. Immutable; safe to share."""

    __slots__ = ("_count", "_template", "columns")

    def __init__(self, columns: Sequence[str]) -> None:
        if not columns:
            raise ValueError("a plain row encoder needs at least one column")
        self.columns = tuple(columns)
        self._count = len(self.columns)
        template: list[Any] = []
        for col in self.columns:
            template += (col, b"", 0, None, 0, 0, False)
        self._template = template

    def encode(self, token: int, key: bytes, ck: bytes, marker: bool, values: Sequence[bytes | None], ts: int,
               ttl: int, expiry: int, now_s: int) -> tuple[bytes, PlainSummary | None]:
        """`encode_plain_row(token, key, ck, marker, self.columns, values, ...)`.
        Requires: one value per column."""
        if None in values:
            return encode_plain_row(token, key, ck, marker, self.columns, values, ts, ttl, expiry, now_s)
        n = self._count
        cf = self._template.copy()
        # (extended slice assignment raises ValueError unless `values` has one value per column)
        cf[3::7] = values
        cf[2::7] = (ts,) * n
        if ttl:
            cf[4::7] = (ttl,) * n
            cf[5::7] = (expiry,) * n
        payload: bytes = _pack([token, key, None, None, [ck, [[ts, ttl, expiry] if marker else None, None, cf, []]],
                                []])
        return payload, None if ttl else (ts, ts, n)


def row_from_obj(o: Any) -> Row:
    mk, dl, cf, cd = o
    cells: dict[tuple[str, bytes], Cell] = {}
    it = iter(cf)
    # strict: a cell array whose length is not a multiple of 7 is malformed (ValueError)
    for col, path, ts, value, ttl, exp, counter in zip(it, it, it, it, it, it, it, strict=True):
        cells[(col, path)] = Cell(ts, value, ttl, exp, counter)
    if len(cd):
        colls: dict[str, DeletionTime] | None = {}
        for i in range(0, len(cd), 3):
            colls[cd[i]] = DeletionTime(cd[i + 1], cd[i + 2])  # type: ignore[index]
    else:
        colls = None
    return Row(
        None if mk is None else LivenessInfo(mk[0], mk[1], mk[2]),
        None if dl is None else DeletionTime(dl[0], dl[1]),
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
    return Mutation(
        token,
        key,
        None if pd is None else DeletionTime(pd[0], pd[1]),
        None if st is None else row_from_obj(st),
        rows,
        [RangeTombstone(rts_flat[i], rts_flat[i + 1], DeletionTime(rts_flat[i + 2], rts_flat[i + 3]))
         for i in range(0, len(rts_flat), 4)] if rts_flat else None,
    )


def decode_mutation(data: bytes) -> Mutation:
    return mutation_from_obj(_unpackb(data, raw=False, use_list=False))

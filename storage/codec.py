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

import struct
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


# Pieces of msgpack's own encoding, for `PlainRowEncoder` to join rather than pack (format spec:
# github.com/msgpack/msgpack/blob/master/spec.md). Every constant piece is made by `_pack`
# itself; the few encodings written here by hand (bin headers, 64-bit ints) are the ones a
# `Packer(use_bin_type=True)` chooses, and tests/storage/test_plain_row_bytes.py compares
# them with it at every boundary.
_BIN8_HEADERS = tuple(bytes((0xC4, n)) for n in range(256))  # bin 8: lengths < 256
_BIN8_HEADER_OF = dict(enumerate(_BIN8_HEADERS)).__getitem__  # (a dict's is a fast builtin method)
_pack_bin16_header = struct.Struct(">BH").pack
_pack_bin32_header = struct.Struct(">BI").pack
_pack_uint64 = struct.Struct(">BQ").pack
_pack_int64 = struct.Struct(">Bq").pack
_UINT32_END = 1 << 32
_FALSE_BYTES = _pack(False)
_INT32_MIN = -(1 << 31)


def _bin_header(n: int) -> bytes:
    """The msgpack header of a bin of `n` bytes (n < 2**32)."""
    if n < 256:
        return _BIN8_HEADERS[n]
    return _pack_bin16_header(0xC5, n) if n < 65536 else _pack_bin32_header(0xC6, n)


def _int_bytes(v: int) -> bytes:
    """`_pack(v)` for an int64: timestamps and tokens nearly always take one of the two 9-byte
    forms msgpack picks for |v| beyond 32 bits (uint 64 for v >= 2**32, int 64 below -2**31)."""
    if v >= _UINT32_END:
        return _pack_uint64(0xCF, v)
    if v < _INT32_MIN:
        return _pack_int64(0xD3, v)
    return _pack(v)  # type: ignore[no-any-return]


class PlainRowEncoder:
    """`encode_plain_row` for one fixed, non-empty list of columns (a prepared statement's),
    cheaper per call: the payload is joined from msgpack pieces (constant ones made once, per
    write only the token, key, timestamp, TTL and the values with their bin headers) instead of
    building the partition's nested lists and packing them, which was most of a write's codec
    work. Values with a None (cell tombstones) take `encode_plain_row` itself. Immutable; safe to
    share."""

    __slots__ = ("_count", "_row_no_marker", "_row_plain_marker", "_template", "columns")

    def __init__(self, columns: Sequence[str]) -> None:
        if not columns:
            raise ValueError("a plain row encoder needs at least one column")
        self.columns = tuple(columns)
        n = self._count = len(self.columns)
        # The payload, `[token, key, None, None, [ck, [marker, None, cells, []]], []]`, as pieces:
        #   0 array(6)  1 token  2 key header  3 key  4 nil nil array(2)  5 ck header  6 ck (an
        #   empty ck as template)
        #   7 array(4) and the marker up to its timestamp  8 timestamp  9 the marker's rest, nil,
        #   array(7n)  then per cell i at 10 + 5i: column and empty path, timestamp, value header,
        #   value, (TTL, expiry, false)  and last: the two empty arrays.
        cells_header: bytes = _pack(None) + _pack([None] * (7 * n))[:-(7 * n)]  # nil, array(7n) header
        self._row_no_marker = _pack([None] * 4)[:1] + _pack(None) + cells_header
        self._row_plain_marker = _pack([0, 0])[1:] + cells_header  # "TTL 0, expiry 0", then the rest
        template: list[bytes] = [
            _pack([None] * 6)[:1], b"", b"", b"", _pack(None) * 2 + _pack([None] * 2)[:1], _pack(b""), b"",
            _pack([None] * 4)[:1] + _pack([None] * 3)[:1], b"", self._row_plain_marker,
        ]
        for col in self.columns:
            template += (_pack(col) + _pack(b""), b"", b"", b"", _pack(0) + _pack(0) + _pack(False))
        template.append(_pack([]) * 2)
        self._template = template

    def encode(self, token: int, key: bytes, ck: bytes, marker: bool, values: Sequence[bytes | None], ts: int,
               ttl: int, expiry: int, now_s: int) -> tuple[bytes, PlainSummary | None]:
        """`encode_plain_row(token, key, ck, marker, self.columns, values, ...)`: the same bytes,
        summary and errors (ValueError unless one value per column). A value that has no len()
        (None, or anything else but bytes) is handed to `encode_plain_row` itself."""
        parts: list[Any] = self._template.copy()
        # (typed Any: the values are bytes once the header line has passed; mypy cannot follow)
        sized: Sequence[Any] = values
        try:
            # len(None) raises TypeError: a None value (a cell tombstone) is found here, with no
            # `None in values` pass (~1k instructions).
            parts[12::5] = map(_BIN8_HEADER_OF, map(len, sized))
        except TypeError:
            return encode_plain_row(token, key, ck, marker, self.columns, values, ts, ttl, expiry, now_s)
        except KeyError:  # a value of 256 bytes or more
            parts[12::5] = map(_bin_header, map(len, sized))
        n = self._count
        parts[13::5] = values
        tsb = parts[8] = _pack_uint64(0xCF, ts) if ts >= _UINT32_END else _int_bytes(ts)
        parts[11::5] = (tsb,) * n
        parts[1] = _pack_uint64(0xCF, token) if token >= _UINT32_END else _int_bytes(token)
        n_key = len(key)
        parts[2] = _BIN8_HEADERS[n_key] if n_key < 256 else _bin_header(n_key)
        parts[3] = key
        if ck:
            parts[5] = _bin_header(len(ck))
            parts[6] = ck
        if ttl:
            tail = _int_bytes(ttl) + _int_bytes(expiry)
            parts[14::5] = (tail + _FALSE_BYTES,) * n
            if marker:
                parts[9] = tail + self._row_plain_marker[2:]
        if not marker:
            parts[7] = parts[7][:1]
            parts[8] = b""
            parts[9] = self._row_no_marker[1:]
        return b"".join(parts), None if ttl else (ts, ts, n)


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

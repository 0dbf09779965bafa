"""SELECT execution: reads, filtering, limits, ordering, aggregation and paging.

Owns the read path of CQL on top of `StorageProxy`: a prepared `SelectPlan` plus bind values and
paging parameters produce one page of wire rows and the paging state to resume from.

Paging state (opaque to clients; version 1): msgpack `[1, key, clustering, rows_so_far,
partition_rows_so_far]`, where `key`/`clustering` is the last row returned (`clustering` None when
that partition is finished or had no clustering rows). Resuming continues strictly after it.
Virtual tables page by row index: `[1, None, None, index, 0]`.

Invariants: a page never holds more than `page_size` rows; LIMIT and PER PARTITION LIMIT count
rows that passed the filters; aggregates read every matching row and return one row, unpaged.

The point-read lane (`SelectPlan.point`, `execute_point`): a SELECT of plain columns naming one
row by its full primary key asks storage for that row's values as a list (`read_row`), which
becomes the result row once the key columns are filled in from the key bytes, with no row view,
page builder or per-column getter. Whatever storage cannot answer that way (several versions of
the partition, another shard owns it) comes back as a PartitionData and goes through the general
machinery, so both ways return the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass

import msgpack

from cql import ast as A
from cql.errors import InvalidRequest, ProtocolError
from cql.schema import ColumnKind
from cql.types import INT
from storage.read import PartitionData, PointRow, Slice

from .restrictions import Restrictions, analyze
from .selection import Aggregate, FunctionLookup, RowView, Selection, column_value_getter, prepare_selection
from .table_info import ColumnInfo, TableInfo
from .values import UNSET, BindValues, FunctionResolver, Receiver, ValueGetter, compile_term

_FULL_RANGE = (b"", b"\xff")
_STATE_VERSION = 1


@dataclass
class PageResult:
    rows: list[list[bytes | None]]
    paging_state: bytes | None


class _PageBuilder:
    """The page being filled by `SelectPlan.execute`, and the position reached."""

    __slots__ = ("aggregates", "last", "limit", "more", "out", "page_size", "per_partition_cap", "row_filter",
                 "rows_so_far")

    def __init__(self, limit: int | None, page_size: int | None, per_partition_cap: int | None,
                 row_filter: Callable[[RowView], bool] | None, aggregates: list[Aggregate] | None,
                 rows_so_far: int) -> None:
        self.limit = limit
        self.page_size = page_size
        self.per_partition_cap = per_partition_cap
        self.row_filter = row_filter
        self.aggregates = aggregates
        self.rows_so_far = rows_so_far
        self.out: list[list[bytes | None]] = []
        self.last: tuple[bytes, bytes | None, int] | None = None  # (key, clustering, partition rows)
        self.more = False


ReadFn = Callable[[TableInfo, int, bytes, Slice], Awaitable[PartitionData | None]]
ScanFn = Callable[[TableInfo, tuple[int, bytes] | None, int, int, Slice], AsyncIterator[PartitionData]]
VirtualRowsFn = Callable[[TableInfo], Iterable[dict[str, bytes | None]]]
# (table id, token, key, clustering key, positions, width, slice) -> the row's values as
# `StorageEngine.read_row` gives them, or the general result (a PartitionData, None, or, when
# another shard owns the partition, an awaitable of one)
ReadRowFn = Callable[[uuid.UUID, int, bytes, bytes, Mapping[str, int], int, Slice],
                     PointRow | PartitionData | Awaitable[PartitionData | None]]


@dataclass(frozen=True, slots=True)
class PointLane:
    """How the point-read lane builds a result row (built once per prepared statement).

    Storage fills `positions` (regular column -> result index) of a list of `width` values; the
    key columns' slots are filled here from the partition key and clustering key bytes, as the
    general path's row view takes them."""

    positions: dict[str, int]
    width: int
    pk_slots: tuple[tuple[int, int], ...]  # (result index, partition key component)
    ck_slots: tuple[tuple[int, int], ...]  # (result index, clustering key component)

    def complete(self, values: list[bytes | None], table: TableInfo, key: bytes, ck: bytes) -> list[bytes | None]:
        if self.pk_slots:
            pk = table.split_partition_key(key)
            for i, pos in self.pk_slots:
                values[i] = pk[pos]
        if self.ck_slots:
            cks = table.decode_clustering(ck)
            for i, pos in self.ck_slots:
                values[i] = cks[pos]
        return values


@dataclass
class SelectPlan:
    table: TableInfo
    restrictions: Restrictions
    selection: Selection
    reverse: bool
    limit: ValueGetter | None
    per_partition_limit: ValueGetter | None
    distinct: bool
    order_by_sort: bool            # IN on partition key + ORDER BY: sort merged rows
    point: PointLane | None = None  # set when the statement may take the point-read lane

    # --- helpers --------------------------------------------------------------------------

    def _int_param(self, g: ValueGetter | None, bind: BindValues, what: str) -> int | None:
        if g is None:
            return None
        v = g(bind)
        if v is None or v is UNSET:
            return None
        assert isinstance(v, bytes)
        n = int.from_bytes(v, "big", signed=True)
        if n <= 0:
            raise InvalidRequest(f"{what} must be strictly positive")
        return n

    def _views(self, p: PartitionData, now_s: int, reversed_rows: bool) -> Iterator[RowView]:
        t = self.table
        pk = t.split_partition_key(p.key)
        if not p.rows:
            # A partition with only static data shows as one row with null clustering columns,
            # unless the query restricts clustering columns (then it matches nothing).
            if p.static_row is not None and self.restrictions.eq_prefix_len == 0 \
                    and not self.restrictions.has_clustering_slice:
                yield RowView(p.token, pk, None, p.static_row, None, now_s)
            return
        for ck, row in p.rows:
            yield RowView(p.token, pk, t.decode_clustering(ck) if ck else [], p.static_row, row, now_s)

    # --- execution ------------------------------------------------------------------------

    async def execute(
        self, bind: BindValues, page_size: int | None, paging_state: bytes | None, now_s: int,
        read: ReadFn, scan: ScanFn, virtual_rows: VirtualRowsFn,
    ) -> PageResult:
        limit = self._int_param(self.limit, bind, "LIMIT")
        ppl = self._int_param(self.per_partition_limit, bind, "PER PARTITION LIMIT")
        state = _decode_state(paging_state)
        if self.selection.is_aggregate or self.order_by_sort:
            # Aggregates return one row; rows of several partitions sorted by clustering order
            # must all be read before the first can be returned. Neither is paged.
            page_size = None
            state = None
        if self.table.is_virtual:
            return self._execute_virtual(bind, page_size, state, limit, virtual_rows)
        row_filter = self.restrictions.row_filter(bind)
        value_getters: dict[str, Callable[[RowView], bytes | None]] = {}

        def filter_view(view: RowView) -> bool:
            if row_filter is None:
                return True

            def value_of(c: ColumnInfo) -> bytes | None:
                g = value_getters.get(c.name)
                if g is None:
                    g = value_getters[c.name] = column_value_getter(c)
                return g(view)

            return row_filter(value_of)

        ranges = self.restrictions.clustering_ranges(bind)
        columns = None if row_filter is not None else self.selection.needed_columns
        per_partition_cap = 1 if self.distinct else ppl
        storage_limit = per_partition_cap if row_filter is None else None
        base_slice = Slice(ranges, self.reverse, columns, storage_limit, now_s)

        page = _PageBuilder(limit, page_size, per_partition_cap, None if row_filter is None else filter_view,
                            self.selection.new_aggregates(), state.rows_so_far if state else 0)
        r = self.restrictions
        single = r.single_partition_key(bind) if state is None else None
        if single is not None:
            # One partition by `=`, from the start: no partition iteration to set up.
            t = self.table
            p = await read(t, t.token_of(single), single, base_slice)
            if p is not None:
                self._take_rows(p, 0, page, now_s)
        else:
            partitions = self._partitions(bind, state, base_slice, read, scan)
            async for p, resumed_in_partition in partitions:
                if self._take_rows(p, state.partition_rows if (state and resumed_in_partition) else 0, page,
                                   now_s):
                    break
            await partitions.aclose()  # stopped early: release the scan now, not at GC
        return self._result(page)

    async def execute_point(
        self, bind: BindValues, page_size: int | None, now_s: int, read_row: ReadRowFn,
    ) -> list[list[bytes | None]]:
        """The rows of `execute` from the start (no paging state) for a statement with `point`
        set, evaluating (and rejecting) the bind values in the same order. A one-row result never
        has another page."""
        rows = self.execute_point_now(bind, page_size, now_s, read_row)
        return rows if isinstance(rows, list) else await rows

    def execute_point_now(
        self, bind: BindValues, page_size: int | None, now_s: int, read_row: ReadRowFn,
    ) -> list[list[bytes | None]] | Awaitable[list[list[bytes | None]]]:
        """`execute_point` as a plain call: the rows themselves when `read_row` answered at once
        (this shard owns the partition), else an awaitable of them (it must be awaited). Errors
        of the bind values raise at the call, in `execute_point`'s order."""
        lane = self.point
        assert lane is not None
        # (`_int_param` of an absent LIMIT is None: not called for it on this path)
        limit = None if self.limit is None else self._int_param(self.limit, bind, "LIMIT")
        ppl = None if self.per_partition_limit is None else \
            self._int_param(self.per_partition_limit, bind, "PER PARTITION LIMIT")
        r = self.restrictions
        ck, ranges = r.row_clustering(bind)
        key = r.single_partition_key(bind)
        assert key is not None
        t = self.table
        sl = Slice(ranges, self.reverse, self.selection.needed_columns, ppl, now_s)
        got = read_row(t.id, t.token_of(key), key, ck, lane.positions, lane.width, sl)
        if isinstance(got, list):
            return [lane.complete(got, t, key, ck)]
        if got is None:
            return []
        if isinstance(got, PartitionData):
            return self._point_rows(got, limit, page_size, ppl, now_s)
        return self._point_rows_later(got, limit, page_size, ppl, now_s)

    async def _point_rows_later(self, pending: Awaitable[PartitionData | None], limit: int | None,
                                page_size: int | None, ppl: int | None, now_s: int) -> list[list[bytes | None]]:
        return self._point_rows(await pending, limit, page_size, ppl, now_s)

    def _point_rows(self, p: PartitionData | None, limit: int | None, page_size: int | None, ppl: int | None,
                    now_s: int) -> list[list[bytes | None]]:
        """The point lane's rows of a partition storage handed back whole (the general machinery)."""
        page = _PageBuilder(limit, page_size, ppl, None, None, 0)
        if p is not None:
            self._take_rows(p, 0, page, now_s)
        result = self._result(page)
        assert result.paging_state is None
        return result.rows

    def _result(self, page: _PageBuilder) -> PageResult:
        """The filled page as a result, with the paging state to resume after it."""
        aggregates = page.aggregates
        out = page.out
        rows_so_far = page.rows_so_far
        more = page.more
        last = page.last
        if aggregates is not None:
            return PageResult([[a.result() for a in aggregates]], None)
        if self.order_by_sort and len(out) > 1:
            out = self._sort_rows(out)
        state_out = None
        if more and last is not None:
            key, ck, prow = last
            state_out = _encode_state(key, ck if not self.distinct else None, rows_so_far, prow)
        return PageResult(out, state_out)

    def _take_rows(self, p: PartitionData, partition_rows: int, page: _PageBuilder, now_s: int) -> bool:
        """Add partition `p`'s rows to the page (`partition_rows` of it were returned on earlier
        pages); True when the page or the limit is full."""
        cap = page.per_partition_cap
        if cap is not None and partition_rows >= cap:
            return False
        limit = page.limit
        page_size = page.page_size
        out = page.out
        aggregates = page.aggregates
        row_filter = page.row_filter
        for view in self._views(p, now_s, self.reverse):
            if row_filter is not None and not row_filter(view):
                continue
            if limit is not None and page.rows_so_far >= limit:
                page.more = False
                return True
            if page_size is not None and len(out) >= page_size:
                page.more = True
                return True
            partition_rows += 1
            page.rows_so_far += 1
            if aggregates is not None:
                for agg, ev in zip(aggregates, self.selection.evaluators, strict=True):
                    agg.add([g(view) for g in ev.aggregate_args])
            else:
                out.append(self.selection.row(view))
            page.last = (p.key, self.table.clustering_bytes(view.ck) if view.ck else None, partition_rows)
            if self.distinct or (cap is not None and partition_rows >= cap):
                break
        return limit is not None and page.rows_so_far >= limit

    async def _partitions(
        self, bind: BindValues, state: PagingState | None, base: Slice, read: ReadFn, scan: ScanFn,
    ) -> AsyncGenerator[tuple[PartitionData, bool], None]:
        """Partitions in result order, resuming after the paging state. The flag says whether the
        partition is the one the state stopped inside."""
        t = self.table
        r = self.restrictions
        resume_key = state.key if state else None
        resume_ck = state.ck if state else None
        if r.has_partition_keys:
            keys = sorted((t.token_of(k), k) for k in r.partition_keys(bind))
            for token, key in keys:
                if resume_key is not None and (token, key) < (t.token_of(resume_key), resume_key):
                    continue
                resumed = resume_key is not None and key == resume_key
                if resumed and resume_ck is None:
                    continue
                sl = _resume_slice(base, resume_ck) if resumed else base
                p = await read(t, token, key, sl)
                if p is not None:
                    yield p, resumed
            return
        lo, hi = r.token_bounds(bind)
        after: tuple[int, bytes] | None = None
        if resume_key is not None:
            token = t.token_of(resume_key)
            if resume_ck is not None:
                p = await read(t, token, resume_key, _resume_slice(base, resume_ck))
                if p is not None:
                    yield p, True
            after = (token, resume_key)
        if lo > hi:
            return
        async for p in scan(t, after, lo, hi, base):
            yield p, False

    def _sort_rows(self, rows: list[list[bytes | None]]) -> list[list[bytes | None]]:
        t = self.table
        idx = [self.selection.column_names.index(c.name) if c.name in self.selection.column_names else -1
               for c in t.clustering_key]
        if any(i < 0 for i in idx):
            return rows

        def key(row: list[bytes | None]) -> bytes:
            vals = [row[i] or b"" for i in idx]
            return t.clustering_bytes(vals)

        return sorted(rows, key=key, reverse=self.reverse)

    def _execute_virtual(
        self, bind: BindValues, page_size: int | None, state: PagingState | None, limit: int | None,
        virtual_rows: VirtualRowsFn,
    ) -> PageResult:
        t = self.table
        r = self.restrictions
        all_rows = list(virtual_rows(t))
        # Every restriction is checked as a filter on computed rows.
        checks = _virtual_checks(r, bind)
        start = state.rows_so_far if state else 0
        out: list[list[bytes | None]] = []
        aggregates = self.selection.new_aggregates()
        matched = 0
        more = False
        for values in all_rows:
            if not all(check(values) for check in checks):
                continue
            matched += 1
            if matched <= start:
                continue
            if limit is not None and matched > limit:
                break
            if page_size is not None and len(out) >= page_size:
                more = True
                break
            view = RowView(0, [], None, None, None, 0, values)
            if aggregates is not None:
                for agg, ev in zip(aggregates, self.selection.evaluators, strict=True):
                    agg.add([g(view) for g in ev.aggregate_args])
            else:
                out.append(self.selection.row(view))
        if aggregates is not None:
            return PageResult([[a.result() for a in aggregates]], None)
        if self.reverse:
            out.reverse()
        return PageResult(out, _encode_state(None, None, matched - 1, 0) if more else None)


def _virtual_checks(r: Restrictions, bind: BindValues) -> list[Callable[[dict[str, bytes | None]], bool]]:
    checks: list[Callable[[dict[str, bytes | None]], bool]] = []
    t = r.table

    def eq_check(c: ColumnInfo, allowed: list[bytes]) -> Callable[[dict[str, bytes | None]], bool]:
        comparable = {c.type.to_comparable(a) for a in allowed}
        return lambda row: (v := row.get(c.name)) is not None and c.type.to_comparable(v) in comparable

    if r.partition is not None:
        for vg in r.partition:
            checks.append(eq_check(vg.column, vg.values(bind)))
    for vg in r.clustering_eq:
        checks.append(eq_check(vg.column, vg.values(bind)))
    if r.clustering_tuples is not None:
        n = r.clustering_tuple_len
        base = len(r.clustering_eq)
        cols = t.clustering_key[base:base + n]
        tuples = [[c.type.to_comparable(x) for c, x in zip(cols, tup, strict=True)] for tup in r.clustering_tuples(bind)]

        def tuple_check(row: dict[str, bytes | None]) -> bool:
            vals = [row.get(c.name) for c in cols]
            if any(v is None for v in vals):
                return False
            key = [c.type.to_comparable(v) for c, v in zip(cols, vals, strict=True) if v is not None]
            return key in tuples

        checks.append(tuple_check)
    if r.has_clustering_slice:
        base = r.eq_prefix_len
        for bound, lower in ((r.slice_lower, True), (r.slice_upper, False)):
            if bound is None:
                continue
            vals = bound.getter(bind)
            cols = t.clustering_key[base:base + len(vals)]
            target = [c.type.to_comparable(v) for c, v in zip(cols, vals, strict=True)]
            inclusive = bound.inclusive

            def slice_check(row: dict[str, bytes | None], cols: Sequence[ColumnInfo] = cols,
                            target: list[bytes] = target, lower: bool = lower, inclusive: bool = inclusive) -> bool:
                vals2 = [row.get(c.name) for c in cols]
                if any(v is None for v in vals2):
                    return False
                key = [c.type.to_comparable(v) for c, v in zip(cols, vals2, strict=True) if v is not None]
                if key == target:
                    return inclusive
                return (key > target) if lower else (key < target)

            checks.append(slice_check)
    rf = r.row_filter(bind)
    if rf is not None:
        checks.append(lambda row: rf(lambda c: row.get(c.name)))
    return checks


def _resume_slice(base: Slice, after_ck: bytes | None) -> Slice:
    """`base` restricted to clustering keys strictly after (or, reversed, before) `after_ck`."""
    if after_ck is None:
        return base
    ranges = base.ranges if base.ranges is not None else (_FULL_RANGE,)
    out = []
    for s, e in ranges:
        if base.reverse:
            e = min(e, after_ck)
        else:
            s = max(s, after_ck + b"\x00")
        if s < e:
            out.append((s, e))
    return Slice(tuple(out), base.reverse, base.columns, base.row_limit, base.now_s)


@dataclass(frozen=True, slots=True)
class PagingState:
    key: bytes | None           # partition key of the last row returned
    ck: bytes | None            # its clustering key; None: that partition is finished
    rows_so_far: int            # rows returned by earlier pages (counts toward LIMIT)
    partition_rows: int         # rows of `key` returned so far (PER PARTITION LIMIT)


def _encode_state(key: bytes | None, ck: bytes | None, rows_so_far: int, partition_rows: int) -> bytes:
    packed: bytes = msgpack.packb([_STATE_VERSION, key, ck, rows_so_far, partition_rows], use_bin_type=True)
    return packed


def _decode_state(data: bytes | None) -> PagingState | None:
    if not data:
        return None
    try:
        state = msgpack.unpackb(data, raw=False)
    except Exception as e:  # msgpack raises several unrelated types for garbage
        raise ProtocolError(f"Invalid paging state: {e}") from None
    if (not isinstance(state, list) or len(state) != 5 or state[0] != _STATE_VERSION
            or not all(isinstance(x, bytes | None) for x in state[1:3])
            or not all(isinstance(x, int) for x in state[3:5])):
        raise ProtocolError("Invalid paging state")
    return PagingState(state[1], state[2], state[3], state[4])


# --- preparing ----------------------------------------------------------------------------------


def prepare_select(
    table: TableInfo, stmt: A.Select, functions: FunctionResolver | None, lookup: FunctionLookup | None,
) -> SelectPlan:
    if stmt.json:
        raise InvalidRequest("SELECT JSON is not supported yet")
    if stmt.group_by:
        raise InvalidRequest("GROUP BY is not supported yet")
    restrictions = analyze(table, stmt.where, functions, for_select=True)
    if restrictions.filters and not stmt.allow_filtering and not table.is_virtual:
        only_ck = all(f.column.kind is ColumnKind.CLUSTERING for f in restrictions.filters) and \
            restrictions.has_partition_keys
        if not only_ck:
            raise InvalidRequest(
                "Cannot execute this query as it might involve data filtering and thus may have "
                "unpredictable performance. If you want to execute this query despite the "
                "performance unpredictability, use ALLOW FILTERING"
            )
    selection = prepare_selection(table, stmt, functions, lookup)
    if stmt.distinct:
        for e in stmt.selectors:
            if isinstance(e.expression, A.ColumnSelector):
                c = table.column(e.expression.name)
                if c is not None and c.kind not in (ColumnKind.PARTITION_KEY, ColumnKind.STATIC):
                    raise InvalidRequest(
                        f"SELECT DISTINCT queries must only request partition key columns and/or static "
                        f"columns (not {c.name})")
    reverse = False
    if stmt.order_by:
        if not restrictions.has_partition_keys:
            raise InvalidRequest("ORDER BY is only supported when the partition key is restricted by an EQ or an IN.")
        ck = table.clustering_key
        flips = set()
        for i, o in enumerate(stmt.order_by):
            c = table.column(o.column)
            if c is None:
                raise InvalidRequest(f"Undefined column name {o.column}")
            if c.kind is not ColumnKind.CLUSTERING:
                raise InvalidRequest(f"Order by is currently only supported on the clustered columns of the PRIMARY KEY, got {c.name}")
            if i >= len(ck) or ck[i].name != c.name:
                raise InvalidRequest("Order by currently only supports the ordering of columns following their declared order in the PRIMARY KEY")
            flips.add(o.descending != c.definition.reversed)
        if len(flips) > 1:
            raise InvalidRequest("Unsupported order by relation")
        reverse = flips.pop()
    limit = compile_term(stmt.limit, Receiver("[limit]", INT), functions) if stmt.limit is not None else None
    ppl = compile_term(stmt.per_partition_limit, Receiver("[per_partition_limit]", INT), functions) \
        if stmt.per_partition_limit is not None else None
    multi_key = restrictions.has_partition_keys and any(not vg.is_single for vg in restrictions.partition or [])
    point = None
    if not (table.is_virtual or stmt.distinct or stmt.order_by) and restrictions.names_one_row:
        point = _point_lane(selection.plain_columns)
    return SelectPlan(table, restrictions, selection, reverse, limit, ppl, stmt.distinct,
                      bool(stmt.order_by) and multi_key, point)


def _point_lane(columns: list[ColumnInfo] | None) -> PointLane | None:
    """The lane's row layout for a selection of these columns, or None when one of them is
    not read as a stored cell's bytes (static, collection, counter) or a column repeats."""
    if columns is None or len({c.name for c in columns}) != len(columns):
        return None
    positions: dict[str, int] = {}
    pk_slots: list[tuple[int, int]] = []
    ck_slots: list[tuple[int, int]] = []
    for i, c in enumerate(columns):
        if c.kind is ColumnKind.PARTITION_KEY:
            pk_slots.append((i, c.definition.position))
        elif c.kind is ColumnKind.CLUSTERING:
            ck_slots.append((i, c.definition.position))
        elif c.kind is ColumnKind.REGULAR and not c.type.is_multicell and not c.type.is_counter:
            positions[c.name] = i
        else:
            return None
    return PointLane(positions, len(columns), tuple(pk_slots), tuple(ck_slots))


"""SELECT lists: result columns and how each is computed from a row.

Owns turning the select list into result metadata (`(name, type)` per column, with Cassandra's
generated names such as `writetime(v)`, `system.token(k)`, `count`) and into evaluators over a
`RowView`. Values stay in wire form end to end: a plain column's value is the stored cell's bytes;
only functions and non-frozen collections (assembled from their cells) build new bytes.

Invariant: every evaluator returns bytes valid for its column's declared type, or None.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cql import ast as A
from cql.errors import InvalidRequest
from cql.schema import ColumnKind
from cql.types import BIGINT, INT, CollectionType, CQLType, TupleType
from storage.counter import counter_total
from storage.mutation import Cell, Row

from .table_info import ColumnInfo, TableInfo
from .typeinfo import element_type, field_names, field_types, key_type, kind_of
from .values import FunctionResolver


class RowView:
    """One result row before selection: keys, the static row and the clustering row.

    For virtual tables `values` holds every column's wire value instead."""

    __slots__ = ("ck", "now_s", "pk", "row", "static", "token", "values")

    def __init__(self, token: int, pk: list[bytes], ck: list[bytes] | None, static: Row | None,
                 row: Row | None, now_s: int, values: dict[str, bytes | None] | None = None) -> None:
        self.token = token
        self.pk = pk
        self.ck = ck
        self.static = static
        self.row = row
        self.now_s = now_s
        self.values = values


def _cells_of(row: Row | None, name: str) -> list[tuple[bytes, Cell]]:
    if row is None:
        return []
    return sorted((k[1], c) for k, c in row.cells.items() if k[0] == name)


def assemble_multicell(t: CQLType, cells: list[tuple[bytes, Cell]]) -> bytes | None:
    """The wire value of a non-frozen collection/UDT from its cells (sorted by path); None when
    empty (Cassandra shows an empty collection as null)."""
    if not cells:
        return None
    kind = kind_of(t)
    if kind == "list":
        return CollectionType.join([c.value for _, c in cells if c.value is not None], len(cells))
    if kind == "set":
        et = element_type(t)
        return CollectionType.join([et.from_comparable(path, 0)[0] for path, _ in cells], len(cells))
    if kind == "map":
        kt = key_type(t)
        flat: list[bytes] = []
        for path, c in cells:
            assert c.value is not None
            flat += (kt.from_comparable(path, 0)[0], c.value)
        return CollectionType.join(flat, len(cells))
    if kind == "udt":
        fields: list[bytes | None] = [None] * len(field_types(t))
        for path, c in cells:
            i = int.from_bytes(path, "big")
            if i < len(fields):
                fields[i] = c.value
        while fields and fields[-1] is None:
            fields.pop()
        return TupleType.join(fields)
    raise InvalidRequest(f"Type {t.cql_name()} is not multi-cell")


def column_value_getter(col: ColumnInfo) -> Callable[[RowView], bytes | None]:
    """Reads one column's wire value from a row view."""
    name = col.name
    kind = col.kind
    if kind is ColumnKind.PARTITION_KEY:
        pos = col.definition.position

        def pk_value(v: RowView) -> bytes | None:
            if v.values is not None:
                return v.values.get(name)
            return v.pk[pos]

        return pk_value
    if kind is ColumnKind.CLUSTERING:
        pos = col.definition.position

        def ck_value(v: RowView) -> bytes | None:
            if v.values is not None:
                return v.values.get(name)
            return v.ck[pos] if v.ck is not None else None

        return ck_value
    static = kind is ColumnKind.STATIC
    t = col.type
    key = (name, b"")
    if t.is_multicell:

        def multicell_value(v: RowView) -> bytes | None:
            if v.values is not None:
                return v.values.get(name)
            return assemble_multicell(t, _cells_of(v.static if static else v.row, name))

        return multicell_value
    if t.is_counter:

        def counter_value(v: RowView) -> bytes | None:
            if v.values is not None:
                return v.values.get(name)
            r = v.static if static else v.row
            c = r.cells.get(key) if r is not None else None
            if c is None or c.value is None:
                return None
            return counter_total(c.value).to_bytes(8, "big", signed=True)

        return counter_value

    def simple_value(v: RowView) -> bytes | None:
        if v.values is not None:
            return v.values.get(name)
        r = v.static if static else v.row
        if r is None:
            return None
        c = r.cells.get(key)
        return c.value if c is not None else None

    return simple_value


class Aggregate(Protocol):
    def add(self, args: Sequence[bytes | None]) -> None: ...
    def result(self) -> bytes | None: ...


class FunctionImpl(Protocol):
    """What selection needs of a native function (provided by cql.functions via an adapter)."""

    name: str
    return_type: CQLType
    is_aggregate: bool

    def execute(self, args: Sequence[bytes | None]) -> bytes | None: ...
    def new_aggregate(self) -> Aggregate: ...


FunctionLookup = Callable[[str, Sequence[CQLType]], FunctionImpl]


@dataclass
class Evaluator:
    name: str
    type: CQLType
    compute: Callable[[RowView], bytes | None] | None    # scalar
    aggregate: Callable[[], Aggregate] | None = None     # aggregate factory
    aggregate_args: Sequence[Callable[[RowView], bytes | None]] = ()
    column: ColumnInfo | None = None  # set when the value is this column's own (a plain selector)


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def add(self, args: Sequence[bytes | None]) -> None:
        if not args or args[0] is not None:
            self.n += 1

    def result(self) -> bytes | None:
        return self.n.to_bytes(8, "big", signed=True)


@dataclass
class Selection:
    table: TableInfo
    evaluators: list[Evaluator]
    is_wildcard: bool
    # Columns a storage read must return (None: all).
    needed_columns: frozenset[str] | None

    @functools.cached_property
    def is_aggregate(self) -> bool:
        return any(e.aggregate is not None for e in self.evaluators)

    @functools.cached_property
    def plain_columns(self) -> list[ColumnInfo] | None:
        """The column of each result column when every one is a plain column's own value (no
        function, writetime/ttl, field or aggregate), else None."""
        if self.is_aggregate:
            return None
        cols = [e.column for e in self.evaluators]
        return None if any(c is None for c in cols) else [c for c in cols if c is not None]

    @property
    def column_names(self) -> list[str]:
        return [e.name for e in self.evaluators]

    def new_aggregates(self) -> list[Aggregate] | None:
        """Fresh accumulators, one per result column, when this selection aggregates."""
        if not self.is_aggregate:
            return None
        return [e.aggregate() for e in self.evaluators if e.aggregate is not None]

    def row(self, view: RowView) -> list[bytes | None]:
        return [e.compute(view) if e.compute is not None else None for e in self.evaluators]


def prepare_selection(
    table: TableInfo, stmt: A.Select, functions: FunctionResolver | None, lookup: FunctionLookup | None,
) -> Selection:
    if stmt.wildcard:
        evs = [Evaluator(c.name, c.type, column_value_getter(c), column=c) for c in table.columns]
        return Selection(table, evs, True, None)
    needed: set[str] = set()
    evs = []
    for sel in stmt.selectors:
        ev = _compile(table, sel.expression, functions, lookup, needed)
        if sel.alias:
            ev.name = sel.alias
        evs.append(ev)
    aggregates = [e for e in evs if e.aggregate is not None]
    if aggregates and len(aggregates) != len(evs):
        plain = [e.name for e in evs if e.aggregate is None]
        # Cassandra allows plain columns next to aggregates (they take the first row's value).
        for e in evs:
            if e.aggregate is None:
                e.aggregate = _first_value_factory()
                e.aggregate_args = [e.compute] if e.compute else []
        del plain
    return Selection(table, evs, False, frozenset(needed))


class _FirstValue:
    def __init__(self) -> None:
        self.value: bytes | None = None
        self.seen = False

    def add(self, args: Sequence[bytes | None]) -> None:
        if not self.seen:
            self.seen = True
            self.value = args[0] if args else None

    def result(self) -> bytes | None:
        return self.value


def _first_value_factory() -> Callable[[], Aggregate]:
    return _FirstValue


def _compile(
    table: TableInfo, e: A.SelectorExpression, functions: FunctionResolver | None,
    lookup: FunctionLookup | None, needed: set[str],
) -> Evaluator:
    def column(name: str) -> ColumnInfo:
        c = table.column(name)
        if c is None:
            raise InvalidRequest(f"Undefined column name {name}")
        return c

    if isinstance(e, A.ColumnSelector):
        c = column(e.name)
        needed.add(c.name)
        return Evaluator(c.name, c.type, column_value_getter(c), column=c)
    if isinstance(e, A.CountRowsSelector):
        return Evaluator("count", BIGINT, None, _Count, ())
    if isinstance(e, A.WritetimeSelector | A.TtlSelector):
        c = column(e.column)
        fname = "writetime" if isinstance(e, A.WritetimeSelector) else "ttl"
        if c.definition.is_primary_key:
            raise InvalidRequest(f"Cannot use selection function {fname} on PRIMARY KEY part {c.name}")
        if c.type.is_multicell:
            raise InvalidRequest(f"Cannot use selection function {fname} on non-frozen collection {c.name}")
        needed.add(c.name)
        return Evaluator(f"{fname}({c.name})", BIGINT if fname == "writetime" else INT,
                         _cell_meta_getter(c, fname == "writetime"))
    if isinstance(e, A.TermSelector):
        raise InvalidRequest("Literal terms in the select list need a type cast, e.g. (int)1")
    if isinstance(e, A.CastSelector):
        inner = _compile(table, e.expression, functions, lookup, needed)
        if lookup is None:
            raise InvalidRequest("Functions are not available here")
        from cql.types import parse_type

        target = parse_type(e.type_text)
        fn = lookup(f"cast_as_{target.cql_name()}", [inner.type])
        return _scalar(f"cast({inner.name} as {target.cql_name()})", fn, [inner])
    if isinstance(e, A.FieldSelector):
        inner = _compile(table, e.expression, functions, lookup, needed)
        t = inner.type
        if kind_of(t) != "udt":
            raise InvalidRequest(f"Invalid field selection: {inner.name} of type {t.cql_name()} is not a user type")
        names = field_names(t)
        if e.field not in names:
            raise InvalidRequest(f"{t.cql_name()} has no field {e.field}")
        idx = names.index(e.field)
        ft = field_types(t)[idx]
        assert isinstance(t, TupleType)
        get_inner = inner.compute
        assert get_inner is not None

        def field_value(v: RowView, t: TupleType = t, idx: int = idx) -> bytes | None:
            data = get_inner(v)
            if data is None:
                return None
            parts = t.split(data)
            return parts[idx] if idx < len(parts) else None

        return Evaluator(f"{inner.name}.{e.field}", ft, field_value)
    if isinstance(e, A.ElementSelector):
        raise InvalidRequest("Element selection (c[k]) is not supported in the select list yet")
    assert isinstance(e, A.FunctionSelector)
    fname = e.function.name
    if fname == "token":
        cols = [column(a.name) if isinstance(a, A.ColumnSelector) else None for a in e.args]
        if any(c is None for c in cols) or [c.name for c in cols if c] != [c.name for c in table.partition_key]:
            raise InvalidRequest("Invalid arguments for token(): the partition key columns, in order, are required")
        return Evaluator("system.token(" + ", ".join(a.name for a in e.args if isinstance(a, A.ColumnSelector)) + ")",
                         BIGINT, lambda v: v.token.to_bytes(8, "big", signed=True))
    if fname == "count" and len(e.args) == 1:
        inner = _compile(table, e.args[0], functions, lookup, needed)
        return Evaluator(f"system.count({inner.name})", BIGINT, None, _Count, [_need(inner)])
    if lookup is None:
        raise InvalidRequest(f"Unknown function {fname}")
    args = [_compile(table, a, functions, lookup, needed) for a in e.args]
    fn = lookup(fname, [a.type for a in args])
    label = f"system.{fname}(" + ", ".join(a.name for a in args) + ")"
    if fn.is_aggregate:
        return Evaluator(label, fn.return_type, None, fn.new_aggregate, [_need(a) for a in args])
    return _scalar(label, fn, args)


def _need(ev: Evaluator) -> Callable[[RowView], bytes | None]:
    if ev.compute is None:
        raise InvalidRequest(f"Aggregate {ev.name} cannot be an argument here")
    return ev.compute


def _scalar(label: str, fn: FunctionImpl, args: list[Evaluator]) -> Evaluator:
    getters = [_need(a) for a in args]
    execute = fn.execute
    return Evaluator(label, fn.return_type, lambda v: execute([g(v) for g in getters]))


def _cell_meta_getter(c: ColumnInfo, writetime: bool) -> Callable[[RowView], bytes | None]:
    key = (c.name, b"")
    static = c.kind is ColumnKind.STATIC

    def meta(v: RowView) -> bytes | None:
        r = v.static if static else v.row
        if r is None:
            return None
        cell = r.cells.get(key)
        if cell is None or cell.value is None:
            return None
        if writetime:
            return cell.timestamp_us.to_bytes(8, "big", signed=True)
        if cell.ttl_s <= 0:
            return None
        return max(0, cell.expiry_s - v.now_s).to_bytes(4, "big", signed=True)

    return meta

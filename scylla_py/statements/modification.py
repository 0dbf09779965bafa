"""INSERT, UPDATE and DELETE: from a prepared statement and bind values to storage mutations.

Owns the write semantics of CQL (Cassandra's rules):
- INSERT writes a row marker (the row exists even if every regular column is null); UPDATE does not.
- A null value writes a cell tombstone; an `unset` value leaves the column alone.
- Assigning a whole non-frozen collection first deletes the old one (a collection tombstone at
  `timestamp - 1`, so the new elements written at `timestamp` survive it).
- List elements are keyed by time-ordered 16-byte paths: appends use increasing times, prepends
  use decreasing times below every append (section "Collections" in docs/cql-semantics.md).
- DELETE of whole rows: full clustering key -> row tombstone; a prefix or slice -> range
  tombstones; only the partition key -> partition tombstone.
- TTL: `USING TTL` or the table's default_time_to_live; 0 means none; at most 20 years.

Operations that need the current row (counter increments, list index assignment/deletion, list
element removal) read it through the context; the caller serializes them per partition.
"""

from __future__ import annotations

import functools
import operator
import pickle
import struct
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from cql import ast as A
from cql.errors import InvalidRequest
from cql.schema import ColumnKind
from cql.types import CQLType, parse_type
from storage.codec import PlainRowEncoder, PlainSummary, encode_plain_row
from storage.counter import decode_shards, encode_shards
from storage.mutation import Cell, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row

from .restrictions import Restrictions, analyze
from .table_info import ColumnInfo, TableInfo
from .typeinfo import (
    element_type,
    field_names,
    field_types,
    key_type,
    kind_of,
    set_of,
    split_elements,
    split_fields,
    value_type,
)
from .values import UNSET, BindValues, BoundValue, FunctionResolver, Receiver, ValueGetter, compile_term

MAX_TTL_S = 20 * 365 * 24 * 3600  # Cassandra's cap: 630720000 seconds
_INT = parse_type("int")
_BIGINT = parse_type("bigint")
_PATH = struct.Struct(">qQ")
# Prepended list elements get times mirrored below this reference (2010-01-01 in 100 ns units since
# the UUID epoch), so every prepend sorts before every append.
_PREPEND_REFERENCE = 0x01DE_9F4E_D5C0_0000
_UUID_EPOCH_OFFSET_100NS = 0x01B21DD213814000


@dataclass
class WriteContext:
    """What one execution needs beyond bind values."""

    timestamp_us: int
    now_s: int
    host_id: uuid.UUID
    # (partition key, clustering key, static) -> the current row (the static row if `static`)
    read_row: Callable[[bytes, bytes, bool], Awaitable[Row | None]] | None = None
    _path_seq: int = 0

    def list_path(self, prepend: bool = False) -> bytes:
        """A fresh, time-ordered cell path for a list element."""
        self._path_seq += 1
        t = self.timestamp_us * 10 + _UUID_EPOCH_OFFSET_100NS
        if prepend:
            t = _PREPEND_REFERENCE - (t - _PREPEND_REFERENCE)
        return _PATH.pack(t, (self._path_seq << 48) | (self.host_id.int & 0xFFFF_FFFF_FFFF))


@dataclass
class Operation:
    column: ColumnInfo
    kind: str                      # set | add | prepend | remove | set_element | set_field | delete | delete_element | delete_field
    value: ValueGetter | None = None
    key: ValueGetter | None = None
    field_index: int = -1
    # The value is the bind value at this index, as it is: `value` is a bare `?` whose type
    # accepts any bytes, so its getter returns `bind[bind_index]` (see `_bare_bind_index`).
    bind_index: int | None = None

    @property
    def needs_read(self) -> bool:
        t = self.column.type
        if t.is_counter:
            return True
        return kind_of(t) == "list" and self.kind in ("set_element", "delete_element", "remove")

    @property
    def is_plain_set(self) -> bool:
        """`col = value` on a regular single-cell column: one cell, no read, no per-type work (the
        write hot path takes it without the general `_apply`)."""
        t = self.column.type
        return (self.kind == "set" and not t.is_multicell and not t.is_counter
                and self.column.kind is not ColumnKind.STATIC and self.value is not None)


@dataclass
class ModificationPlan:
    table: TableInfo
    statement_kind: str            # insert | update | delete
    restrictions: Restrictions
    operations: list[Operation]
    ttl: ValueGetter | None = None
    timestamp: ValueGetter | None = None
    if_not_exists: bool = False
    if_exists: bool = False
    conditions: tuple[A.Condition, ...] = ()
    condition_getters: list[tuple[A.Condition, ColumnInfo, ValueGetter, ValueGetter | None]] = field(
        default_factory=list
    )
    # (statement AST, session keyspace) this plan was made from, so a shard that does not own
    # the partition can have the owner re-plan and run it (LWT and read-before-write, see
    # query_processor).
    source: Any = None

    @functools.cached_property
    def pickled_source(self) -> bytes:
        """`source` as sent to the owning shard (pickled once per plan)."""
        return pickle.dumps(self.source)

    @property
    def is_conditional(self) -> bool:
        return self.if_not_exists or self.if_exists or bool(self.conditions)

    @property
    def is_counter(self) -> bool:
        return self.table.is_counter

    @functools.cached_property
    def needs_read(self) -> bool:
        return any(op.needs_read for op in self.operations)

    @functools.cached_property
    def _plain_sets(self) -> list[tuple[tuple[str, bytes], ValueGetter]] | None:
        """(cell key, value getter) of every operation when all are plain sets, else None."""
        if all(op.is_plain_set for op in self.operations):
            return [((op.column.name, b""), op.value) for op in self.operations if op.value is not None]
        return None

    def timestamp_of(self, bind: BindValues, default_us: int) -> int:
        if self.timestamp is None:
            return default_us
        v = self.timestamp(bind)
        if v is None or v is UNSET:
            return default_us
        assert isinstance(v, bytes)
        return int.from_bytes(v, "big", signed=True)

    @functools.cached_property
    def _constant_ttl(self) -> int | None:
        """`ttl_of`'s value when it does not depend on the bind values (no `USING TTL ?`)."""
        return None if self.ttl is not None else self.ttl_of(())

    def ttl_of(self, bind: BindValues) -> int:
        ttl = self.table.default_ttl_s
        if self.ttl is not None:
            v = self.ttl(bind)
            if v is not None and v is not UNSET:
                assert isinstance(v, bytes)
                ttl = int.from_bytes(v, "big", signed=True)
        if ttl < 0:
            raise InvalidRequest(f"A TTL must be greater or equal to 0, but was {ttl}")
        if ttl > MAX_TTL_S:
            raise InvalidRequest(f"ttl is too large. requested ({ttl}) maximum ({MAX_TTL_S})")
        return ttl

    # --- building mutations -----------------------------------------------------------------

    def partition_keys(self, bind: BindValues) -> list[bytes]:
        keys = self.restrictions.partition_keys(bind)
        for k in keys:
            if len(k) > 65535:
                raise InvalidRequest(f"Key length of {len(k)} is longer than maximum of 65535")
            if not k and len(self.table.partition_key) == 1:
                raise InvalidRequest("Key may not be empty")
        return keys

    async def build(self, bind: BindValues, ctx: WriteContext) -> list[Mutation]:
        out: list[Mutation] = []
        for pk in self.partition_keys(bind):
            out.extend(await self.build_for_key(pk, bind, ctx))
        return out

    async def build_for_key(self, pk: bytes, bind: BindValues, ctx: WriteContext) -> list[Mutation]:
        """The mutation of one partition (a list, empty when nothing is written)."""
        ts = ctx.timestamp_us
        m = Mutation(self.table.token_of(pk), pk)
        if self.statement_kind == "delete" and not self.operations:
            self._delete_rows(m, bind, ts, ctx.now_s)
        else:
            await self._write_cells(m, pk, bind, ts, ctx)
        return [m]

    def _delete_rows(self, m: Mutation, bind: BindValues, ts: int, now_s: int) -> None:
        r = self.restrictions
        dt = DeletionTime(ts, now_s)
        if r.eq_prefix_len == 0 and not r.has_clustering_slice:
            m.partition_deletion = dt
            return
        if r.full_clustering_eq:
            for ck in r.clustering_keys(bind):
                m.rows[ck] = Row(deletion=dt)
            return
        ranges = r.clustering_ranges(bind) or ()
        m.range_tombstones.extend(RangeTombstone(s, e, dt) for s, e in ranges)

    @functools.cached_property
    def _static_only(self) -> bool:
        """Every operation writes a static column (so no clustering key is needed)."""
        return bool(self.operations) and all(op.column.kind is ColumnKind.STATIC for op in self.operations)

    @functools.cached_property
    def is_plain_write(self) -> bool:
        """INSERT or UPDATE of plain single-cell values only, unconditional: `build_plain` makes
        its mutations without awaiting anything (the write hot path)."""
        return (self.statement_kind != "delete" and bool(self.operations) and self._plain_sets is not None
                and not self.needs_read and not self.is_conditional)

    def _write_clustering_keys(self, bind: BindValues) -> list[bytes]:
        """The rows a write of cells addresses; none when it writes static columns only."""
        r = self.restrictions
        if self.table.clustering_key and not r.full_clustering_eq:
            if not (self._static_only and r.eq_prefix_len == 0 and not r.has_clustering_slice):
                if self.statement_kind == "insert":
                    missing = self.table.clustering_key[r.eq_prefix_len].name
                    raise InvalidRequest(f"Some clustering keys are missing: {missing}")
                if self.statement_kind == "delete" and r.eq_prefix_len:
                    raise InvalidRequest("Range deletions are not supported for specific columns")
                raise InvalidRequest(
                    f"Missing mandatory PRIMARY KEY part {self.table.clustering_key[r.eq_prefix_len].name}"
                )
            return []
        return r.clustering_keys(bind)

    @functools.cached_property
    def _plain_columns(self) -> tuple[tuple[str, ...], tuple[ValueGetter, ...], PlainRowEncoder]:
        """The column names, value getters and row encoder of a plain write (`is_plain_write`)."""
        plain = self._plain_sets
        assert plain is not None
        columns = tuple(k[0] for k, _ in plain)
        return columns, tuple(g for _, g in plain), PlainRowEncoder(columns)

    @functools.cached_property
    def _plain_values(self) -> Callable[[BindValues], tuple[BoundValue, ...]] | None:
        """The values of a plain write's columns, in `_plain_columns` order, in one C call, when
        every one is a bare bind value (`Operation.bind_index`, two or more: itemgetter of one
        index returns the value, not a tuple); else None and the getters are called one by one.
        Same values as the getters; an IndexError where they raise InvalidRequest."""
        indexes = [op.bind_index for op in self.operations]
        if len(indexes) < 2 or any(i is None for i in indexes):
            return None
        return operator.itemgetter(*indexes)

    def build_plain(self, bind: BindValues, ts: int, now_s: int) -> list[Mutation]:
        """The mutations of a plain write (`is_plain_write`), one per partition."""
        keys = self.partition_keys(bind)
        ttl = self.ttl_of(bind)
        return self._plain_mutations(bind, keys, self._write_clustering_keys(bind), ts, ttl, now_s)

    def encode_plain(self, bind: BindValues, ts: int,
                     now_s: int) -> tuple[int, bytes, bytes, PlainSummary | None] | list[Mutation]:
        """A plain write (`is_plain_write`) as storage keeps it. One row of one partition (the
        common case): (token, key, payload, summary), the bytes and summary
        `encode_mutation_summarized` would make of `build_plain`'s mutation, made without it
        (`encode_plain_row`); any other shape (IN on a key column): `build_plain`'s mutations.
        Raises what `build_plain` raises, in the same order (keys, TTL, clustering, values)."""
        key_getter = self._simple_key_getter
        if key_getter is not None:
            pk = key_getter(bind)
            # a valid key: what `partition_keys` would return (otherwise it raises, below)
            if pk.__class__ is bytes and 0 < len(pk) <= 65535:
                ttl = self._constant_ttl
                return self._encode_row(bind, pk, b"", self.ttl_of(bind) if ttl is None else ttl, ts, now_s)
        keys = self.partition_keys(bind)
        ttl = self.ttl_of(bind)
        cks = self._write_clustering_keys(bind)
        if len(keys) != 1 or len(cks) != 1:
            return self._plain_mutations(bind, keys, cks, ts, ttl, now_s)
        return self._encode_row(bind, keys[0], cks[0], ttl, ts, now_s)

    @functools.cached_property
    def _simple_key_getter(self) -> ValueGetter | None:
        """For a table of one partition key column and no clustering column, restricted by one
        `=`: the getter of that column, whose value (when valid) is the partition key and the
        only one `partition_keys` returns, and the row is b"" (`_write_clustering_keys`). The
        lane then skips those two; any other value goes through them (which raise)."""
        r = self.restrictions
        t = self.table
        if len(t.partition_key) != 1 or t.clustering_key or r.partition is None or len(r.partition) != 1 \
                or not r.partition[0].is_single:
            return None
        return r.partition[0].single_getter

    def _encode_row(self, bind: BindValues, pk: bytes, ck: bytes, ttl: int, ts: int,
                    now_s: int) -> tuple[int, bytes, bytes, PlainSummary | None]:
        columns, getters, encoder = self._plain_columns
        fetch = self._plain_values
        if fetch is not None:
            try:
                values: Sequence[BoundValue] = fetch(bind)
            except IndexError:  # too few bind values: the getters raise the error
                values = [g(bind) for g in getters]
        else:
            values = [g(bind) for g in getters]
        token = self.table.token_of(pk)
        marker = self.statement_kind == "insert"
        expiry = now_s + ttl if ttl else 0
        try:
            payload, summary = encoder.encode(token, pk, ck, marker, cast("list[bytes | None]", values),
                                              ts, ttl, expiry, now_s)
        except TypeError:
            # An UNSET value (the column is left alone) is no bytes: the encoder raises TypeError
            # for it, so the usual write pays no `UNSET in values` pass (~1k instructions).
            if UNSET not in values:
                raise
            columns = tuple(c for c, v in zip(columns, values, strict=True) if v is not UNSET)
            set_values = [v for v in values if v is not UNSET]
            payload, summary = encode_plain_row(token, pk, ck, marker, columns, set_values, ts, ttl, expiry, now_s)
        return token, pk, payload, summary

    def _plain_mutations(self, bind: BindValues, keys: list[bytes], cks: list[bytes], ts: int, ttl: int,
                         now_s: int) -> list[Mutation]:
        plain = self._plain_sets
        assert plain is not None
        expiry = now_s + ttl if ttl else 0
        cells: dict[tuple[str, bytes], Cell] = {}
        for cell_key, getter in plain:
            v = getter(bind)
            if v is UNSET:
                continue
            assert v is None or isinstance(v, bytes)
            cells[cell_key] = Cell(ts, v, ttl, expiry) if v is not None else Cell(ts, None, 0, now_s)
        marker = LivenessInfo(ts, ttl, expiry) if self.statement_kind == "insert" else None
        token_of = self.table.token_of
        # A dict per row when there are several: storage owns (and may merge into) what it is handed.
        shared = len(keys) > 1 or len(cks) > 1
        out: list[Mutation] = []
        for pk in keys:
            m = Mutation(token_of(pk), pk)
            if marker is not None or cells:
                for ck in cks:
                    m.rows[ck] = Row(marker, None, dict(cells) if shared else cells)
            out.append(m)
        return out

    async def _write_cells(self, m: Mutation, pk: bytes, bind: BindValues, ts: int, ctx: WriteContext) -> None:
        ttl = self.ttl_of(bind) if self.statement_kind != "delete" else 0
        expiry = ctx.now_s + ttl if ttl else 0
        static_only = self._static_only
        cks = self._write_clustering_keys(bind)
        if self.statement_kind == "insert" and not static_only:
            marker = LivenessInfo(ts, ttl, expiry)
        else:
            marker = None
        static_row: Row | None = None
        for ck in cks:
            row = Row(marker=marker)
            for op in self.operations:
                if op.column.kind is ColumnKind.STATIC:
                    if static_row is None:
                        static_row = Row()
                    target = static_row
                else:
                    target = row
                await self._apply(op, target, pk, ck, bind, ts, ttl, expiry, ctx)
            if row.marker is not None or row.cells or row.collection_deletions:
                m.rows[ck] = row
        if not cks:
            static_row = Row()
            for op in self.operations:
                await self._apply(op, static_row, pk, b"", bind, ts, ttl, expiry, ctx)
        if static_row is not None and (static_row.cells or static_row.collection_deletions):
            m.static_row = static_row

    async def _apply(
        self, op: Operation, row: Row, pk: bytes, ck: bytes, bind: BindValues, ts: int, ttl: int,
        expiry: int, ctx: WriteContext,
    ) -> None:
        c = op.column
        t = c.type
        name = c.name
        kind = op.kind
        tomb = Cell(ts, None, 0, ctx.now_s)
        if kind in ("delete", "delete_element", "delete_field"):
            if kind == "delete":
                if t.is_multicell:
                    row.collection_deletions[name] = DeletionTime(ts, ctx.now_s)
                else:
                    row.cells[(name, b"")] = tomb
            elif kind == "delete_field":
                row.cells[(name, op.field_index.to_bytes(2, "big"))] = tomb
            else:
                assert op.key is not None
                key = _present(op.key(bind), name)
                if kind_of(t) == "list":
                    path = await self._list_path_at(pk, ck, name, key, ctx)
                    row.cells[(name, path)] = tomb
                elif kind_of(t) == "set":
                    row.cells[(name, element_type(t).to_comparable(key))] = tomb
                else:
                    row.cells[(name, key_type(t).to_comparable(key))] = tomb
            return
        assert op.value is not None
        v = op.value(bind)
        if v is UNSET:
            return
        if t.is_counter:
            await self._counter(op, row, pk, ck, v, ts, ctx)
            return
        if not t.is_multicell:
            if kind != "set":
                raise InvalidRequest(f"Invalid operation ({_op_text(kind, name)}) for non counter column {name}")
            assert v is None or isinstance(v, bytes)
            row.cells[(name, b"")] = tomb if v is None else Cell(ts, v, ttl, expiry)
            return
        # Non-frozen collections and UDTs: one cell per element / field.
        if kind == "set":
            row.collection_deletions[name] = DeletionTime(ts - 1, ctx.now_s)
            if v is not None:
                assert isinstance(v, bytes)
                self._add_elements(row, t, name, v, ts, ttl, expiry, ctx, prepend=False)
            return
        if kind == "set_field":
            cell = tomb if v is None else Cell(ts, v, ttl, expiry)
            row.cells[(name, op.field_index.to_bytes(2, "big"))] = cell
            return
        if kind == "set_element":
            assert op.key is not None
            key = _present(op.key(bind), name)
            if kind_of(t) == "map":
                path = key_type(t).to_comparable(key)
            else:
                path = await self._list_path_at(pk, ck, name, key, ctx)
            row.cells[(name, path)] = tomb if v is None else Cell(ts, v, ttl, expiry)
            return
        if v is None:
            if kind in ("add", "prepend"):
                return  # adding null is a no-op in Cassandra
            raise InvalidRequest(f"Invalid null value for {name}")
        assert isinstance(v, bytes)
        if kind in ("add", "prepend"):
            if kind_of(t) != "list" and kind == "prepend":
                raise InvalidRequest(f"Invalid operation ({_op_text(kind, name)}) for non list column {name}")
            self._add_elements(row, t, name, v, ts, ttl, expiry, ctx, prepend=kind == "prepend")
            return
        if kind == "remove":
            if kind_of(t) == "set":
                for e in split_elements(t, v):
                    row.cells[(name, element_type(t).to_comparable(e))] = tomb
            elif kind_of(t) == "map":
                for k in split_elements(set_of(key_type(t)), v):
                    row.cells[(name, key_type(t).to_comparable(k))] = tomb
            elif kind_of(t) == "list":
                remove = set(split_elements(t, v))
                current = await self._read_cells(pk, ck, name, ctx)
                for path, cell in current:
                    if cell.value in remove:
                        row.cells[(name, path)] = tomb
            else:
                raise InvalidRequest(f"Invalid operation ({_op_text(kind, name)}) for column {name}")
            return
        raise InvalidRequest(f"Unsupported operation on {name}")

    def _add_elements(self, row: Row, t: CQLType, name: str, v: bytes, ts: int, ttl: int, expiry: int,
                      ctx: WriteContext, *, prepend: bool) -> None:
        if kind_of(t) == "list":
            elems = split_elements(t, v)
            paths = [ctx.list_path(prepend) for _ in elems]
            if prepend:
                paths.reverse()  # later paths sort lower: keep the literal's order
                paths = sorted(paths)
            for p, e in zip(paths, elems, strict=True):
                row.cells[(name, p)] = Cell(ts, e, ttl, expiry)
        elif kind_of(t) == "set":
            for e in split_elements(t, v):
                row.cells[(name, element_type(t).to_comparable(e))] = Cell(ts, b"", ttl, expiry)
        elif kind_of(t) == "map":
            flat = split_elements(t, v)
            for k, val in zip(flat[0::2], flat[1::2], strict=True):
                row.cells[(name, key_type(t).to_comparable(k))] = Cell(ts, val, ttl, expiry)
        elif kind_of(t) == "udt":
            for i, fv in enumerate(split_fields(t, v)):
                path = i.to_bytes(2, "big")
                row.cells[(name, path)] = Cell(ts, fv, ttl, expiry) if fv is not None else Cell(ts, None, 0, ctx.now_s)
        else:
            raise InvalidRequest(f"Invalid operation for column {name}")

    async def _read_cells(self, pk: bytes, ck: bytes, name: str, ctx: WriteContext) -> list[tuple[bytes, Cell]]:
        if ctx.read_row is None:
            raise InvalidRequest(f"Operation on {name} requires a read, not allowed here")
        column = self.table.by_name[name]
        row = await ctx.read_row(pk, ck, column.kind is ColumnKind.STATIC)
        if row is None:
            return []
        return sorted((k[1], c) for k, c in row.cells.items() if k[0] == name)

    async def _list_path_at(self, pk: bytes, ck: bytes, name: str, index_bytes: bytes, ctx: WriteContext) -> bytes:
        index = int.from_bytes(index_bytes, "big", signed=True)
        current = await self._read_cells(pk, ck, name, ctx)
        if not current:
            raise InvalidRequest("Attempted to set an element on a list which is null")
        if index < 0 or index >= len(current):
            raise InvalidRequest(f"List index {index} out of bound, list has size {len(current)}")
        return current[index][0]

    async def _counter(self, op: Operation, row: Row, pk: bytes, ck: bytes, v: BoundValue, ts: int,
                       ctx: WriteContext) -> None:
        name = op.column.name
        if op.kind not in ("add", "remove"):
            raise InvalidRequest(f"Cannot set the value of counter column {name} (counters can only be incremented/decremented, not set)")
        if v is None:
            raise InvalidRequest(f"Invalid null value for counter increment on {name}")
        assert isinstance(v, bytes)
        delta = int.from_bytes(v, "big", signed=True)
        if op.kind == "remove":
            delta = -delta
        host = ctx.host_id.bytes
        clock, value = 0, 0
        for path, cell in await self._read_cells(pk, ck, name, ctx):
            if path == b"" and cell.value is not None:
                for h, c, val in decode_shards(cell.value):
                    if h == host:
                        clock, value = c, val
        row.cells[(name, b"")] = Cell(ts, encode_shards([(host, clock + 1, value + delta)]), counter=True)


def _present(v: BoundValue, name: str) -> bytes:
    if v is None or v is UNSET:
        raise InvalidRequest(f"Invalid null value for {name} element or key")
    assert isinstance(v, bytes)
    return v


def _op_text(kind: str, name: str) -> str:
    return {"add": f"{name} = {name} + ?", "prepend": f"{name} = ? + {name}",
            "remove": f"{name} = {name} - ?"}.get(kind, name)


# --- preparing ----------------------------------------------------------------------------------


def _column(table: TableInfo, name: str) -> ColumnInfo:
    c = table.column(name)
    if c is None:
        raise InvalidRequest(f"Undefined column name {name} in table {table.keyspace}.{table.name}")
    return c


def _using(u: A.Using, functions: FunctionResolver | None) -> tuple[ValueGetter | None, ValueGetter | None]:
    ttl = compile_term(u.ttl, Receiver("[ttl]", _INT), functions) if u.ttl is not None else None
    ts = compile_term(u.timestamp, Receiver("[timestamp]", _BIGINT), functions) if u.timestamp is not None else None
    return ttl, ts


def _bare_bind_index(term: Any, t: CQLType) -> int | None:
    """The bind index of `term` when it is a bare `?` whose value needs no validation for `t`:
    its getter (`values.compile_term`) then returns the bind value at that index unchanged."""
    from cql.terms import BindMarker

    if isinstance(term, BindMarker) and t.accepts_any_bytes:
        return term.index
    return None


def prepare_insert(table: TableInfo, stmt: A.Insert, functions: FunctionResolver | None) -> ModificationPlan:
    if table.is_counter:
        raise InvalidRequest("INSERT statements are not allowed on counter tables, use UPDATE instead")
    relations: list[A.Relation] = []
    ops: list[Operation] = []
    seen: set[str] = set()
    for name, term in zip(stmt.columns, stmt.values, strict=True):
        c = _column(table, name)
        if name in seen:
            raise InvalidRequest(f"Multiple definitions found for column {name}")
        seen.add(name)
        if c.kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING):
            relations.append(A.ColumnRelation(name, A.Operator.EQ, term))
        else:
            ops.append(Operation(c, "set", compile_term(term, Receiver(name, c.type), functions),
                                 bind_index=_bare_bind_index(term, c.type)))
    missing_pk = [c.name for c in table.partition_key if c.name not in seen]
    if missing_pk:
        raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing_pk)}")
    restrictions = analyze(table, relations, functions, for_select=False)
    ttl, ts = _using(stmt.using, functions)
    return ModificationPlan(table, "insert", restrictions, ops, ttl, ts, if_not_exists=stmt.if_not_exists)


def prepare_update(table: TableInfo, stmt: A.Update, functions: FunctionResolver | None) -> ModificationPlan:
    ops: list[Operation] = []
    for a in stmt.assignments:
        c = _column(table, a.column)
        if c.kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING):
            raise InvalidRequest(f"PRIMARY KEY part {c.name} found in SET part")
        t = c.type
        if isinstance(a, A.SetColumn):
            if t.is_counter:
                raise InvalidRequest(f"Cannot set the value of counter column {c.name} (counters can only be incremented/decremented, not set)")
            ops.append(Operation(c, "set", compile_term(a.value, Receiver(c.name, t), functions),
                                 bind_index=_bare_bind_index(a.value, t)))
        elif isinstance(a, A.AddToColumn | A.SubtractFromColumn | A.PrependToColumn):
            kind = "add" if isinstance(a, A.AddToColumn) else "remove" if isinstance(a, A.SubtractFromColumn) else "prepend"
            if t.is_counter:
                vt = _BIGINT
            elif t.is_collection and t.is_multicell:
                vt = t
                if kind == "remove" and kind_of(t) == "map":
                    vt = parse_type(f"frozen<set<{key_type(t).freeze().cql_name()}>>")
                if kind == "remove" and kind_of(t) in ("set", "list"):
                    vt = t.freeze()
            else:
                raise InvalidRequest(f"Invalid operation ({_op_text(kind, c.name)}) for non counter column {c.name}")
            ops.append(Operation(c, kind, compile_term(a.value, Receiver(c.name, vt), functions)))
        elif isinstance(a, A.SetElement):
            if not (t.is_multicell and kind_of(t) in ("map", "list")):
                raise InvalidRequest(f"Invalid operation ({c.name}[?] = ?) for non list/map column {c.name}")
            kt = key_type(t) if kind_of(t) == "map" else _INT
            vt2 = value_type(t) if kind_of(t) == "map" else element_type(t)
            ops.append(Operation(c, "set_element", compile_term(a.value, Receiver(f"value({c.name})", vt2), functions),
                                 compile_term(a.key, Receiver(f"key({c.name})", kt), functions)))
        else:
            assert isinstance(a, A.SetField)
            if kind_of(t) != "udt" or not t.is_multicell:
                raise InvalidRequest(f"Invalid operation ({c.name}.{a.field} = ?) for non-UDT column {c.name}")
            idx = _field_index(t, a.field, c.name)
            ops.append(Operation(c, "set_field", compile_term(a.value, Receiver(f"{c.name}.{a.field}", field_types(t)[idx]), functions),
                                 field_index=idx))
        # As Cassandra: assigning a whole column is incompatible with any other update of it in
        # the same statement (element updates and additions combine).
        same_column = [op for op in ops[:-1] if op.column.name == c.name]
        if same_column and (ops[-1].kind == "set" or any(op.kind == "set" for op in same_column)):
            raise InvalidRequest(f"Multiple incompatible setting of column {c.name}")
    restrictions = analyze(table, stmt.where, functions, for_select=False)
    ttl, ts = _using(stmt.using, functions)
    plan = ModificationPlan(table, "update", restrictions, ops, ttl, ts, if_exists=stmt.if_exists,
                            conditions=stmt.conditions)
    _prepare_conditions(plan, functions)
    return plan


def prepare_delete(table: TableInfo, stmt: A.Delete, functions: FunctionResolver | None) -> ModificationPlan:
    ops: list[Operation] = []
    for tgt in stmt.targets:
        c = _column(table, tgt.column)
        if c.kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING):
            raise InvalidRequest(f"Invalid identifier {c.name} for deletion (should not be a PRIMARY KEY part)")
        t = c.type
        if tgt.key is not None:
            if not t.is_multicell or kind_of(t) not in ("map", "list", "set"):
                raise InvalidRequest(f"Invalid operation ({c.name}[?]) for non collection column {c.name}")
            kt = key_type(t) if kind_of(t) == "map" else (_INT if kind_of(t) == "list" else element_type(t))
            ops.append(Operation(c, "delete_element", key=compile_term(tgt.key, Receiver(f"key({c.name})", kt), functions)))
        elif tgt.field is not None:
            if kind_of(t) != "udt" or not t.is_multicell:
                raise InvalidRequest(f"Invalid operation ({c.name}.{tgt.field}) for non-UDT column {c.name}")
            ops.append(Operation(c, "delete_field", field_index=_field_index(t, tgt.field, c.name)))
        else:
            ops.append(Operation(c, "delete"))
    restrictions = analyze(table, stmt.where, functions, for_select=False)
    if stmt.using.ttl is not None:
        raise InvalidRequest("TTL is not allowed on DELETE")
    _, ts = _using(stmt.using, functions)
    plan = ModificationPlan(table, "delete", restrictions, ops, None, ts, if_exists=stmt.if_exists,
                            conditions=stmt.conditions)
    _prepare_conditions(plan, functions)
    return plan


def _field_index(t: CQLType, field_name: str, column: str) -> int:
    try:
        return list(field_names(t)).index(field_name)
    except ValueError:
        raise InvalidRequest(f"UDT column {column} does not have a field named {field_name}") from None


def _prepare_conditions(plan: ModificationPlan, functions: FunctionResolver | None) -> None:
    for cond in plan.conditions:
        c = _column(plan.table, cond.column)
        if c.kind in (ColumnKind.PARTITION_KEY, ColumnKind.CLUSTERING):
            raise InvalidRequest(f"PRIMARY KEY column '{c.name}' cannot have IF conditions")
        t = c.type
        target_type = t
        key_getter = None
        if cond.key is not None:
            if kind_of(t) == "map":
                key_getter = compile_term(cond.key, Receiver(f"key({c.name})", key_type(t)), functions)
                target_type = value_type(t)
            elif kind_of(t) == "list":
                key_getter = compile_term(cond.key, Receiver(f"idx({c.name})", _INT), functions)
                target_type = element_type(t)
            else:
                raise InvalidRequest(f"Invalid element access on non list/map column {c.name}")
        elif cond.field is not None:
            target_type = field_types(t)[_field_index(t, cond.field, c.name)]
        if t.is_multicell and cond.key is None and cond.field is None:
            target_type = t.freeze()
        if cond.operator is A.Operator.IN:
            vt = parse_type(f"frozen<list<{target_type.freeze().cql_name()}>>")
            from cql import terms as T

            value_term = cond.value
            if isinstance(value_term, T.TupleLiteral):
                value_term = T.ListLiteral(value_term.items)
            getter = compile_term(value_term, Receiver(c.name, vt), functions)
        else:
            getter = compile_term(cond.value, Receiver(c.name, target_type), functions)
        plan.condition_getters.append((cond, c, getter, key_getter))

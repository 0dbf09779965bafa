"""The query processor: from QUERY / PREPARE / EXECUTE / BATCH requests to protocol responses.

Owns the statement caches (parsed text per session keyspace, prepared statements by id), the bind
metadata of prepared statements, and the dispatch of each statement kind to its implementation:
SELECT and DML plans (`scylla_py.statements`), DDL transitions applied through the metadata store,
USE, DESCRIBE, roles. It knows nothing of sockets; the CQL server calls it per request.

Invariants:
- A prepared statement's plan is bound to one schema version; any schema change drops the cache,
  so the next EXECUTE answers UNPREPARED and the driver re-prepares against the new schema (its
  result metadata may have changed).
- Writes return only after storage acknowledged them (durable per commitlog_sync).
- Every failure reaches the client as a `CQLError`; anything else is a bug and is logged as one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import pickle
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

from cql import ast as A
from cql.errors import InvalidRequest, ServerError, Unauthorized, Unavailable, Unprepared
from cql.parser import parse
from cql.protocol.requests import Batch, Consistency, QueryParameters
from cql.protocol.responses import (
    Response,
    ResultPrepared,
    ResultRows,
    ResultSchemaChange,
    ResultSetKeyspace,
    ResultVoid,
)
from cql.protocol.tablets import TABLETS_ROUTING_V1_KEY, encode_tablets_routing_v1
from cql.protocol_types import ColumnSpec
from cql.schema import TableDef
from cql.system_tables import SystemContext, is_system_keyspace, system_table
from cql.types import BOOLEAN, parse_type
from storage.mutation import Mutation, Row
from storage.read import PartitionData, Slice
from storage.reconcile import merge_mutation_into

from .clock import TimestampGenerator
from .metadata import Metadata, MetadataStore
from .metrics import ShardMetrics
from .shard_rpc import ShardUnavailable
from .statements import roles as role_statements
from .statements.conditions import evaluate_conditions
from .statements.functions import FunctionRegistry
from .statements.modification import (
    ModificationPlan,
    WriteContext,
    prepare_delete,
    prepare_insert,
    prepare_update,
)
from .statements.schema_change import SchemaChange, SchemaChanger
from .statements.select import SelectPlan, prepare_select
from .statements.selection import RowView, column_value_getter
from .statements.table_info import TableInfo, TableInfoCache, type_resolver_for
from .statements.values import BindValues, BoundValue, Receiver
from .storage_proxy import StorageProxy

log = logging.getLogger(__name__)

_VOID = ResultVoid()
_APPLIED = ColumnSpec("", "", "[applied]", BOOLEAN.protocol_option)
_TRUE = b"\x01"
_FALSE = b"\x00"


@dataclass
class Session:
    """Per-connection state the processor reads and updates."""

    keyspace: str | None = None
    user: str | None = None


@dataclass
class Prepared:
    """A statement ready to execute: parsed, planned against one schema version."""

    id: bytes
    query: str
    keyspace: str | None
    statement: A.Statement
    bind_count: int
    bind_names: tuple[str | None, ...]
    schema_version: uuid.UUID
    plan: SelectPlan | ModificationPlan | None = None
    bind_specs: list[ColumnSpec] = field(default_factory=list)
    result_specs: tuple[ColumnSpec, ...] | None = None  # a tuple: the codec caches its encoding by identity
    pk_indexes: list[int] = field(default_factory=list)
    table: TableInfo | None = None

    @property
    def is_lwt(self) -> bool:
        return isinstance(self.plan, ModificationPlan) and self.plan.is_conditional


MetadataListener = Callable[[Metadata, Metadata, SchemaChange | None], Awaitable[None]]
SystemContextFactory = Callable[[], SystemContext]

_METADATA_STATEMENTS = (
    A.CreateKeyspace, A.AlterKeyspace, A.DropKeyspace, A.CreateTable, A.AlterTable, A.DropTable, A.CreateType,
    A.AlterType, A.DropType, A.CreateRole, A.AlterRole, A.DropRole, A.CreateUser, A.AlterUser, A.DropUser,
    A.GrantRole, A.RevokeRole,
)
_DEFAULT_PARAMS = QueryParameters(Consistency.ONE)


class QueryProcessor:
    def __init__(
        self,
        metadata: MetadataStore,
        proxy: StorageProxy,
        timestamps: TimestampGenerator,
        schema_changer: SchemaChanger,
        system_context: SystemContextFactory,
        host_id: uuid.UUID,
        authenticator: str,
        on_metadata_change: MetadataListener,
        metrics: ShardMetrics,
    ) -> None:
        self._metadata = metadata
        self._proxy = proxy
        self._timestamps = timestamps
        self._schema_changer = schema_changer
        self._system_context = system_context
        self._host_id = host_id
        self._authenticator = authenticator
        self._on_metadata_change = on_metadata_change
        self._metrics = metrics
        self._infos = TableInfoCache(type_resolver_for)
        self._functions = FunctionRegistry(timestamps)
        self._parsed: dict[tuple[str | None, str], Prepared] = {}
        self._prepared: dict[bytes, Prepared] = {}
        self._partition_locks: dict[tuple[uuid.UUID, bytes], asyncio.Lock] = {}
        self._schema_lock = asyncio.Lock()
        self._owner_plans: dict[bytes, ModificationPlan] = {}

    # --- caches -----------------------------------------------------------------------------

    @property
    def schema(self) -> Any:
        return self._metadata.current.schema

    def _prepare(self, query: str, keyspace: str | None) -> Prepared:
        parsed = parse(query)
        pid = hashlib.md5(((keyspace or "") + query).encode()).digest()
        p = Prepared(pid, query, keyspace, parsed.statement, parsed.bind_count, parsed.bind_names,
                     self._metadata.current.schema.version)
        self._plan(p)
        return p

    def _cached(self, query: str, keyspace: str | None) -> Prepared:
        key = (keyspace, query)
        p = self._parsed.get(key)
        if p is None or p.schema_version != self._metadata.current.schema.version:
            p = self._prepare(query, keyspace)
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            self._parsed[key] = p
        return p

    def _schema_changed(self) -> None:
        self._parsed.clear()
        self._prepared.clear()
        self._owner_plans.clear()

    def metadata_installed(self) -> None:
        """Metadata changed under this processor (pushed by the owner): drop schema-bound caches."""
        self._schema_changed()

    # --- planning ---------------------------------------------------------------------------

    def table_info(self, keyspace: str | None, name: str, session_keyspace: str | None) -> TableInfo:
        ks = keyspace or session_keyspace
        if ks is None:
            raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
        schema = self._metadata.current.schema
        vt = system_table(ks, name)
        table: TableDef | None = vt.table if vt is not None else schema.table(ks, name)
        if table is None:
            if schema.keyspace(ks) is None and not is_system_keyspace(ks):
                raise InvalidRequest(f"Keyspace {ks} does not exist")
            raise InvalidRequest(f"unconfigured table {name}")
        return self._infos.get(schema, table)

    def _plan(self, p: Prepared) -> None:
        s = p.statement
        ctx = self._functions.compile_context()
        if isinstance(s, A.Select):
            t = self.table_info(s.table.keyspace, s.table.name, p.keyspace)
            p.table = t
            plan = prepare_select(t, s, ctx, self._functions.lookup)
            p.plan = plan
            p.result_specs = tuple(ColumnSpec(t.keyspace, t.name, e.name, e.type.protocol_option)
                                   for e in plan.selection.evaluators)
        elif isinstance(s, A.Insert | A.Update | A.Delete):
            t = self.table_info(s.table.keyspace, s.table.name, p.keyspace)
            if t.is_virtual or is_system_keyspace(t.keyspace):
                raise Unauthorized(f"Cannot modify system keyspace {t.keyspace}")
            p.table = t
            p.plan = _prepare_modification(t, s, ctx, p.keyspace)
        elif isinstance(s, A.InsertJson):
            raise InvalidRequest("INSERT JSON is not supported yet")
        elif isinstance(s, A.Batch):
            for child in s.statements:
                if isinstance(child, A.InsertJson):
                    raise InvalidRequest("INSERT JSON is not supported yet")
                t = self.table_info(child.table.keyspace, child.table.name, p.keyspace)
                if t.is_virtual or is_system_keyspace(t.keyspace):
                    raise Unauthorized(f"Cannot modify system keyspace {t.keyspace}")
        table = p.table
        ks = table.keyspace if table else (p.keyspace or "")
        tname = table.name if table else ""
        specs = []
        for i in range(p.bind_count):
            r = ctx.bind_receivers.get(i)
            if r is None:
                raise InvalidRequest(f"Bind marker {i} is not allowed in this position")
            name = p.bind_names[i] or r.name
            specs.append(ColumnSpec(ks, tname, name, r.type.protocol_option))
        p.bind_specs = specs
        p.pk_indexes = _pk_indexes(s, table)

    # --- entry points -----------------------------------------------------------------------

    def prepare(self, session: Session, query: str) -> ResultPrepared:
        p = self._prepare(query, session.keyspace)
        self._prepared[p.id] = p
        return ResultPrepared(p.id, p.bind_specs, p.pk_indexes,
                              p.result_specs if isinstance(p.plan, SelectPlan) else None, lwt=p.is_lwt)

    # query() and execute() hand back `_execute`'s coroutine rather than awaiting it in one of
    # their own: a coroutine level fewer per request. Errors found before that raise at the call.

    def query(self, session: Session, query: str, params: QueryParameters) -> Awaitable[Response]:
        p = self._cached(query, session.keyspace)
        return self._execute(session, p, self._bind(p, params), params)

    def execute(self, session: Session, query_id: bytes, params: QueryParameters) -> Awaitable[Response]:
        p = self._prepared.get(query_id)
        if p is None:
            raise _unprepared(query_id)
        return self._execute(session, p, self._bind(p, params), params, from_prepared=True)

    # query_now() and execute_now() are query() and execute() for the CQL server's hot path: a
    # write that storage takes without waiting (a plain write in periodic commitlog mode, to a
    # tablet of this shard) and a point read (`SelectPlan.point`, no paging state) of a
    # partition this shard owns are done within the call, with no coroutine, and their Response
    # returned; anything else returns the awaitable that query()/execute() would. Results,
    # errors (raised at the call or by the awaitable, as there) and metrics are the same.

    def query_now(self, session: Session, query: str, params: QueryParameters) -> Response | Awaitable[Response]:
        p = self._cached(query, session.keyspace)
        bind = self._bind(p, params)
        plan = p.plan
        if isinstance(plan, ModificationPlan):
            return self._modify_now(plan, bind, params.timestamp, False)
        if plan.__class__ is SelectPlan and plan.point is not None and not params.paging_state:
            return self._select_point_now(p, plan, bind, params, False)
        return self._execute(session, p, bind, params)

    def execute_now(self, session: Session, query_id: bytes,
                    params: QueryParameters) -> Response | Awaitable[Response]:
        p = self._prepared.get(query_id)
        if p is None:
            raise _unprepared(query_id)
        bind: BindValues = params.values
        if params.named_values is not None or len(bind) != p.bind_count:
            bind = self._bind(p, params)  # (what it returns for the usual case, inline)
        plan = p.plan
        if isinstance(plan, ModificationPlan):
            return self._modify_now(plan, bind, params.timestamp, True)
        if plan.__class__ is SelectPlan and plan.point is not None and not params.paging_state:
            return self._select_point_now(p, plan, bind, params, True)
        return self._execute(session, p, bind, params, from_prepared=True)

    def _bind(self, p: Prepared, params: QueryParameters) -> BindValues:
        if params.named_values is not None:
            by_name = dict(params.named_values)
            values: list[BoundValue] = []
            for i, name in enumerate(p.bind_names):
                key = name if name is not None else (p.bind_specs[i].name if i < len(p.bind_specs) else None)
                if key is None or key not in by_name:
                    raise InvalidRequest(f"No value for bind variable {key or i}")
                values.append(by_name[key])
            return values
        if len(params.values) != p.bind_count:
            raise InvalidRequest(f"There were {p.bind_count} markers(?) in CQL but {len(params.values)} "
                                 "bound variables")
        return params.values

    async def _execute(self, session: Session, p: Prepared, bind: BindValues, params: QueryParameters,
                       from_prepared: bool = False) -> Response:
        s = p.statement
        plan = p.plan
        if isinstance(plan, SelectPlan):
            if plan.point is not None and not params.paging_state:
                read = self._select_point_now(p, plan, bind, params, from_prepared)
                return read if isinstance(read, Response) else await read
            t0 = perf_counter_ns()
            hops = self._metrics.cross_shard_ops
            try:
                resp: Response = await self._select(p, plan, bind, params, from_prepared)
            except Unavailable:
                self._metrics.read_unavailable += 1
                raise
            finally:
                self._metrics.read_latency.observe((perf_counter_ns() - t0) / 1000)
            # A routing hint only when this request had to hop: on the replica shard it is not due.
            if from_prepared and self._metrics.cross_shard_ops != hops:
                return self._routed_read(resp, plan, bind)
            return resp
        if isinstance(plan, ModificationPlan):
            written = self._modify_now(plan, bind, params.timestamp, from_prepared)
            return written if isinstance(written, Response) else await written
        if isinstance(s, _METADATA_STATEMENTS) and not self._metadata.owner:
            return await self._forward_metadata_statement(session, p)
        if isinstance(s, A.Use):
            if self._metadata.current.schema.keyspace(s.keyspace) is None and not is_system_keyspace(s.keyspace):
                raise InvalidRequest(f"Keyspace '{s.keyspace}' does not exist")
            session.keyspace = s.keyspace
            return ResultSetKeyspace(s.keyspace)
        if isinstance(s, A.Batch):
            return await self._batch_statement(session, s, bind, params)
        if isinstance(s, A.Truncate):
            return await self._truncate(s, session.keyspace)
        if isinstance(s, A.Describe):
            return self._describe(s, session)
        if isinstance(s, A.CreateKeyspace | A.AlterKeyspace | A.DropKeyspace | A.CreateTable | A.AlterTable
                      | A.DropTable | A.CreateType | A.AlterType | A.DropType):
            return await self._schema_statement(s, session.keyspace)
        if isinstance(s, A.CreateIndex | A.DropIndex | A.CreateMaterializedView | A.AlterMaterializedView
                      | A.DropMaterializedView):
            raise InvalidRequest("Secondary indexes and materialized views are not supported yet")
        result = await role_statements.execute(s, self._metadata, session, self._authenticator,
                                               self._install_roles)
        if result is not None:
            return result
        raise InvalidRequest(f"Unsupported statement {type(s).__name__}")

    # --- reads ------------------------------------------------------------------------------

    def _select_point_now(self, p: Prepared, plan: SelectPlan, bind: BindValues, params: QueryParameters,
                          from_prepared: bool) -> Response | Awaitable[Response]:
        """A SELECT taking the point-read lane (`plan.point`, no paging state) with its coordinator
        metrics (read latency, unavailable) and routing hint: the ResultRows when storage answered
        at once (this shard owns the partition: always, for a local read), else an awaitable of
        it. Errors before any wait raise here, after the metrics are counted, as the awaitable
        would count them. (`_execute`'s SELECT branch for the other reads: keep them in step.)"""
        metrics = self._metrics
        t0 = perf_counter_ns()
        hops = metrics.cross_shard_ops
        page_size = params.page_size if params.page_size is not None and params.page_size > 0 else None
        try:
            rows = plan.execute_point_now(bind, page_size, self._timestamps.now_s(), self._proxy.read_row)
        except Unavailable:
            metrics.read_unavailable += 1
            metrics.read_latency.observe((perf_counter_ns() - t0) / 1000)
            raise
        except BaseException:
            metrics.read_latency.observe((perf_counter_ns() - t0) / 1000)
            raise
        if not isinstance(rows, list):
            return self._finish_point(p, plan, bind, params, from_prepared, rows, t0, hops)
        metrics.read_latency.observe((perf_counter_ns() - t0) / 1000)
        assert p.result_specs is not None
        resp = ResultRows(p.result_specs, rows, None, no_metadata=from_prepared and params.skip_metadata)
        if from_prepared and metrics.cross_shard_ops != hops:
            return self._routed_read(resp, plan, bind)
        return resp

    async def _finish_point(self, p: Prepared, plan: SelectPlan, bind: BindValues, params: QueryParameters,
                            from_prepared: bool, pending: Awaitable[list[list[bytes | None]]], t0: int,
                            hops: int) -> Response:
        """The waiting part of `_select_point_now` (another shard owns the partition)."""
        metrics = self._metrics
        try:
            rows = await pending
        except Unavailable:
            metrics.read_unavailable += 1
            raise
        finally:
            metrics.read_latency.observe((perf_counter_ns() - t0) / 1000)
        assert p.result_specs is not None
        resp = ResultRows(p.result_specs, rows, None, no_metadata=from_prepared and params.skip_metadata)
        if from_prepared and metrics.cross_shard_ops != hops:
            return self._routed_read(resp, plan, bind)
        return resp

    def _routed_read(self, resp: Response, plan: SelectPlan, bind: BindValues) -> Response:
        """`resp` with a routing hint when the read named one partition (it had to hop)."""
        if plan.restrictions.has_partition_keys:
            keys = plan.restrictions.partition_keys(bind)
            if len(keys) == 1:
                return self._with_routing_hint(resp, plan.table, keys[0])
        return resp

    async def _select(self, p: Prepared, plan: SelectPlan, bind: BindValues, params: QueryParameters,
                      from_prepared: bool) -> Response:
        """A SELECT other than a point read (those are `_select_point_now`'s)."""
        page_size = params.page_size if params.page_size is not None and params.page_size > 0 else None
        now_s = self._timestamps.now_s()
        ctx_holder: list[SystemContext] = []

        def virtual_rows(t: TableInfo) -> list[dict[str, bytes | None]]:
            if not ctx_holder:
                ctx_holder.append(self._system_context())
            return self._virtual_rows(t, ctx_holder[0])

        page = await plan.execute(bind, page_size, params.paging_state, now_s, self._read_partition,
                                  self._scan_partitions, virtual_rows)
        assert p.result_specs is not None
        return ResultRows(p.result_specs, page.rows, page.paging_state,
                          no_metadata=from_prepared and params.skip_metadata)

    def _read_partition(self, t: TableInfo, token: int, key: bytes, sl: Slice) -> Awaitable[PartitionData | None]:
        return self._proxy.read(t.id, token, key, sl)

    def _scan_partitions(self, t: TableInfo, after: tuple[int, bytes] | None, lo: int, hi: int,
                         sl: Slice) -> AsyncIterator[PartitionData]:
        return self._proxy.scan(t.id, after, lo, hi, sl)

    def _virtual_rows(self, t: TableInfo, ctx: SystemContext) -> list[dict[str, bytes | None]]:
        vt = system_table(t.keyspace, t.name)
        assert vt is not None
        types = {c.name: c.type for c in t.columns}
        out = []
        for row in vt.rows(ctx):
            out.append({name: (types[name].serialize(v) if v is not None else None)
                        for name, v in row.items() if name in types})
        # Sort by partition key then clustering, as a stored table would return them.
        return sorted(out, key=lambda r: _virtual_sort_key(t, r))

    # --- writes -----------------------------------------------------------------------------

    def _write_context(self, plan: ModificationPlan, ts: int) -> WriteContext:
        proxy = self._proxy
        table = plan.table

        async def read_row(pk: bytes, ck: bytes, static: bool) -> Row | None:
            token = table.token_of(pk)
            ranges = () if static else ((ck, ck + b"\x00"),)
            data = await proxy.read(table.id, token, pk, Slice(ranges, now_s=self._timestamps.now_s()))
            if data is None:
                return None
            if static:
                return data.static_row
            return data.rows[0][1] if data.rows else None

        return WriteContext(ts, self._timestamps.now_s(), self._host_id, read_row)

    def _lock(self, table_id: uuid.UUID, key: bytes) -> asyncio.Lock:
        lock = self._partition_locks.get((table_id, key))
        if lock is None:
            if len(self._partition_locks) > 4096:
                for k in [k for k, v in self._partition_locks.items() if not v.locked()]:
                    del self._partition_locks[k]
            lock = self._partition_locks[(table_id, key)] = asyncio.Lock()
        return lock

    def _modify_now(self, plan: ModificationPlan, bind: BindValues, client_ts: int | None,
                    from_prepared: bool) -> Response | Awaitable[Response]:
        """One INSERT/UPDATE/DELETE with its coordinator metrics (write latency, unavailable) and
        routing hint: the Response when it finished without waiting (a plain write storage took
        at once), else an awaitable of it. Errors before any wait raise here, after the metrics
        are counted, exactly as the awaitable would count them."""
        metrics = self._metrics
        t0 = perf_counter_ns()
        hops = metrics.cross_shard_ops
        try:
            if plan.is_plain_write:
                pending: Awaitable[Response | None] | None = self._plain_write(plan, bind, client_ts)
            else:
                pending = self._modify(plan, bind, client_ts)
        except Unavailable:
            metrics.write_unavailable += 1
            metrics.write_latency.observe((perf_counter_ns() - t0) / 1000)
            raise
        except BaseException:
            metrics.write_latency.observe((perf_counter_ns() - t0) / 1000)
            raise
        if pending is not None:
            return self._finish_modify(plan, bind, pending, t0, hops, from_prepared)
        metrics.write_latency.observe((perf_counter_ns() - t0) / 1000)
        if from_prepared and metrics.cross_shard_ops != hops:
            return self._routed(_VOID, plan, bind)
        return _VOID

    async def _finish_modify(self, plan: ModificationPlan, bind: BindValues, pending: Awaitable[Response | None],
                             t0: int, hops: int, from_prepared: bool) -> Response:
        """The waiting part of `_modify_now`."""
        metrics = self._metrics
        try:
            resp = await pending
        except Unavailable:
            metrics.write_unavailable += 1
            raise
        finally:
            metrics.write_latency.observe((perf_counter_ns() - t0) / 1000)
        if resp is None:
            resp = _VOID
        if from_prepared and metrics.cross_shard_ops != hops:
            return self._routed(resp, plan, bind)
        return resp

    def _routed(self, resp: Response, plan: ModificationPlan, bind: BindValues) -> Response:
        """`resp` with a routing hint when the write had one partition (it had to hop)."""
        keys = plan.partition_keys(bind)
        if len(keys) == 1:
            return self._with_routing_hint(resp, plan.table, keys[0])
        return resp

    def _plain_write(self, plan: ModificationPlan, bind: BindValues, client_ts: int | None) -> Awaitable[None] | None:
        """A plain write (`is_plain_write`) sent to storage: None when storage is done with it,
        else what to await (see `StorageProxy.mutate_encoded`). One row goes as storage's bytes
        (the write hot path); other shapes as mutations."""
        ts = client_ts if client_ts is not None else self._timestamps.next_us()
        if plan.timestamp is not None:  # USING TIMESTAMP (`timestamp_of`, called only when it has work)
            ts = plan.timestamp_of(bind, ts)
        w = plan.encode_plain(bind, ts, self._timestamps.now_s())
        if isinstance(w, tuple):
            return self._proxy.mutate_encoded(plan.table.id, *w)
        if len(w) == 1:
            return self._proxy.mutate(plan.table.id, w[0])
        return self._mutate_all([(plan.table.id, m) for m in w])

    async def _modify(self, plan: ModificationPlan, bind: BindValues, client_ts: int | None) -> Response:
        if plan.is_plain_write:
            pending = self._plain_write(plan, bind, client_ts)
            if pending is not None:
                await pending
            return _VOID
        ts = plan.timestamp_of(bind, client_ts if client_ts is not None else self._timestamps.next_us())
        if plan.is_conditional:
            keys = plan.partition_keys(bind)
            if len(keys) == 1 and (shard := self._foreign_owner(plan.table, keys[0])) is not None:
                return await self._modify_at_owner(shard, plan, bind, ts, keys[0])
            return await self._conditional(plan, bind, self._write_context(plan, ts))
        if plan.needs_read:
            # Read-modify-write (counters, list indexes): serialized per partition by the shard
            # that owns it, so two coordinators never interleave on one partition.
            ctx = self._write_context(plan, ts)
            for pk in plan.partition_keys(bind):
                shard = self._foreign_owner(plan.table, pk)
                if shard is not None:
                    await self._modify_at_owner(shard, plan, bind, ts, pk)
                    continue
                await self._modify_key_locally(plan, pk, bind, ctx)
            return _VOID
        mutations = await plan.build(bind, self._write_context(plan, ts))
        if len(mutations) == 1:
            await self._proxy.mutate(plan.table.id, mutations[0])
        else:
            await self._mutate_all([(plan.table.id, m) for m in mutations])
        return _VOID

    async def _mutate_all(self, writes: Sequence[tuple[uuid.UUID, Mutation]]) -> None:
        """Apply several mutations concurrently. `StorageProxy.mutate` may raise at the call (no
        replica here): each call runs inside its own coroutine so one failing call cannot leave the
        others un-awaited, i.e. not written."""

        async def one(table_id: uuid.UUID, m: Mutation) -> None:
            await self._proxy.mutate(table_id, m)

        await asyncio.gather(*(one(tid, m) for tid, m in writes))

    async def _modify_key_locally(self, plan: ModificationPlan, pk: bytes, bind: BindValues,
                                  ctx: WriteContext) -> None:
        async with self._lock(plan.table.id, pk):
            for m in await plan.build_for_key(pk, bind, ctx):
                await self._proxy.mutate(plan.table.id, m)

    # --- statements that must run on the partition's own shard -------------------------------

    def _foreign_owner(self, table: TableInfo, pk: bytes) -> int | None:
        """The shard owning partition `pk` when it is not this one."""
        if self._proxy.peers.shard_count == 1:
            return None
        return self._proxy.foreign_owner(table.id, table.token_of(pk))

    async def _modify_at_owner(self, shard: int, plan: ModificationPlan, bind: BindValues, ts: int,
                               pk: bytes) -> Response:
        """Bounce an LWT or a read-before-write to the shard owning the partition (as ScyllaDB
        does): the owner re-plans the statement and runs it under its partition lock."""
        if plan.source is None:
            raise ServerError("bug: a plan without its statement cannot be forwarded")
        payload = [plan.pickled_source, pickle.dumps((list(bind), ts, pk))]
        self._metrics.cross_shard_ops += 1
        try:
            out = await self._proxy.peers.call(shard, "modify_at_owner", payload)
        except ShardUnavailable as e:
            raise ServerError(f"The shard owning this partition is unavailable ({e}); retry") from None
        return pickle.loads(out) if out is not None else _VOID  # pickle: from this node's own shard

    async def modify_at_owner(self, payload: list[bytes]) -> bytes | None:
        """The owner's side of `_modify_at_owner`; plans are cached by their pickled statement."""
        key, rest = payload
        bind, ts, pk = pickle.loads(rest)  # pickle: from this node's own shard
        plan = self._owner_plans.get(key)
        if plan is None:
            statement, keyspace = pickle.loads(key)  # pickle: from this node's own shard
            t = self.table_info(statement.table.keyspace, statement.table.name, keyspace)
            plan = _prepare_modification(t, statement, self._functions.compile_context(), keyspace)
            if len(self._owner_plans) > 1000:
                self._owner_plans.clear()
            self._owner_plans[key] = plan
        wctx = self._write_context(plan, ts)
        if plan.is_conditional:
            return pickle.dumps(await self._conditional(plan, bind, wctx))
        await self._modify_key_locally(plan, pk, bind, wctx)
        return None

    def _with_routing_hint(self, resp: Response, table: TableInfo, pk: bytes) -> Response:
        """Attach `tablets-routing-v1` when this shard is not a replica of the partition's tablet,
        so a tablet-aware driver sends the next request for it straight to the owner."""
        if self._proxy.peers.shard_count == 1 or table.is_virtual:
            return resp
        hint = self._proxy.routing_hint(table.id, table.token_of(pk))
        if hint is None:
            return resp
        first, last, tablet = hint
        payload = {TABLETS_ROUTING_V1_KEY: encode_tablets_routing_v1(first, last, tablet.replicas)}
        return dataclasses.replace(resp, custom_payload=payload)

    async def _conditional(self, plan: ModificationPlan, bind: BindValues, ctx: WriteContext) -> Response:
        keys = plan.partition_keys(bind)
        if len(keys) != 1:
            raise InvalidRequest("IN on the partition key is not supported with conditional updates")
        r = plan.restrictions
        if plan.table.clustering_key and not r.full_clustering_eq:
            raise InvalidRequest("Conditional updates require the full primary key")
        cks = r.clustering_keys(bind) if plan.table.clustering_key else [b""]
        if len(cks) != 1:
            raise InvalidRequest("IN on the clustering key columns is not supported with conditional updates")
        pk, ck = keys[0], cks[0]
        t = plan.table
        async with self._lock(t.id, pk):
            token = t.token_of(pk)
            sl = Slice(((ck, ck + b"\x00"),), now_s=ctx.now_s)
            data = await self._proxy.read(t.id, token, pk, sl)
            row = data.rows[0][1] if data is not None and data.rows else None
            static = data.static_row if data is not None else None
            view = RowView(token, t.split_partition_key(pk), t.decode_clustering(ck) if ck else None,
                           static, row, ctx.now_s)
            exists = row is not None or (not t.clustering_key and static is not None)
            if plan.if_not_exists:
                applied = not exists
                shown = list(t.columns) if exists else []
            elif plan.if_exists and not plan.conditions:
                applied = exists
                shown = []
            else:
                applied = exists and evaluate_conditions(plan, bind, view) if plan.if_exists else \
                    evaluate_conditions(plan, bind, view)
                shown = [c for _, c, _, _ in plan.condition_getters]
                shown = list({c.name: c for c in shown}.values())
            if applied:
                for m in await plan.build(bind, ctx):
                    await self._proxy.mutate(t.id, m)
        specs = [_APPLIED]
        values: list[bytes | None] = [_TRUE if applied else _FALSE]
        if not applied and shown:
            for c in shown:
                specs.append(ColumnSpec(t.keyspace, t.name, c.name, c.type.protocol_option))
                values.append(column_value_getter(c)(view))
        return ResultRows(specs, [values])

    # --- batches ----------------------------------------------------------------------------

    async def batch(self, session: Session, request: Batch) -> Response:
        items: list[tuple[Prepared, BindValues]] = []
        for bs in request.statements:
            if isinstance(bs.statement, bytes):
                p = self._prepared.get(bs.statement)
                if p is None:
                    raise Unprepared(f"Prepared query with ID {bs.statement.hex()} not found", bs.statement)
            else:
                p = self._cached(bs.statement, session.keyspace)
            if not isinstance(p.plan, ModificationPlan):
                raise InvalidRequest("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.")
            if len(bs.values) != p.bind_count:
                raise InvalidRequest(f"There were {p.bind_count} markers(?) in CQL but {len(bs.values)} bound variables")
            items.append((p, bs.values))
        plans = [(p.plan, v) for p, v in items if isinstance(p.plan, ModificationPlan)]
        counter = request.batch_type == 2
        t0 = perf_counter_ns()
        try:
            return await self._run_batch(plans, request.timestamp, counter)
        except Unavailable:
            self._metrics.write_unavailable += 1
            raise
        finally:
            self._metrics.write_latency.observe((perf_counter_ns() - t0) / 1000)

    async def _batch_statement(self, session: Session, s: A.Batch, bind: BindValues,
                               params: QueryParameters) -> Response:
        ctx = self._functions.compile_context()
        plans: list[tuple[ModificationPlan, BindValues]] = []
        for child in s.statements:
            assert not isinstance(child, A.InsertJson)
            t = self.table_info(child.table.keyspace, child.table.name, session.keyspace)
            if child.using.timestamp is not None and s.using.timestamp is not None:
                raise InvalidRequest("Timestamp must be set either on BATCH or individual statements")
            plans.append((_prepare_modification(t, child, ctx, session.keyspace), bind))
        ts = params.timestamp
        if s.using.timestamp is not None:
            from .statements.values import compile_term

            v = compile_term(s.using.timestamp, Receiver("[timestamp]", parse_type("bigint")), ctx)(bind)
            if isinstance(v, bytes):
                ts = int.from_bytes(v, "big", signed=True)
        return await self._run_batch(plans, ts, s.kind is A.BatchKind.COUNTER)

    async def _run_batch(self, plans: Sequence[tuple[ModificationPlan, BindValues]], client_ts: int | None,
                         counter: bool) -> Response:
        if any(p.is_conditional for p, _ in plans):
            if len(plans) == 1:
                p0, b0 = plans[0]
                return await self._modify(p0, b0, client_ts)
            raise InvalidRequest("Conditional statements in batches are not supported yet")
        for p, _ in plans:
            if p.is_counter != counter:
                raise InvalidRequest("Cannot include a counter statement in a logged batch" if p.is_counter
                                     else "Only counter mutations are allowed in COUNTER batches")
        default_ts = client_ts if client_ts is not None else self._timestamps.next_us()
        if counter:
            for p, b in plans:
                await self._modify(p, b, default_ts)
            return _VOID
        merged: dict[tuple[uuid.UUID, bytes], Mutation] = {}
        for p, b in plans:
            ctx = self._write_context(p, p.timestamp_of(b, default_ts))
            for m in await p.build(b, ctx):
                key = (p.table.id, m.key)
                if key in merged:
                    merge_mutation_into(merged[key], m)
                else:
                    merged[key] = m
        await self._mutate_all([(tid, m) for (tid, _), m in merged.items()])
        return _VOID

    # --- schema -----------------------------------------------------------------------------

    async def _schema_statement(self, s: A.Statement, keyspace: str | None) -> Response:
        async with self._schema_lock:
            old = self._metadata.current
            changer = self._schema_changer

            def ks_of(name: A.QualifiedName) -> str:
                k = name.keyspace or keyspace
                if k is None:
                    raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
                return k

            if isinstance(s, A.CreateKeyspace):
                new, change = changer.create_keyspace(old, s)
            elif isinstance(s, A.AlterKeyspace):
                new, change = changer.alter_keyspace(old, s)
            elif isinstance(s, A.DropKeyspace):
                new, change = changer.drop_keyspace(old, s)
            elif isinstance(s, A.CreateTable):
                new, change = changer.create_table(old, s, ks_of(s.table))
            elif isinstance(s, A.AlterTable):
                new, change = changer.alter_table(old, s, ks_of(s.table))
            elif isinstance(s, A.DropTable):
                new, change = changer.drop_table(old, s, ks_of(s.table))
            elif isinstance(s, A.CreateType):
                new, change = changer.create_type(old, s, ks_of(s.name))
            elif isinstance(s, A.AlterType):
                new, change = changer.alter_type(old, s, ks_of(s.name))
            else:
                assert isinstance(s, A.DropType)
                new, change = changer.drop_type(old, s, ks_of(s.name))
            if change is None:
                return _VOID
            await self.install_metadata(new, change)
        return ResultSchemaChange(change.change_type, change.target, change.keyspace, change.name)

    async def install_metadata(self, new: Metadata, change: SchemaChange | None = None) -> None:
        """Make `new` durable (this shard owns metadata), then let the node apply it everywhere
        (storage on every shard, the other shards' copies, SCHEMA_CHANGE events) before the
        statement that made it is acknowledged."""
        old = self._metadata.current
        self._metadata.update(new)
        self._schema_changed()
        await self._on_metadata_change(old, self._metadata.current, change)

    async def _install_roles(self, new: Metadata) -> None:
        async with self._schema_lock:
            await self.install_metadata(new)

    async def _forward_metadata_statement(self, session: Session, p: Prepared) -> Response:
        """Schema and role changes are made by the metadata owner (shard 0); its reply comes back
        only after every shard, this one included, has the new metadata."""
        if p.bind_count:
            raise InvalidRequest("Bind markers are not allowed in schema or role statements")
        try:
            out = await self._proxy.peers.call(0, "metadata_statement",
                                               [p.query, session.keyspace, session.user])
        except ShardUnavailable as e:
            raise ServerError(f"Schema and role changes are made by shard 0, which is unavailable ({e}); retry") \
                from None
        return pickle.loads(out)  # type: ignore[no-any-return]  # pickle: from shard 0

    async def metadata_statement(self, payload: list[Any]) -> bytes:
        """Shard 0's side of `_forward_metadata_statement`."""
        query, keyspace, user = payload
        session = Session(keyspace, user)
        p = self._cached(query, keyspace)
        return pickle.dumps(await self._execute(session, p, [], _DEFAULT_PARAMS))

    async def _truncate(self, s: A.Truncate, keyspace: str | None) -> Response:
        t = self.table_info(s.table.keyspace, s.table.name, keyspace)
        if t.is_virtual or is_system_keyspace(t.keyspace):
            raise Unauthorized(f"Cannot truncate system table {t.keyspace}.{t.name}")
        await self._proxy.truncate(t.id, self._timestamps.next_us())
        return _VOID

    def _describe(self, s: A.Describe, session: Session) -> Response:
        from cql.describe import describe_statement

        ctx = self._system_context()
        result = describe_statement(s, self._metadata.current.schema, ctx, session.keyspace)
        types = [parse_type(t) for _, t in result.columns]
        specs = [ColumnSpec("", "", n, t.protocol_option) for (n, _), t in zip(result.columns, types, strict=True)]
        rows = [[(t.serialize(v) if v is not None else None) for t, v in zip(types, row, strict=True)]
                for row in result.rows]
        return ResultRows(specs, rows)


def _unprepared(query_id: bytes) -> Unprepared:
    return Unprepared(f"Prepared query with ID {query_id.hex()} not found (either the query was not prepared "
                      "on this host (maybe the host has been restarted?) or you have prepared too many queries "
                      "and it has been evicted from the internal cache)", query_id)


def _prepare_modification(t: TableInfo, statement: A.Insert | A.Update | A.Delete, ctx: Any,
                          keyspace: str | None) -> ModificationPlan:
    """The plan of one INSERT/UPDATE/DELETE, remembering its statement so an LWT or a
    read-before-write can be re-planned by the partition's own shard."""
    if isinstance(statement, A.Insert):
        plan = prepare_insert(t, statement, ctx)
    elif isinstance(statement, A.Update):
        plan = prepare_update(t, statement, ctx)
    else:
        plan = prepare_delete(t, statement, ctx)
    plan.source = (statement, keyspace)
    return plan


def _virtual_sort_key(t: TableInfo, row: dict[str, bytes | None]) -> tuple[Any, ...]:
    pk = [row.get(c.name) or b"" for c in t.partition_key]
    key = t.partition_key_bytes(pk)
    ck = [c.type.to_comparable(v) if (v := row.get(c.name)) is not None else b"" for c in t.clustering_key]
    ck = [bytes(255 - b for b in x) if desc else x for x, desc in zip(ck, t.ck_desc, strict=True)]
    return (t.token_of(key), key, ck)


def _pk_indexes(s: A.Statement, table: TableInfo | None) -> list[int]:
    """Bind indexes of the partition key columns, in key order, when every one is bound by a plain
    `?` (drivers use them to compute the routing token)."""
    from cql.terms import BindMarker

    if table is None:
        return []
    found: dict[str, int] = {}
    if isinstance(s, A.Insert):
        for name, term in zip(s.columns, s.values, strict=True):
            if isinstance(term, BindMarker):
                found[name] = term.index
    elif isinstance(s, A.Update | A.Delete | A.Select):
        for rel in s.where:
            if isinstance(rel, A.ColumnRelation) and rel.operator is A.Operator.EQ and \
                    isinstance(rel.value, BindMarker) and rel.key is None:
                found[rel.column] = rel.value.index
    out = []
    for c in table.partition_key:
        if c.name not in found:
            return []
        out.append(found[c.name])
    return out


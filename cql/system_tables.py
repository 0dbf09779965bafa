"""The virtual system tables: their definitions and the rows they show.

Owns every table under `system`, `system_schema`, `system_traces` and `system_auth` that clients
read (drivers on connect and on schema change, cqlsh for versions, tracing and LIST ROLES):
- the `TableDef` of each (`is_virtual=True`; exact column names and CQL types as ScyllaDB 6 has
  them, because drivers select them by name and decode them by type), and
- a function per table computing its rows from a `SystemContext` snapshot.

Rows are dicts `column name -> Python value` in the cassandra-driver's representation of the
column's type (text -> str, inet -> str, uuid -> uuid.UUID, set -> set, list -> list, map -> dict,
frozen tuple -> tuple, timestamp -> datetime, blob -> bytes); a missing key means null. Rows come
in primary-key order where that is cheap (the server re-sorts/filters/pages as it does for any
table; it must not rely on the order).

Invariants:
- every key of every row is a column of the table's `TableDef` (tested);
- `system_schema.*` rows describe the user schema of `ctx.schema` *and* these virtual tables, so
  clients that only render tables they know from `system_schema` (cqlsh) can show them;
- `system_schema.tables.flags` is `{'compound'}` (without it drivers take the table for COMPACT
  STORAGE and drop its regular columns); `system_schema.columns.clustering_order` is never null.

This module never stores anything and never reaches the network, disk or storage: the server
builds a `SystemContext` from what it knows and asks for rows.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cql.schema import ColumnDef, ColumnKind, KeyspaceDef, Schema, TableDef, UserTypeDef
from cql.table_options import (
    LOCATOR_PREFIX,
    extension_options,
    format_double,
    table_options_with_defaults,
)

__all__ = [
    "CQL_VERSION",
    "MURMUR3_PARTITIONER",
    "NATIVE_PROTOCOL_VERSION",
    "RELEASE_VERSION",
    "SCYLLA_VERSION",
    "SYSTEM_KEYSPACES",
    "NodeInfo",
    "PeerInfo",
    "RoleInfo",
    "SystemContext",
    "TabletRow",
    "VirtualTable",
    "all_system_tables",
    "is_system_keyspace",
    "legacy_table_id",
    "system_schema_rows",
    "system_table",
]

# `release_version` decides two client behaviours (docs/system-tables.md has the full story):
# - cassandra-driver/scylla-driver: >= 4.0 selects SchemaParserV4, which also reads
#   system_virtual_schema.* and tolerates InvalidRequest when it does not exist;
# - PyPI cqlsh 6.2.2 sends DESCRIBE to the server only when release_version[0] >= '4'; with
#   ScyllaDB's own '3.0.8' it prints a warning and describes nothing (it has no client-side
#   DESCRIBE any more). scylla-cqlsh tries server-side DESCRIBE whatever the version.
# We therefore report 4.0.0 so that both cqlsh flavours describe through our server.
RELEASE_VERSION = "4.0.0"
SCYLLA_VERSION = "6.2.0"
CQL_VERSION = "3.3.1"
NATIVE_PROTOCOL_VERSION = "4"
MURMUR3_PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"
SIMPLE_SNITCH = "org.apache.cassandra.locator.SimpleSnitch"


# --------------------------------------------------------------------------------------------------
# The context the rows are computed from


@dataclass(frozen=True)
class NodeInfo:
    """What `system.local` says about this node."""

    host_id: uuid.UUID
    cluster_name: str
    data_center: str
    rack: str
    listen_address: str              # inet as text, e.g. '127.0.0.1'
    broadcast_address: str
    rpc_address: str                 # never 0.0.0.0: scylla-driver skips such a host
    tokens: Sequence[int]            # must be non-empty for scylla-driver to use the host
    schema_version: uuid.UUID
    release_version: str = RELEASE_VERSION
    cql_version: str = CQL_VERSION
    native_protocol_version: str = NATIVE_PROTOCOL_VERSION
    partitioner: str = MURMUR3_PARTITIONER
    bootstrapped: str = "COMPLETED"
    shard_count: int = 1
    scylla_version: str = SCYLLA_VERSION
    build_mode: str = "release"
    snitch: str = SIMPLE_SNITCH
    gossip_generation: int = 0       # 0: derived from ctx.now
    supported_features: str = ""


@dataclass(frozen=True)
class PeerInfo:
    """One row of `system.peers`: another node of the cluster."""

    peer: str                        # its broadcast (listen) address
    host_id: uuid.UUID
    data_center: str
    rack: str
    rpc_address: str
    tokens: Sequence[int]
    schema_version: uuid.UUID | None
    release_version: str = RELEASE_VERSION
    preferred_ip: str | None = None
    supported_features: str = ""


@dataclass(frozen=True)
class TabletRow:
    """One tablet of a tablet table (one row of `system.tablets`)."""

    table_id: uuid.UUID
    keyspace_name: str
    table_name: str
    tablet_count: int
    last_token: int
    replicas: Sequence[tuple[uuid.UUID, int]]             # (host_id, shard)
    new_replicas: Sequence[tuple[uuid.UUID, int]] | None = None
    stage: str | None = None
    transition: str | None = None
    session: uuid.UUID | None = None
    resize_type: str = "none"
    resize_seq_number: int = 0


@dataclass(frozen=True)
class RoleInfo:
    """One role, as `system.roles` / `system_auth.roles` show it."""

    name: str
    can_login: bool
    is_superuser: bool
    member_of: frozenset[str] = frozenset()
    salted_hash: str | None = None


@dataclass(frozen=True)
class SystemContext:
    """A snapshot of everything the virtual tables show. Build one per request (it is cheap: it
    only references the server's own immutable objects)."""

    node: NodeInfo
    schema: Schema
    peers: Sequence[PeerInfo] = ()
    tablets: Sequence[TabletRow] = ()
    config_rows: Sequence[tuple[str, str, str, str]] = ()   # (name, type, source, value)
    roles: Sequence[RoleInfo] = ()
    scylla_local: Mapping[str, str] = field(default_factory=dict)
    # system_traces rows, already in column-name -> value form (see the table definitions).
    trace_sessions: Sequence[Mapping[str, object]] = ()
    trace_events: Sequence[Mapping[str, object]] = ()
    now: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))


Row = dict[str, object]


@dataclass(frozen=True)
class VirtualTable:
    """A system table: its definition and how to compute its rows."""

    table: TableDef
    producer: Callable[[SystemContext], Iterable[Row]] = field(repr=False)

    @property
    def keyspace(self) -> str:
        return self.table.keyspace

    @property
    def name(self) -> str:
        return self.table.name

    def rows(self, ctx: SystemContext) -> Iterable[Row]:
        return self.producer(ctx)


# --------------------------------------------------------------------------------------------------
# Keyspaces


def _ks(name: str, cls: str, **options: str) -> KeyspaceDef:
    return KeyspaceDef(name, {"class": LOCATOR_PREFIX + cls, **options}, True, None)


# As ScyllaDB reports them in system_schema.keyspaces.
SYSTEM_KEYSPACES: dict[str, KeyspaceDef] = {
    "system": _ks("system", "LocalStrategy"),
    "system_schema": _ks("system_schema", "LocalStrategy"),
    "system_auth": _ks("system_auth", "SimpleStrategy", replication_factor="1"),
    "system_distributed": _ks("system_distributed", "SimpleStrategy", replication_factor="3"),
    "system_traces": _ks("system_traces", "SimpleStrategy", replication_factor="2"),
}


def is_system_keyspace(name: str) -> bool:
    return name in SYSTEM_KEYSPACES


def legacy_table_id(keyspace: str, table: str) -> uuid.UUID:
    """Cassandra's fixed id of a system table: the name-based (MD5, version 3) UUID of ks + name."""
    return uuid.UUID(bytes=hashlib.md5((keyspace + table).encode()).digest(), version=3)


# --------------------------------------------------------------------------------------------------
# Table definitions


def _define(
    keyspace: str,
    name: str,
    *,
    pk: Sequence[tuple[str, str]],
    ck: Sequence[tuple[str, str]] = (),
    static: Sequence[tuple[str, str]] = (),
    regular: Sequence[tuple[str, str]] = (),
    comment: str = "",
) -> TableDef:
    cols = [ColumnDef(n, t, ColumnKind.PARTITION_KEY, i) for i, (n, t) in enumerate(pk)]
    cols += [ColumnDef(n, t, ColumnKind.CLUSTERING, i) for i, (n, t) in enumerate(ck)]
    rest = [ColumnDef(n, t, ColumnKind.STATIC) for n, t in static]
    rest += [ColumnDef(n, t, ColumnKind.REGULAR) for n, t in regular]
    cols += sorted(rest, key=lambda c: c.name)
    options = table_options_with_defaults({"comment": comment})
    return TableDef(keyspace, name, legacy_table_id(keyspace, name), tuple(cols), options, is_virtual=True)


_TEXT_MAP = "frozen<map<text, text>>"
_TEXT_LIST = "frozen<list<text>>"
_REPLICA_LIST = "frozen<list<frozen<tuple<uuid, int>>>>"

# Table-option columns shared by system_schema.tables and system_schema.views.
_OPTION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("bloom_filter_fp_chance", "double"),
    ("caching", _TEXT_MAP),
    ("comment", "text"),
    ("compaction", _TEXT_MAP),
    ("compression", _TEXT_MAP),
    ("crc_check_chance", "double"),
    ("dclocal_read_repair_chance", "double"),
    ("default_time_to_live", "int"),
    ("extensions", "frozen<map<text, blob>>"),
    ("gc_grace_seconds", "int"),
    ("id", "uuid"),
    ("max_index_interval", "int"),
    ("memtable_flush_period_in_ms", "int"),
    ("min_index_interval", "int"),
    ("read_repair_chance", "double"),
    ("speculative_retry", "text"),
)

_S = "system"
_SS = "system_schema"

_LOCAL = _define(_S, "local", pk=[("key", "text")], regular=[
    ("bootstrapped", "text"), ("broadcast_address", "inet"), ("cluster_name", "text"),
    ("cql_version", "text"), ("data_center", "text"), ("gossip_generation", "int"),
    ("host_id", "uuid"), ("listen_address", "inet"), ("native_protocol_version", "text"),
    ("partitioner", "text"), ("rack", "text"), ("release_version", "text"), ("rpc_address", "inet"),
    ("schema_version", "uuid"), ("supported_features", "text"), ("thrift_version", "text"),
    ("tokens", "set<text>"), ("truncated_at", "map<uuid, blob>"),
], comment="information about the local node")

_PEERS = _define(_S, "peers", pk=[("peer", "inet")], regular=[
    ("data_center", "text"), ("host_id", "uuid"), ("preferred_ip", "inet"), ("rack", "text"),
    ("release_version", "text"), ("rpc_address", "inet"), ("schema_version", "uuid"),
    ("supported_features", "text"), ("tokens", "set<text>"),
], comment="information about known peers in the cluster")

# ScyllaDB 6.0's layout (later versions moved keyspace_name into the partition key).
_TABLETS = _define(_S, "tablets", pk=[("table_id", "uuid")], ck=[("last_token", "bigint")], static=[
    ("keyspace_name", "text"), ("resize_seq_number", "bigint"), ("resize_type", "text"),
    ("table_name", "text"), ("tablet_count", "int"),
], regular=[
    ("new_replicas", _REPLICA_LIST), ("replicas", _REPLICA_LIST), ("session", "uuid"),
    ("stage", "text"), ("transition", "text"),
], comment="tablet maps of all tablet tables")

_VERSIONS = _define(_S, "versions", pk=[("key", "text")], regular=[
    ("build_id", "text"), ("build_mode", "text"), ("compatible_version", "text"), ("version", "text"),
], comment="version information")

_CONFIG = _define(_S, "config", pk=[("name", "text")], regular=[
    ("source", "text"), ("type", "text"), ("value", "text"),
], comment="configuration values in use")

_SCYLLA_LOCAL = _define(_S, "scylla_local", pk=[("key", "text")], regular=[("value", "text")],
                        comment="Scylla specific information about the local node")

_SIZE_ESTIMATES = _define(_S, "size_estimates", pk=[("keyspace_name", "text")], ck=[
    ("table_name", "text"), ("range_start", "text"), ("range_end", "text"),
], regular=[("mean_partition_size", "bigint"), ("partitions_count", "bigint")],
    comment="per-table primary range size estimates")

_ROLE_COLUMNS = [("can_login", "boolean"), ("is_superuser", "boolean"), ("member_of", "set<text>"),
                 ("salted_hash", "text")]
_ROLES = _define(_S, "roles", pk=[("role", "text")], regular=_ROLE_COLUMNS, comment="roles")
_AUTH_ROLES = _define("system_auth", "roles", pk=[("role", "text")], regular=_ROLE_COLUMNS,
                      comment="roles (legacy location)")

_KEYSPACES = _define(_SS, "keyspaces", pk=[("keyspace_name", "text")], regular=[
    ("durable_writes", "boolean"), ("replication", _TEXT_MAP),
], comment="keyspace definitions")

_TABLES = _define(_SS, "tables", pk=[("keyspace_name", "text")], ck=[("table_name", "text")],
                  regular=[*_OPTION_COLUMNS, ("flags", "frozen<set<text>>")],
                  comment="table definitions")

_COLUMNS = _define(_SS, "columns", pk=[("keyspace_name", "text")], ck=[
    ("table_name", "text"), ("column_name", "text"),
], regular=[
    ("clustering_order", "text"), ("column_name_bytes", "blob"), ("kind", "text"),
    ("position", "int"), ("type", "text"),
], comment="column definitions")

_TYPES = _define(_SS, "types", pk=[("keyspace_name", "text")], ck=[("type_name", "text")], regular=[
    ("field_names", _TEXT_LIST), ("field_types", _TEXT_LIST),
], comment="user defined type definitions")

_FUNCTIONS = _define(_SS, "functions", pk=[("keyspace_name", "text")], ck=[
    ("function_name", "text"), ("argument_types", _TEXT_LIST),
], regular=[
    ("argument_names", _TEXT_LIST), ("body", "text"), ("called_on_null_input", "boolean"),
    ("language", "text"), ("return_type", "text"),
], comment="user defined function definitions")

_AGGREGATES = _define(_SS, "aggregates", pk=[("keyspace_name", "text")], ck=[
    ("aggregate_name", "text"), ("argument_types", _TEXT_LIST),
], regular=[
    ("final_func", "text"), ("initcond", "text"), ("return_type", "text"), ("state_func", "text"),
    ("state_type", "text"),
], comment="user defined aggregate definitions")

_TRIGGERS = _define(_SS, "triggers", pk=[("keyspace_name", "text")], ck=[
    ("table_name", "text"), ("trigger_name", "text"),
], regular=[("options", _TEXT_MAP)], comment="trigger definitions")

_INDEXES = _define(_SS, "indexes", pk=[("keyspace_name", "text")], ck=[
    ("table_name", "text"), ("index_name", "text"),
], regular=[("kind", "text"), ("options", _TEXT_MAP)], comment="secondary index definitions")

_VIEWS = _define(_SS, "views", pk=[("keyspace_name", "text")], ck=[("view_name", "text")], regular=[
    *_OPTION_COLUMNS, ("base_table_id", "uuid"), ("base_table_name", "text"),
    ("include_all_columns", "boolean"), ("where_clause", "text"),
], comment="materialized view definitions")

_DROPPED_COLUMNS = _define(_SS, "dropped_columns", pk=[("keyspace_name", "text")], ck=[
    ("table_name", "text"), ("column_name", "text"),
], regular=[("dropped_time", "timestamp"), ("type", "text")], comment="dropped column registry")

_SCYLLA_KEYSPACES = _define(_SS, "scylla_keyspaces", pk=[("keyspace_name", "text")], regular=[
    ("initial_tablets", "int"), ("storage_options", _TEXT_MAP), ("storage_type", "text"),
], comment="ScyllaDB specific information about keyspaces")

_SCYLLA_TABLES = _define(_SS, "scylla_tables", pk=[("keyspace_name", "text")], ck=[("table_name", "text")],
                         regular=[
    ("cdc", _TEXT_MAP), ("in_memory", "boolean"), ("partitioner", "text"), ("version", "uuid"),
], comment="ScyllaDB specific information about tables")

_TRACE_SESSIONS = _define("system_traces", "sessions", pk=[("session_id", "uuid")], regular=[
    ("client", "inet"), ("command", "text"), ("coordinator", "inet"), ("duration", "int"),
    ("parameters", "map<text, text>"), ("request", "text"), ("request_size", "int"),
    ("response_size", "int"), ("started_at", "timestamp"), ("username", "text"),
], comment="tracing sessions")

_TRACE_EVENTS = _define("system_traces", "events", pk=[("session_id", "uuid")], ck=[("event_id", "timeuuid")],
                        regular=[
    ("activity", "text"), ("scylla_parent_id", "bigint"), ("scylla_span_id", "bigint"),
    ("source", "inet"), ("source_elapsed", "int"), ("thread", "text"),
], comment="tracing events")


# --------------------------------------------------------------------------------------------------
# Row producers: system keyspace


def _tokens(tokens: Sequence[int]) -> set[str]:
    return {str(t) for t in tokens}


def _local_rows(ctx: SystemContext) -> Iterator[Row]:
    n = ctx.node
    yield {
        "key": "local",
        "bootstrapped": n.bootstrapped,
        "broadcast_address": n.broadcast_address,
        "cluster_name": n.cluster_name,
        "cql_version": n.cql_version,
        "data_center": n.data_center,
        "gossip_generation": n.gossip_generation or int(ctx.now.timestamp()),
        "host_id": n.host_id,
        "listen_address": n.listen_address,
        "native_protocol_version": n.native_protocol_version,
        "partitioner": n.partitioner,
        "rack": n.rack,
        "release_version": n.release_version,
        "rpc_address": n.rpc_address,
        "schema_version": n.schema_version,
        "supported_features": n.supported_features,
        "thrift_version": "20.1.0",
        "tokens": _tokens(n.tokens),
    }


def _peers_rows(ctx: SystemContext) -> Iterator[Row]:
    for p in ctx.peers:
        yield {
            "peer": p.peer,
            "data_center": p.data_center,
            "host_id": p.host_id,
            "preferred_ip": p.preferred_ip,
            "rack": p.rack,
            "release_version": p.release_version,
            "rpc_address": p.rpc_address,
            "schema_version": p.schema_version,
            "supported_features": p.supported_features,
            "tokens": _tokens(p.tokens),
        }


def _tablets_rows(ctx: SystemContext) -> Iterator[Row]:
    for t in ctx.tablets:
        yield {
            "table_id": t.table_id,
            "last_token": t.last_token,
            "keyspace_name": t.keyspace_name,
            "resize_seq_number": t.resize_seq_number,
            "resize_type": t.resize_type,
            "table_name": t.table_name,
            "tablet_count": t.tablet_count,
            "new_replicas": [tuple(r) for r in t.new_replicas] if t.new_replicas is not None else None,
            "replicas": [tuple(r) for r in t.replicas],
            "session": t.session,
            "stage": t.stage,
            "transition": t.transition,
        }


def _versions_rows(ctx: SystemContext) -> Iterator[Row]:
    yield {
        "key": "local",
        "build_id": "",
        "build_mode": ctx.node.build_mode,
        "compatible_version": ctx.node.release_version,
        "version": ctx.node.scylla_version,
    }


def _config_rows(ctx: SystemContext) -> Iterator[Row]:
    for name, type_, source, value in ctx.config_rows:
        yield {"name": name, "source": source, "type": type_, "value": value}


def _scylla_local_rows(ctx: SystemContext) -> Iterator[Row]:
    for key in sorted(ctx.scylla_local):
        yield {"key": key, "value": ctx.scylla_local[key]}


def _no_rows(ctx: SystemContext) -> Iterator[Row]:
    return iter(())


def _roles_rows(ctx: SystemContext) -> Iterator[Row]:
    for r in ctx.roles:
        yield {
            "role": r.name,
            "can_login": r.can_login,
            "is_superuser": r.is_superuser,
            "member_of": set(r.member_of) if r.member_of else None,
            "salted_hash": r.salted_hash,
        }


def _trace_rows(which: str) -> Callable[[SystemContext], Iterator[Row]]:
    def produce(ctx: SystemContext) -> Iterator[Row]:
        source = ctx.trace_sessions if which == "sessions" else ctx.trace_events
        for row in source:
            yield dict(row)
    return produce


# --------------------------------------------------------------------------------------------------
# Row producers: system_schema (user schema + the virtual tables themselves)


def _all_keyspaces(ctx: SystemContext) -> list[KeyspaceDef]:
    user = [ks for name, ks in sorted(ctx.schema.keyspaces.items()) if name not in SYSTEM_KEYSPACES]
    return list(SYSTEM_KEYSPACES.values()) + user


def _all_tables(ctx: SystemContext) -> Iterator[TableDef]:
    for vt in _SYSTEM_TABLES_BY_NAME.values():
        yield vt.table
    for (ks, _), table in sorted(ctx.schema.tables.items()):
        if ks not in SYSTEM_KEYSPACES:
            yield table


def _all_types(ctx: SystemContext) -> Iterator[UserTypeDef]:
    for (ks, _), t in sorted(ctx.schema.types.items()):
        if ks not in SYSTEM_KEYSPACES:
            yield t


def _keyspaces_rows(ctx: SystemContext) -> Iterator[Row]:
    for ks in _all_keyspaces(ctx):
        yield {"keyspace_name": ks.name, "durable_writes": ks.durable_writes, "replication": dict(ks.replication)}


def _scylla_keyspaces_rows(ctx: SystemContext) -> Iterator[Row]:
    # ScyllaDB has a row only for tablet keyspaces (non-null initial_tablets) on local storage.
    for ks in _all_keyspaces(ctx):
        if ks.initial_tablets is not None:
            yield {"keyspace_name": ks.name, "initial_tablets": ks.initial_tablets}


def _extensions(options: Mapping[str, Any]) -> dict[str, bytes]:
    # ScyllaDB keeps cdc / paxos_grace_seconds / tombstone_gc as opaque serialized schema
    # extensions; drivers only pass the map through. We store the CQL text of each value.
    return {name: _option_literal(value).encode() for name, value in extension_options(options)}


def _option_literal(value: object) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"'{k}': '{v}'" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return format_double(value)
    return str(value)


def table_option_columns(table: TableDef) -> Row:
    """The table-option columns of a `system_schema.tables` row for `table`."""
    o = table_options_with_defaults(table.options)
    return {
        "bloom_filter_fp_chance": float(o["bloom_filter_fp_chance"]),
        "caching": dict(o["caching"]),
        "comment": o["comment"],
        "compaction": dict(o["compaction"]),
        "compression": dict(o["compression"]),
        "crc_check_chance": float(o["crc_check_chance"]),
        "dclocal_read_repair_chance": float(o.get("dclocal_read_repair_chance", 0.0)),
        "default_time_to_live": int(o["default_time_to_live"]),
        "extensions": _extensions(o),
        "gc_grace_seconds": int(o["gc_grace_seconds"]),
        "id": table.id,
        "max_index_interval": int(o["max_index_interval"]),
        "memtable_flush_period_in_ms": int(o["memtable_flush_period_in_ms"]),
        "min_index_interval": int(o["min_index_interval"]),
        "read_repair_chance": float(o.get("read_repair_chance", 0.0)),
        "speculative_retry": o["speculative_retry"],
    }


def _tables_rows(ctx: SystemContext) -> Iterator[Row]:
    for table in _all_tables(ctx):
        row: Row = {"keyspace_name": table.keyspace, "table_name": table.name, "flags": {"compound"}}
        row.update(_cached_option_columns(table) if table.is_virtual else table_option_columns(table))  # copied by update
        yield row


# Virtual tables never change: their system_schema rows are computed once. (TableDef is not
# hashable - its options are a mapping proxy - so the cache is keyed by name.)
_OPTION_COLUMNS_CACHE: dict[tuple[str, str], Row] = {}
_COLUMN_ROWS_CACHE: dict[tuple[str, str], list[Row]] = {}


def _cached_option_columns(table: TableDef) -> Row:
    key = (table.keyspace, table.name)
    if key not in _OPTION_COLUMNS_CACHE:
        _OPTION_COLUMNS_CACHE[key] = table_option_columns(table)
    return _OPTION_COLUMNS_CACHE[key]


def column_rows(table: TableDef) -> list[Row]:
    """The `system_schema.columns` rows of one table, in column-name order."""
    rows: list[Row] = []
    for c in sorted(table.columns, key=lambda c: c.name):
        rows.append({
            "keyspace_name": table.keyspace,
            "table_name": table.name,
            "column_name": c.name,
            "clustering_order": c.clustering_order,
            "column_name_bytes": c.name.encode(),
            "kind": c.kind.value,
            "position": c.position if c.is_primary_key else -1,
            "type": c.type,
        })
    return rows


def _columns_rows(ctx: SystemContext) -> Iterator[Row]:
    for table in _all_tables(ctx):
        # Copies: the caller may mutate a row, and cached rows must stay as computed.
        yield from (dict(r) for r in (_cached_column_rows(table) if table.is_virtual else column_rows(table)))


def _cached_column_rows(table: TableDef) -> list[Row]:
    key = (table.keyspace, table.name)
    if key not in _COLUMN_ROWS_CACHE:
        _COLUMN_ROWS_CACHE[key] = column_rows(table)
    return _COLUMN_ROWS_CACHE[key]


def _types_rows(ctx: SystemContext) -> Iterator[Row]:
    for t in _all_types(ctx):
        yield {
            "keyspace_name": t.keyspace,
            "type_name": t.name,
            "field_names": list(t.field_names),
            "field_types": list(t.field_types),
        }


def _dropped_columns_rows(ctx: SystemContext) -> Iterator[Row]:
    for table in _all_tables(ctx):
        for name in sorted(table.dropped_columns):
            d = table.dropped_columns[name]
            yield {
                "keyspace_name": table.keyspace,
                "table_name": table.name,
                "column_name": d.name,
                "dropped_time": datetime.datetime.fromtimestamp(d.dropped_at_us / 1e6, datetime.UTC),
                "type": d.type,
            }


def _scylla_tables_rows(ctx: SystemContext) -> Iterator[Row]:
    for table in _all_tables(ctx):
        row: Row = {
            "keyspace_name": table.keyspace,
            "table_name": table.name,
            "in_memory": False,
            "partitioner": None,     # null: the cluster's partitioner (Murmur3)
            "version": ctx.schema.version,
        }
        cdc = table.options.get("cdc")
        if cdc is not None:
            row["cdc"] = dict(cdc)
        yield row


# --------------------------------------------------------------------------------------------------
# Registry


_SYSTEM_TABLES_BY_NAME: dict[tuple[str, str], VirtualTable] = {
    (vt.keyspace, vt.name): vt
    for vt in (
        VirtualTable(_LOCAL, _local_rows),
        VirtualTable(_PEERS, _peers_rows),
        VirtualTable(_TABLETS, _tablets_rows),
        VirtualTable(_VERSIONS, _versions_rows),
        VirtualTable(_CONFIG, _config_rows),
        VirtualTable(_SCYLLA_LOCAL, _scylla_local_rows),
        VirtualTable(_SIZE_ESTIMATES, _no_rows),
        VirtualTable(_ROLES, _roles_rows),
        VirtualTable(_AUTH_ROLES, _roles_rows),
        VirtualTable(_KEYSPACES, _keyspaces_rows),
        VirtualTable(_TABLES, _tables_rows),
        VirtualTable(_COLUMNS, _columns_rows),
        VirtualTable(_TYPES, _types_rows),
        VirtualTable(_FUNCTIONS, _no_rows),
        VirtualTable(_AGGREGATES, _no_rows),
        VirtualTable(_TRIGGERS, _no_rows),
        VirtualTable(_INDEXES, _no_rows),
        VirtualTable(_VIEWS, _no_rows),
        VirtualTable(_DROPPED_COLUMNS, _dropped_columns_rows),
        VirtualTable(_SCYLLA_KEYSPACES, _scylla_keyspaces_rows),
        VirtualTable(_SCYLLA_TABLES, _scylla_tables_rows),
        VirtualTable(_TRACE_SESSIONS, _trace_rows("sessions")),
        VirtualTable(_TRACE_EVENTS, _trace_rows("events")),
    )
}


def system_table(keyspace: str, name: str) -> VirtualTable | None:
    """The virtual table `keyspace.name`, or None (names are exact: already case-normalized)."""
    return _SYSTEM_TABLES_BY_NAME.get((keyspace, name))


def all_system_tables() -> list[VirtualTable]:
    """Every virtual table, ordered by (keyspace, name)."""
    return [_SYSTEM_TABLES_BY_NAME[k] for k in sorted(_SYSTEM_TABLES_BY_NAME)]


def system_schema_rows(ctx: SystemContext, table: str) -> list[Row]:
    """Convenience: all rows of `system_schema.<table>` as a list (tests, DESCRIBE)."""
    vt = _SYSTEM_TABLES_BY_NAME[("system_schema", table)]
    return list(vt.rows(ctx))


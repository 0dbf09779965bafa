"""`NodeAdmin`: what the REST API needs from the running node, as a typing.Protocol.

The daemon implements it (wiring storage, schema, gossip/topology); the REST layer only calls it,
so the HTTP layer is testable against a small in-memory implementation.

Contracts for implementers:
- Sync methods are cheap snapshots of node state (schema, topology, configuration) and must not
  block the event loop.
- Async methods (`flush`, `compact`, `drain`) return when the operation has completed; the HTTP
  request stays open until then, as in ScyllaDB.
- Statistics (`load_bytes`, `load_map`, `table_statistics`) are async too: on a node with several
  shard processes they gather each shard's figures over IPC and sum them. They report only what
  the node measures; there is no field for a figure we do not have.
- Names arrive exactly as the client sent them (already percent-decoded, case preserved).
- `flush`/`compact` with `tables=None` mean every table of the keyspace; `keyspace=None` means
  every keyspace. Raise `UnknownKeyspace` / `UnknownTable` for names that do not exist (the REST
  layer also checks up front; raising covers a concurrent DROP) and `InvalidAdminRequest` for any
  other refusal the client should see as a 400. Anything else becomes a 500 and is logged as a bug.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

__all__ = [
    "AdminError",
    "CompactionSummary",
    "EndpointLocation",
    "InvalidAdminRequest",
    "KeyspaceKind",
    "KeyspaceReplication",
    "NodeAdmin",
    "RingState",
    "TableStatistics",
    "TabletReplicas",
    "UnknownKeyspace",
    "UnknownTable",
]


class AdminError(Exception):
    """A request the node refuses; the REST layer answers 400 with `str(error)` as the message."""


class InvalidAdminRequest(AdminError):
    pass


class UnknownKeyspace(AdminError):
    def __init__(self, keyspace: str) -> None:
        # ScyllaDB's wording (replica::no_such_keyspace), which tools may match on.
        super().__init__(f"Can't find a keyspace {keyspace}")
        self.keyspace = keyspace


class UnknownTable(AdminError):
    def __init__(self, keyspace: str, table: str) -> None:
        # ScyllaDB's wording (replica::no_such_column_family).
        super().__init__(f"Can't find a column family {table} in keyspace {keyspace}")
        self.keyspace = keyspace
        self.table = table


class KeyspaceKind(enum.Enum):
    """The `type` filter of GET /storage_service/keyspaces (values are the query strings)."""

    ALL = "all"
    USER = "user"  # not a system keyspace
    NON_LOCAL_STRATEGY = "non_local_strategy"  # replicated: not LocalStrategy


@dataclass(frozen=True, slots=True)
class CompactionSummary:
    """A running compaction (ScyllaDB's compaction_manager `summary` model)."""

    id: UUID
    keyspace: str
    table: str
    task_type: str  # "COMPACTION", "CLEANUP", ...
    completed: int
    total: int
    unit: str = "bytes"


class RingState(enum.Enum):
    """The topology states of GET /storage_service/nodes/{state} (values are the path segments)."""

    JOINING = "joining"
    LEAVING = "leaving"
    MOVING = "moving"


@dataclass(frozen=True, slots=True)
class EndpointLocation:
    """Where a node is, as the snitch reports it."""

    datacenter: str
    rack: str


@dataclass(frozen=True, slots=True)
class KeyspaceReplication:
    uses_tablets: bool
    # As in system_schema.keyspaces.replication: {"class": <full class name>, option: value...}.
    replication: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TabletReplicas:
    """One tablet of a table: the tokens (first_token, last_token] and where its replicas are.

    The first tablet's `first_token` is INT64_MIN (no token has that value, so it is exclusive too).
    """

    first_token: int
    last_token: int
    replicas: tuple[tuple[UUID, int], ...]  # (host id, shard), the primary replica first


@dataclass(frozen=True, slots=True)
class TableStatistics:
    """This node's share of one table: the tablet replicas of it that the node holds.

    A table without storage of its own (our system tables are computed on read) has all zeros.
    """

    tablet_count: int  # tablet replicas of this table held by this node
    sstable_count: int  # live sstables
    sstable_bytes: int  # on-disk size of the live sstables
    sstable_partitions: int  # sum over sstables: a partition in several sstables counts in each
    memtable_bytes: int  # every memtable, including those being flushed
    memtable_partitions: int

    @property
    def estimated_partitions(self) -> int:
        """Partitions in sstables plus memtables: an upper bound, as Cassandra's estimate."""
        return self.sstable_partitions + self.memtable_partitions


class NodeAdmin(Protocol):
    def host_id(self) -> UUID:
        """This node's host id."""
        ...

    def release_version(self) -> str:
        """The Cassandra-compatible release version reported to clients (e.g. "3.0.8")."""
        ...

    def scylla_release_version(self) -> str:
        """The ScyllaDB version this node emulates / its own version string."""
        ...

    def schema_version(self) -> UUID:
        ...

    def operation_mode(self) -> str:
        """"STARTING", "JOINING", "NORMAL", "LEAVING", "DECOMMISSIONED", "DRAINING" or "DRAINED"."""
        ...

    def keyspaces(self, kind: KeyspaceKind) -> list[str]:
        ...

    def tables(self) -> list[tuple[str, str]]:
        """(keyspace, table) for every table, system tables included."""
        ...

    def host_ids(self) -> list[tuple[str, UUID]]:
        """(endpoint address, host id) for every node that owns tokens or tablets."""
        ...

    def live_endpoints(self) -> list[str]:
        """Addresses of nodes currently up (this node included)."""
        ...

    def down_endpoints(self) -> list[str]:
        ...

    def token_endpoints(self, keyspace: str | None, table: str | None) -> list[tuple[int, str]]:
        """(token, endpoint address), sorted by token.

        Without a table: the vnode ring. With keyspace and table (a tablets table): the last
        token of each tablet and its first replica, as ScyllaDB's tokens_endpoint does.
        """
        ...

    async def flush(self, keyspace: str | None, tables: Sequence[str] | None) -> None:
        ...

    async def compact(self, keyspace: str | None, tables: Sequence[str] | None, flush_memtables: bool) -> None:
        """Major compaction; flushes memtables first unless `flush_memtables` is False."""
        ...

    def compactions(self) -> list[CompactionSummary]:
        """Compactions running now."""
        ...

    def pending_compactions(self) -> int:
        """Compaction tasks the node estimates are still needed."""
        ...

    async def drain(self) -> None:
        """Stop accepting client writes, flush every memtable; operation mode ends as DRAINED."""
        ...

    # -- node facts (for nodetool status / info / ring) ----------------------------------------

    def uptime_ms(self) -> int:
        """Milliseconds since the node process started."""
        ...

    def generation_number(self) -> int:
        """This incarnation of the node: its start time in seconds since the epoch (as the gossip
        generation in ScyllaDB, it grows at every restart)."""
        ...

    def native_transport_running(self) -> bool:
        """Whether the CQL server is accepting connections."""
        ...

    def gossip_running(self) -> bool:
        ...

    def endpoint_location(self, endpoint: str | None) -> EndpointLocation:
        """Datacenter and rack of `endpoint` (an address from `host_ids()`), or of this node for
        None. Raise `InvalidAdminRequest` for an address that is not a known node."""
        ...

    def endpoints_in_state(self, state: RingState) -> list[str]:
        """Addresses of the nodes currently joining, leaving or moving."""
        ...

    def keyspace_replication(self, keyspace: str) -> KeyspaceReplication:
        """Raise `UnknownKeyspace` for a keyspace that does not exist."""
        ...

    def tablets(self, keyspace: str, table: str) -> list[TabletReplicas]:
        """Every tablet of the table, in token order. Raise `UnknownTable` if there is no such
        table and `InvalidAdminRequest` for a table that has no tablets (a virtual table)."""
        ...

    # -- statistics (async: gathered from every shard) -------------------------------------------

    async def load_bytes(self) -> int:
        """On-disk size of this node's live sstables, all tables together."""
        ...

    async def load_map(self) -> list[tuple[str, int]]:
        """(endpoint address, load in bytes) for every node whose load this node knows."""
        ...

    async def table_statistics(self, keyspace: str, table: str) -> TableStatistics:
        """This node's figures for one table. Raise `UnknownTable` if there is no such table."""
        ...

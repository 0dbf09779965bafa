"""`NodeAdmin`: what the REST API needs from the running node, as a typing.Protocol.

The daemon implements it (wiring storage, schema, gossip/topology); the REST layer only calls it,
so the HTTP layer is testable against a small in-memory implementation.

Contracts for implementers:
- Sync methods are cheap snapshots of node state and must not block the event loop.
- Async methods (`flush`, `compact`, `drain`) return when the operation has completed; the HTTP
  request stays open until then, as in ScyllaDB.
- Names arrive exactly as the client sent them (already percent-decoded, case preserved).
- `flush`/`compact` with `tables=None` mean every table of the keyspace; `keyspace=None` means
  every keyspace. Raise `UnknownKeyspace` / `UnknownTable` for names that do not exist (the REST
  layer also checks up front; raising covers a concurrent DROP) and `InvalidAdminRequest` for any
  other refusal the client should see as a 400. Anything else becomes a 500 and is logged as a bug.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

__all__ = [
    "AdminError",
    "CompactionSummary",
    "InvalidAdminRequest",
    "KeyspaceKind",
    "NodeAdmin",
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

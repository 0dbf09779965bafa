"""`LocalNodeAdmin`: the REST API's view of this node (implements `rest.admin.NodeAdmin`).

Owns the translation from REST operations (flush, compact, drain, listings) to the node's storage
engine and metadata. Names are checked against the current schema so unknown keyspaces and tables
get ScyllaDB's 400 messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cql.system_tables import RELEASE_VERSION, SCYLLA_VERSION, SYSTEM_KEYSPACES, all_system_tables

from .rest.admin import CompactionSummary, KeyspaceKind, UnknownKeyspace, UnknownTable

if TYPE_CHECKING:
    from .daemon import Node


class LocalNodeAdmin:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._mode = "NORMAL"

    def host_id(self) -> uuid.UUID:
        return self._node.host_id

    def release_version(self) -> str:
        return RELEASE_VERSION

    def scylla_release_version(self) -> str:
        return SCYLLA_VERSION

    def schema_version(self) -> uuid.UUID:
        return self._node.metadata.current.schema.version

    def operation_mode(self) -> str:
        return self._mode

    def keyspaces(self, kind: KeyspaceKind) -> list[str]:
        user = sorted(self._node.metadata.current.schema.keyspaces)
        if kind is KeyspaceKind.USER:
            return user
        system = sorted(SYSTEM_KEYSPACES)
        if kind is KeyspaceKind.NON_LOCAL_STRATEGY:
            return user + [k for k in system
                           if not SYSTEM_KEYSPACES[k].replication.get("class", "").endswith("LocalStrategy")]
        return system + user

    def tables(self) -> list[tuple[str, str]]:
        schema = self._node.metadata.current.schema
        return sorted([(vt.keyspace, vt.name) for vt in all_system_tables()] + list(schema.tables))

    def host_ids(self) -> list[tuple[str, uuid.UUID]]:
        return [(self._node.config.effective_broadcast_address, self._node.host_id)]

    def live_endpoints(self) -> list[str]:
        return [self._node.config.effective_broadcast_address]

    def down_endpoints(self) -> list[str]:
        return []

    def token_endpoints(self, keyspace: str | None, table: str | None) -> list[tuple[int, str]]:
        me = self._node.config.effective_broadcast_address
        if keyspace is not None and table is not None:
            m = self._node.metadata.current
            t = m.schema.table(keyspace, table)
            if t is None:
                raise UnknownTable(keyspace, table)
            tt = m.tablets.get(t.id)
            return [(ti.last_token, me) for ti in tt.tablets] if tt is not None else []
        return [(tok, me) for tok in self._node.tokens]

    def _table_ids(self, keyspace: str | None, tables: Sequence[str] | None) -> list[uuid.UUID] | None:
        """Table ids selected by (keyspace, tables); None means every table."""
        schema = self._node.metadata.current.schema
        if keyspace is None:
            return None
        if schema.keyspace(keyspace) is None:
            if keyspace in SYSTEM_KEYSPACES:
                return []
            raise UnknownKeyspace(keyspace)
        if not tables:
            return [t.id for t in schema.tables_of(keyspace)]
        ids = []
        for name in tables:
            t = schema.table(keyspace, name)
            if t is None:
                raise UnknownTable(keyspace, name)
            ids.append(t.id)
        return ids

    async def flush(self, keyspace: str | None, tables: Sequence[str] | None) -> None:
        engine = self._node.engine
        assert engine is not None
        ids = self._table_ids(keyspace, tables)
        if ids is None:
            await engine.flush()
        for tid in ids or []:
            await engine.flush(tid)

    async def compact(self, keyspace: str | None, tables: Sequence[str] | None, flush_memtables: bool) -> None:
        engine = self._node.engine
        assert engine is not None
        ids = self._table_ids(keyspace, tables)
        if flush_memtables:
            await self.flush(keyspace, tables)
        if ids is None:
            await engine.compact()
        for tid in ids or []:
            await engine.compact(tid)

    def compactions(self) -> list[CompactionSummary]:
        return []

    def pending_compactions(self) -> int:
        return 0

    async def drain(self) -> None:
        self._mode = "DRAINING"
        engine = self._node.engine
        assert engine is not None
        await engine.flush()
        self._mode = "DRAINED"

"""`LocalNodeAdmin`: the REST API's view of this node (implements `rest.admin.NodeAdmin`).

Owns the translation from REST operations (flush, compact, drain, listings, statistics) to the
node's storage engine, metadata and configuration. Names are checked against the current schema so
unknown keyspaces and tables get ScyllaDB's 400 messages.

It runs in shard 0, which serves the REST API. Each method is one small read of
`node.metadata.current` or `node.config`, or one of the node's all-shards operations
(`flush_all_shards`, `compact_all_shards`, `engine_stats_all_shards`, `table_stats_all_shards`),
whose per-shard figures it adds up: storage figures are the whole node's, every shard included.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cql.schema import KeyspaceDef
from cql.system_tables import RELEASE_VERSION, SCYLLA_VERSION, SYSTEM_KEYSPACES, all_system_tables

from .rest.admin import (
    CompactionSummary,
    EndpointLocation,
    InvalidAdminRequest,
    KeyspaceKind,
    KeyspaceReplication,
    RingState,
    TableStatistics,
    TabletReplicas,
    UnknownKeyspace,
    UnknownTable,
)

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
        ids = self._table_ids(keyspace, tables)
        if ids is None:
            await self._node.flush_all_shards(None)
        for tid in ids or []:
            await self._node.flush_all_shards(tid)

    async def compact(self, keyspace: str | None, tables: Sequence[str] | None, flush_memtables: bool) -> None:
        ids = self._table_ids(keyspace, tables)
        if flush_memtables:
            await self.flush(keyspace, tables)
        if ids is None:
            await self._node.compact_all_shards(None)
        for tid in ids or []:
            await self._node.compact_all_shards(tid)

    def compactions(self) -> list[CompactionSummary]:
        return []

    def pending_compactions(self) -> int:
        return 0

    async def drain(self) -> None:
        self._mode = "DRAINING"
        await self._node.drain_all_shards()
        self._mode = "DRAINED"

    # -- node facts --------------------------------------------------------------------------

    def uptime_ms(self) -> int:
        return int((time.time() - self._node.started_at) * 1000)

    def generation_number(self) -> int:
        return int(self._node.started_at)

    def native_transport_running(self) -> bool:
        return self._node.cql is not None

    def gossip_running(self) -> bool:
        return False  # no gossiper: membership and topology come from group 0 metadata

    def endpoint_location(self, endpoint: str | None) -> EndpointLocation:
        cfg = self._node.config
        if endpoint is not None and endpoint != cfg.effective_broadcast_address:
            raise InvalidAdminRequest(f"Unknown host {endpoint}")
        return EndpointLocation(cfg.local_dc, cfg.local_rack)

    def endpoints_in_state(self, state: RingState) -> list[str]:
        return []  # a single node: serving means it has joined, and nothing moves yet

    def _keyspace_def(self, keyspace: str) -> KeyspaceDef:
        kd = self._node.metadata.current.schema.keyspace(keyspace) or SYSTEM_KEYSPACES.get(keyspace)
        if kd is None:
            raise UnknownKeyspace(keyspace)
        return kd

    def keyspace_replication(self, keyspace: str) -> KeyspaceReplication:
        kd = self._keyspace_def(keyspace)
        return KeyspaceReplication(kd.uses_tablets, dict(kd.replication))

    def tablets(self, keyspace: str, table: str) -> list[TabletReplicas]:
        m = self._node.metadata.current
        t = m.schema.table(keyspace, table)
        if t is None:
            if (keyspace, table) in self._virtual_tables():
                raise InvalidAdminRequest(f"{keyspace}.{table} is a virtual system table: it has no tablets")
            raise UnknownTable(keyspace, table)
        tt = m.tablets[t.id]
        return [TabletReplicas(tt.first_token(i), ti.last_token, ti.replicas) for i, ti in enumerate(tt.tablets)]

    @staticmethod
    def _virtual_tables() -> set[tuple[str, str]]:
        return {(vt.keyspace, vt.name) for vt in all_system_tables()}

    # -- statistics (every shard's figures, added up) ------------------------------------------

    async def load_bytes(self) -> int:
        return sum(s.sstable_bytes for s in (await self._node.engine_stats_all_shards()).values())

    async def load_map(self) -> list[tuple[str, int]]:
        return [(self._node.config.effective_broadcast_address, await self.load_bytes())]

    async def table_statistics(self, keyspace: str, table: str) -> TableStatistics:
        t = self._node.metadata.current.schema.table(keyspace, table)
        if t is None:
            if (keyspace, table) in self._virtual_tables():
                return TableStatistics(0, 0, 0, 0, 0, 0)  # computed on read: nothing stored
            raise UnknownTable(keyspace, table)
        shards = (await self._node.table_stats_all_shards(t.id)).values()
        return TableStatistics(
            tablet_count=sum(s.tablet_count for s in shards),
            sstable_count=sum(s.sstable_count for s in shards),
            sstable_bytes=sum(s.sstable_bytes for s in shards),
            sstable_partitions=sum(s.sstable_partitions for s in shards),
            memtable_bytes=sum(s.memtable_bytes for s in shards),
            memtable_partitions=sum(s.memtable_partitions for s in shards),
        )

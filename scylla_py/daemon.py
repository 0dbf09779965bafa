"""The node daemon: wires the concrete parts together and owns the node's lifecycle.

Owns start-up order (identity, metadata, storage, commitlog replay, then the network), the node
facts every other part receives explicitly (host id, tokens, addresses), and the orderly shutdown:
stop accepting, finish in-flight requests, flush memtables, close the commitlog, exit.

This is the only module that knows every concrete implementation. Everything else receives its
collaborators through constructors, so tests can assemble other combinations.

On-disk layout under `workdir`: `host_id` (this node's identity, written once, atomically),
`metadata/` (schema, tablets, roles snapshot), `data/` (sstables per tablet), `commitlog/`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cql.system_tables import NodeInfo, RoleInfo, SystemContext, TabletRow
from storage.config import StorageConfig, TableOptions
from storage.engine import StorageEngine

from . import __version__
from .auth import PASSWORD_AUTHENTICATOR, hash_password
from .clock import TimestampGenerator
from .config import Config
from .cql_server import CQLServer
from .metadata import Metadata, MetadataStore, RoleDef
from .node_admin import LocalNodeAdmin
from .query_processor import QueryProcessor
from .rest.server import RestServer, start_rest_server
from .statements.schema_change import SchemaChange, SchemaChanger, SchemaEnvironment
from .storage_proxy import StorageProxy

log = logging.getLogger(__name__)

_AUTH_PREFIX = "org.apache.cassandra.auth."
LWT_MASK = "LWT_OPTIMIZATION_META_BIT_MASK=2147483648"


def full_auth_class(name: str) -> str:
    return name if "." in name else _AUTH_PREFIX + name


def read_or_create_host_id(workdir: Path) -> uuid.UUID:
    """The node's persistent identity: created once per work directory, atomically."""
    path = workdir / "host_id"
    if path.exists():
        return uuid.UUID(path.read_text().strip())
    host_id = uuid.uuid4()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(str(host_id) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return host_id


def vnode_tokens(host_id: uuid.UUID, count: int) -> list[int]:
    """`num_tokens` tokens for system.local (drivers require a non-empty token list); derived from
    the host id so they are stable across restarts without another file."""
    rng = random.Random(host_id.int)
    return sorted({rng.randrange(-(2**63) + 1, 2**63) for _ in range(max(1, count))})


def storage_options(options: Mapping[str, Any]) -> TableOptions:
    return TableOptions(
        gc_grace_seconds=int(options.get("gc_grace_seconds", 864000)),
        bloom_filter_fp_chance=float(options.get("bloom_filter_fp_chance", 0.01)),
        compaction=dict(options.get("compaction") or {"class": "SizeTieredCompactionStrategy"}),
        compression=dict(options.get("compression") or {"sstable_compression": "LZ4Compressor"}),
    )


class Node:
    """One scylla-py node (one shard process for now)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.workdir = config.workdir.resolve()
        self.authenticator = full_auth_class(config.authenticator)
        self.shard = 0
        self.shard_count = 1
        self.started_at = time.time()
        self.engine: StorageEngine | None = None
        self.cql: CQLServer | None = None
        self.rest: RestServer | None = None
        self._stopped = asyncio.Event()
        self._stopping = False

    # --- start -------------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_id = read_or_create_host_id(self.workdir)
        self.tokens = vnode_tokens(self.host_id, cfg.num_tokens)
        self.metadata = MetadataStore(self.workdir / "metadata")
        self.timestamps = TimestampGenerator()
        self._ensure_default_roles()
        sync = cfg.commitlog_sync
        self.engine = await StorageEngine.open(self.workdir, StorageConfig(
            commitlog_sync="batch" if sync == "batch" else "periodic",
            commitlog_sync_period_ms=cfg.commitlog_sync_period_in_ms,
            commitlog_segment_size_mb=cfg.commitlog_segment_size_in_mb,
            memtable_flush_threshold_bytes=cfg.memtable_flush_threshold_in_mb << 20,
            shard_memtable_limit_bytes=cfg.memtable_total_space_in_mb << 20,
        ))
        self.proxy = StorageProxy(self.engine, lambda table_id: self.metadata.current.tablets[table_id])
        current = self.metadata.current
        for table in current.schema.tables.values():
            tablets = current.tablets.get(table.id)
            if tablets is not None:
                self.proxy.add_table(tablets, storage_options(table.options))
        stats = await self.engine.replay_commitlog()
        log.info("commitlog replayed: %s", stats)
        changer = SchemaChanger(SchemaEnvironment(
            shards=[(self.host_id, s) for s in range(self.shard_count)],
            datacenters=[cfg.local_dc],
            timestamp_us=self.timestamps.next_us,
        ))
        self.processor = QueryProcessor(
            self.metadata, self.proxy, self.timestamps, changer, self.system_context, self.host_id,
            self.authenticator, self._announce_schema_change, self._apply_storage_changes,
        )
        self.cql = CQLServer(self.processor, self.metadata, self.authenticator, self.supported_options,
                             cfg.native_transport_max_frame_size_in_mb << 20, self.shard_count)
        await self.cql.listen(cfg.rpc_address, cfg.native_transport_port)
        await self.cql.listen(cfg.rpc_address, cfg.native_shard_aware_transport_port, shard_aware=True)
        self.rest = await start_rest_server(cfg.api_address, cfg.api_port, LocalNodeAdmin(self))
        log.info("scylla-py %s ready: CQL on %s:%d (shard-aware %d), REST on %s:%d, host_id %s, workdir %s",
                 __version__, cfg.rpc_address, cfg.native_transport_port, cfg.native_shard_aware_transport_port,
                 cfg.api_address, cfg.api_port, self.host_id, self.workdir)

    def _ensure_default_roles(self) -> None:
        """PasswordAuthenticator starts with the superuser cassandra/cassandra, as Cassandra does."""
        if self.authenticator != PASSWORD_AUTHENTICATOR:
            return
        current = self.metadata.current
        if current.roles:
            return
        role = RoleDef("cassandra", hash_password("cassandra"), True, True)
        self.metadata.update(current.evolve(roles={"cassandra": role}))

    # --- collaborators handed to other parts -------------------------------------------------

    def supported_options(self, shard: int) -> Mapping[str, Sequence[str]]:
        cfg = self.config
        return {
            "CQL_VERSION": ["3.3.1"],
            "COMPRESSION": ["lz4"],
            "SCYLLA_SHARD": [str(shard)],
            "SCYLLA_NR_SHARDS": [str(self.shard_count)],
            "SCYLLA_PARTITIONER": ["org.apache.cassandra.dht.Murmur3Partitioner"],
            "SCYLLA_SHARDING_ALGORITHM": ["biased-token-round-robin"],
            "SCYLLA_SHARDING_IGNORE_MSB": ["12"],
            "SCYLLA_SHARD_AWARE_PORT": [str(cfg.native_shard_aware_transport_port)],
            "SCYLLA_LWT_ADD_METADATA_MARK": [LWT_MASK],
            "SCYLLA_RATE_LIMIT_ERROR": ["ERROR_CODE=61440"],
            "TABLETS_ROUTING_V1": [""],
        }

    def system_context(self) -> SystemContext:
        cfg = self.config
        m = self.metadata.current
        node = NodeInfo(
            host_id=self.host_id, cluster_name=cfg.cluster_name, data_center=cfg.local_dc,
            rack=cfg.local_rack, listen_address=cfg.listen_address,
            broadcast_address=cfg.effective_broadcast_address,
            rpc_address=cfg.effective_broadcast_rpc_address, tokens=self.tokens,
            schema_version=m.schema.version, shard_count=self.shard_count,
        )
        tablets = []
        for table in m.schema.tables.values():
            tt = m.tablets.get(table.id)
            if tt is None:
                continue
            for t in tt.tablets:
                tablets.append(TabletRow(table.id, table.keyspace, table.name, tt.tablet_count, t.last_token,
                                         list(t.replicas)))
        roles = [RoleInfo(r.name, r.can_login, r.is_superuser, r.member_of, r.salted_hash) for r in m.roles.values()]
        return SystemContext(
            node=node, schema=m.schema, tablets=tablets,
            config_rows=[tuple(r) for r in cfg.as_rows()],  # type: ignore[misc]
            roles=roles,
            scylla_local={"cluster_name": cfg.cluster_name},
        )

    async def _announce_schema_change(self, change: SchemaChange) -> None:
        if self.cql is not None:
            self.cql.broadcast_schema_change(change)

    async def _apply_storage_changes(self, old: Metadata, new: Metadata) -> None:
        """Bring storage in line with a metadata change: add new tables' tablets, apply option
        changes, delete dropped tables' data."""
        for key, table in new.schema.tables.items():
            before = old.schema.tables.get(key)
            if before is None or before.id != table.id:
                self.proxy.add_table(new.tablets[table.id], storage_options(table.options))
            elif before.options != table.options:
                assert self.engine is not None
                self.engine.alter_table(table.id, storage_options(table.options))
        new_ids = {t.id for t in new.schema.tables.values()}
        for table in old.schema.tables.values():
            if table.id not in new_ids:
                assert self.engine is not None
                await self.engine.drop_table(table.id)

    # --- stop --------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Drain: stop accepting, finish in-flight requests, flush, close."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        log.info("draining: no new connections; finishing in-flight requests")
        if self.cql is not None:
            await self.cql.close()
        if self.rest is not None:
            await self.rest.close()
        if self.engine is not None:
            await self.engine.close()
        log.info("stopped cleanly")
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


async def run_node(config: Config) -> None:
    node = Node(config)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    await node.start()
    await stop_requested.wait()
    await node.stop()


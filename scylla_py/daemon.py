"""One shard process of a node: wires the concrete parts together and owns the shard's lifecycle.

Owns the shard's start-up order (identity, metadata, storage for its tablets, commitlog replay, the
shard RPC server, then client connections), the node facts every other part receives explicitly
(host id, tokens, addresses, shard number), and the orderly shutdown the supervisor asks for:
drain (finish in-flight requests, close client connections), then stop (flush memtables, close the
commitlog, exit 0).

Shard 0 is the metadata owner: it alone writes the metadata snapshot, runs schema and role changes
(other shards forward them), and pushes each change to every other shard before the statement
that made it is acknowledged. It also serves the REST API and the Prometheus endpoint for the node.

This is the only module that knows every concrete implementation. Everything else receives its
collaborators through constructors, so tests can assemble other combinations.

On-disk layout under `workdir`: `host_id` (this node's identity, written once, atomically, by the
supervisor), `metadata/` (schema, tablets, roles snapshot; shard 0 writes it), `shards/<k>/`
(shard k's `data/` with sstables per tablet and its `commitlog/`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import random
import signal
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cql.system_tables import NodeInfo, RoleInfo, SystemContext, TabletRow
from storage.config import EngineStats, StorageConfig, TableOptions, TableStats
from storage.engine import StorageEngine

from . import control
from .auth import PASSWORD_AUTHENTICATOR, hash_password
from .clock import TimestampGenerator
from .config import Config
from .cql_server import CQLServer
from .metadata import Metadata, MetadataStore, RoleDef, decode_metadata, encode_metadata
from .metrics import ShardMetrics, serve_metrics
from .node_admin import LocalNodeAdmin
from .query_processor import QueryProcessor
from .rest.server import RestServer, start_rest_server
from .shard_rpc import RpcServer, ShardPeers, ShardUnavailable, socket_name
from .statements.schema_change import SchemaChange, SchemaChanger, SchemaEnvironment
from .storage_proxy import ReplicaService, StorageProxy

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
    """One shard process of a scylla-py node."""

    def __init__(self, config: Config, shard: int = 0, shard_count: int = 1) -> None:
        self.config = config
        self.workdir = config.workdir.resolve()
        self.authenticator = full_auth_class(config.authenticator)
        self.shard = shard
        self.shard_count = shard_count
        self.started_at = time.time()
        self.engine: StorageEngine | None = None
        self.cql: CQLServer | None = None
        self.rest: RestServer | None = None
        self.rpc: RpcServer | None = None
        self.metrics = ShardMetrics()
        self.metrics_server: RestServer | None = None
        self._stopped = asyncio.Event()
        self._stopping = False

    @property
    def is_metadata_owner(self) -> bool:
        return self.shard == 0

    # --- start -------------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        self.host_id = read_or_create_host_id(self.workdir)
        self.tokens = vnode_tokens(self.host_id, cfg.num_tokens)
        self.metadata = MetadataStore(self.workdir / "metadata", owner=self.is_metadata_owner)
        self.timestamps = TimestampGenerator()
        if self.is_metadata_owner:
            self._ensure_default_roles()
        sync = cfg.commitlog_sync
        n = self.shard_count
        self.engine = await StorageEngine.open(shard_directory(self.workdir, self.shard), StorageConfig(
            commitlog_sync="batch" if sync == "batch" else "periodic",
            commitlog_sync_period_ms=cfg.commitlog_sync_period_in_ms,
            commitlog_segment_size_mb=cfg.commitlog_segment_size_in_mb,
            memtable_flush_threshold_bytes=cfg.memtable_flush_threshold_in_mb << 20,
            # The node's memtable budget is shared by its shards, as ScyllaDB divides memory.
            shard_memtable_limit_bytes=max(1 << 20, (cfg.memtable_total_space_in_mb << 20) // n),
        ))
        self.peers = ShardPeers(self.workdir, self.shard, n)
        self.proxy = StorageProxy(self.engine, self.host_id, self.shard,
                                  lambda: self.metadata.current.tablets, self.peers,
                                  self.metrics)
        current = self.metadata.current
        for table in current.schema.tables.values():
            tablets = current.tablets.get(table.id)
            if tablets is not None:
                self.proxy.add_table(tablets, storage_options(table.options))
        stats = await self.engine.replay_commitlog()
        log.info("commitlog replayed: %s", stats)
        changer = SchemaChanger(SchemaEnvironment(
            shards=[(self.host_id, s) for s in range(n)],
            datacenters=[cfg.local_dc],
            timestamp_us=self.timestamps.next_us,
        ))
        self.processor = QueryProcessor(
            self.metadata, self.proxy, self.timestamps, changer, self.system_context, self.host_id,
            self.authenticator, self._on_metadata_change, self.metrics,
        )
        self.cql = CQLServer(self.processor, self.metadata, self.authenticator, self.supported_options,
                             cfg.native_transport_max_frame_size_in_mb << 20, self.metrics, n, self.shard)
        self.rpc = RpcServer(self._rpc_handlers())
        await self.rpc.listen(socket_name(self.workdir, self.shard))
        if not self.is_metadata_owner:
            await self._pull_metadata()
        else:
            self.rest = await start_rest_server(cfg.api_address, cfg.api_port, LocalNodeAdmin(self))
            self.metrics_server = await serve_metrics(cfg.prometheus_address, cfg.prometheus_port,
                                                      self.metrics_all_shards)
        log.info("shard %d of %d ready (host_id %s)", self.shard, n, self.host_id)

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

    # --- metadata: owner pushes, the others install ----------------------------------------------

    async def _on_metadata_change(self, old: Metadata, new: Metadata, change: SchemaChange | None) -> None:
        """On the owner, after `new` is durable: apply it to local storage, push it to every other
        shard and wait for each to apply it, then tell this shard's clients."""
        await self._apply_storage_changes(old, new)
        payload = [encode_metadata(new), pickle.dumps(change)]
        pushed = await self.peers.call_all("metadata_push", payload, skip_unavailable=True)
        missing = set(self.peers.others()) - set(pushed)
        if missing:
            # A shard that is restarting reads the snapshot file when it starts, then pulls.
            log.warning("metadata epoch %d not pushed to restarting shard(s) %s", new.epoch, sorted(missing))
        if change is not None and self.cql is not None:
            self.cql.broadcast_schema_change(change)

    async def _install_pushed(self, encoded: bytes, change: SchemaChange | None) -> bool:
        new = decode_metadata(encoded, self.workdir / "metadata" / "pushed")
        old = self.metadata.current
        if not self.metadata.install(new):
            return False
        self.processor.metadata_installed()
        await self._apply_storage_changes(old, new)
        if change is not None and self.cql is not None:
            self.cql.broadcast_schema_change(change)
        return True

    async def _pull_metadata(self, timeout_s: float = 60.0) -> None:
        """Adopt shard 0's current metadata; wait for shard 0 to answer (it may be starting too),
        but not forever: a shard restarting while shard 0 is down serves with the snapshot."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        delay = 0.05
        while True:
            try:
                encoded = await self.peers.call(0, "metadata_pull", None)
                break
            except ShardUnavailable as e:
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("starting with the metadata snapshot on disk: %s", e)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        await self._install_pushed(encoded, None)

    async def _apply_storage_changes(self, old: Metadata, new: Metadata) -> None:
        """Bring storage in line with a metadata change: add new tables' tablets, apply option
        changes, delete dropped tables' data (each shard for the tablets it holds)."""
        assert self.engine is not None
        for key, table in new.schema.tables.items():
            before = old.schema.tables.get(key)
            if before is None or before.id != table.id:
                self.proxy.add_table(new.tablets[table.id], storage_options(table.options))
            elif before.options != table.options:
                self.engine.alter_table(table.id, storage_options(table.options))
        new_ids = {t.id for t in new.schema.tables.values()}
        for table in old.schema.tables.values():
            if table.id not in new_ids:
                await self.engine.drop_table(table.id)

    # --- shard RPC ---------------------------------------------------------------------------

    def _rpc_handlers(self) -> dict[str, Any]:
        assert self.engine is not None
        engine = self.engine
        handlers: dict[str, Any] = dict(ReplicaService(engine).handlers())

        async def metadata_push(o: list[Any]) -> bool:
            return await self._install_pushed(o[0], pickle.loads(o[1]))  # pickle: from shard 0

        async def metadata_pull(_: Any) -> bytes:
            return encode_metadata(self.metadata.current)

        async def flush(table_id: bytes | None) -> None:
            await engine.flush(uuid.UUID(bytes=table_id) if table_id is not None else None)

        async def compact(table_id: bytes | None) -> None:
            await engine.compact(uuid.UUID(bytes=table_id) if table_id is not None else None)

        async def drain(_: Any) -> None:
            await self.drain()

        async def metrics_snapshot(_: Any) -> dict[str, object]:
            return self.metrics_snapshot()

        async def engine_stats(_: Any) -> bytes:
            return pickle.dumps(engine.stats())

        async def table_stats(table_id: bytes) -> bytes:
            return pickle.dumps(engine.table_stats(uuid.UUID(bytes=table_id)))

        handlers.update(
            metadata_push=metadata_push, metadata_pull=metadata_pull, flush=flush, compact=compact,
            engine_stats=engine_stats, table_stats=table_stats, metrics_snapshot=metrics_snapshot, drain=drain,
            metadata_statement=self.processor.metadata_statement,
            modify_at_owner=self.processor.modify_at_owner,
        )
        return handlers

    # --- node-wide operations (REST), fanned out to every shard --------------------------------

    async def flush_all_shards(self, table_id: uuid.UUID | None) -> None:
        assert self.engine is not None
        await self.engine.flush(table_id)
        await self.peers.call_all("flush", table_id.bytes if table_id is not None else None)

    async def drain_all_shards(self) -> None:
        """`nodetool drain`: every shard stops serving clients (in-flight requests finish, client
        connections close, new ones are refused), then every memtable is flushed."""
        await self.peers.call_all("drain", None, skip_unavailable=True)
        await self.drain()
        await self.flush_all_shards(None)

    async def compact_all_shards(self, table_id: uuid.UUID | None) -> None:
        assert self.engine is not None
        await self.engine.compact(table_id)
        await self.peers.call_all("compact", table_id.bytes if table_id is not None else None)

    def metrics_snapshot(self) -> dict[str, object]:
        return self.metrics.snapshot(self.engine.stats() if self.engine is not None else None)

    async def metrics_all_shards(self) -> dict[int, dict[str, object]]:
        """Every reachable shard's metrics snapshot, for one scrape of /metrics."""
        out: dict[int, dict[str, object]] = {self.shard: self.metrics_snapshot()}
        others = self.peers.others()
        answers = await asyncio.gather(
            *(asyncio.wait_for(self.peers.call(k, "metrics_snapshot", None), 2.0) for k in others),
            return_exceptions=True)
        for k, answer in zip(others, answers, strict=True):
            if isinstance(answer, BaseException):
                log.debug("shard %d gave no metrics snapshot: %s", k, answer)  # restarting: a gap
            else:
                out[k] = answer
        return out

    async def engine_stats_all_shards(self) -> dict[int, EngineStats]:
        """Each reachable shard's storage figures (a restarting shard is left out)."""
        assert self.engine is not None
        out = {self.shard: self.engine.stats()}
        for s, b in (await self.peers.call_all("engine_stats", None, skip_unavailable=True)).items():
            out[s] = pickle.loads(b)  # pickle: from this node's own shard
        return out

    async def table_stats_all_shards(self, table_id: uuid.UUID) -> dict[int, TableStats]:
        assert self.engine is not None
        out = {self.shard: self.engine.table_stats(table_id)}
        for s, b in (await self.peers.call_all("table_stats", table_id.bytes, skip_unavailable=True)).items():
            out[s] = pickle.loads(b)  # pickle: from this node's own shard
        return out

    # --- stop --------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Stop serving clients: finish in-flight requests, close client connections."""
        if self.cql is not None:
            await self.cql.close()

    async def stop(self) -> None:
        """Drain, then flush and close everything."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        log.info("draining: finishing in-flight requests")
        await self.drain()
        if self.rest is not None:
            await self.rest.close()
        if self.metrics_server is not None:
            await self.metrics_server.close()
        if self.rpc is not None:
            await self.rpc.close()
        self.peers.close()
        if self.engine is not None:
            await self.engine.close()
        log.info("shard %d stopped cleanly", self.shard)
        self._stopped.set()


def shard_directory(workdir: Path, shard: int) -> Path:
    return workdir / "shards" / str(shard)


# Young-generation size for the cyclic GC. Every request allocates a few dozen container objects
# (rows, cell dicts, mutations) that the memtable keeps alive, so with CPython's default of 700
# the collector ran every ~30 writes and kept re-scanning the memtable's survivors: 15% of a
# write's CPU. At 10,000 a young collection takes ~1 ms and runs every few hundred requests.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Once the shard has started: move everything start-up made (grammar tables, schema, caches)
    out of the collector's view, and collect young objects in larger batches."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def run_shard(shard: int, shard_count: int, channel: socket.socket) -> None:
    """A shard process's life: read its config from the supervisor, start, serve the connections
    the supervisor hands over, and drain/stop when told (or when the supervisor is gone)."""
    message, _ = control.receive_blocking(channel)
    if message is None or message[0] != "config":
        raise SystemExit(f"shard {shard}: expected the configuration from the supervisor, got {message!r}")
    config: Config = pickle.loads(message[1])  # pickle: from our own supervisor
    node = Node(config, shard, shard_count)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # The supervisor decides when shards stop (a terminal's Ctrl-C reaches the whole group).
        loop.add_signal_handler(sig, lambda: None)
    tasks: set[asyncio.Task[None]] = set()
    failed: list[int] = []

    def spawn(coro: Any) -> None:
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def drain() -> None:
        await node.drain()
        control.send(channel, ["drained"])

    async def stop() -> None:
        try:
            await node.stop()
        except Exception:
            # Still exit: a shard that cannot flush must not hang the node's shutdown.
            log.exception("shard %d failed while stopping", shard)
            failed.append(shard)
        with contextlib.suppress(OSError):  # the supervisor may be gone already
            control.send(channel, ["stopped"])
        done.set()

    def on_message(msg: list[Any] | None, fds: list[int]) -> None:
        if msg is None:
            log.warning("shard %d: the supervisor is gone; stopping", shard)
            spawn(stop())
            return
        kind = msg[0]
        if kind == "conn" and fds and node.cql is not None:
            node.cql.accept(socket.socket(fileno=fds[0]), shard_aware=bool(msg[1]))
            return
        for fd in fds:
            os.close(fd)
        if kind == "drain":
            spawn(drain())
        elif kind == "stop":
            spawn(stop())

    await node.start()
    tune_gc()
    reader = control.ChannelReader(channel, on_message)
    control.send(channel, ["ready"])
    await done.wait()
    reader.close()
    if failed:
        raise SystemExit(1)

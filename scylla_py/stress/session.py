"""The connections of one stress process, and which one each request goes to.

Owns: the control connection's questions (how many shards, our node's host id), the schema set-up
(CREATE KEYSPACE/TABLE IF NOT EXISTS), the data connections, statements prepared on each of them,
and request routing.

Routing modes:
- shard-aware (default, when the node advertises SCYLLA_NR_SHARDS and SCYLLA_SHARD_AWARE_PORT):
  one connection per shard through the shard-aware port, each from a local port p with
  p % nr_shards == shard; the SCYLLA_SHARD the node reports for each is what we trust. Each request
  goes to the shard owning its partition key's token (`TabletRouter`).
- round-robin (`--no-shard-aware`, or a node that does not advertise sharding): nr_shards
  connections to the regular port, used in turn.

Invariant: `connections[i]` is the connection of shard i in shard-aware mode; a shard we could not
reach is served by another connection (the node forwards), and is counted in `missing_shards`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import uuid
from dataclasses import dataclass

from cql.protocol.client import PreparedStatement
from cql.protocol.responses import ErrorResponse, ResultRows

from .config import StressConfig, StressError
from .connection import CQLConnection, connect
from .routing import TabletRouter, source_ports

log = logging.getLogger(__name__)

# The schema change may still be reaching other shards when workers prepare: retry this long.
_PREPARE_RETRY_S = 10.0
_NOT_YET_KNOWN = ("unconfigured table", "does not exist")


@dataclass(frozen=True)
class Topology:
    """What the control connection learned about the node."""

    nr_shards: int
    ignore_msb: int
    shard_aware_port: int | None
    host_id: uuid.UUID | None


class StressSession:
    def __init__(self, cfg: StressConfig, topology: Topology, connections: list[CQLConnection],
                 shard_aware: bool, missing_shards: int) -> None:
        self.cfg = cfg
        self.topology = topology
        self.connections = connections
        self.shard_aware = shard_aware
        self.missing_shards = missing_shards
        self.router = TabletRouter(topology.nr_shards, topology.ignore_msb, topology.host_id)
        self.statements: dict[str, list[PreparedStatement]] = {}

    @property
    def routing_mode(self) -> str:
        return "shard-aware" if self.shard_aware else "round-robin"

    async def prepare(self, kind: str, text: str) -> None:
        """Prepare `text` on every connection (ids may differ per shard process)."""
        self.statements[kind] = [await _prepare_with_retry(c, text) for c in self.connections]

    def close(self) -> None:
        for c in self.connections:
            c.close()


async def open_control(cfg: StressConfig) -> tuple[CQLConnection, Topology]:
    """Connect to host:port and learn the node's sharding; StressError if unreachable."""
    try:
        conn = await connect(cfg.host, cfg.port, name=f"{cfg.host}:{cfg.port}", credentials=_credentials(cfg),
                             timeout_s=cfg.connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        raise StressError(f"cannot connect to {cfg.host}:{cfg.port}: {_reason(exc)}") from None
    sharding = conn.sharding
    host_id = await _host_id(conn)
    if sharding is None:
        return conn, Topology(1, 0, None, host_id)
    return conn, Topology(sharding.nr_shards, sharding.ignore_msb, sharding.shard_aware_port, host_id)


async def create_schema(cfg: StressConfig) -> Topology:
    """Create the keyspace and table if missing; StressError with the server's message if not."""
    conn, topology = await open_control(cfg)
    try:
        for statement in cfg.schema_statements():
            try:
                await conn.query(statement)
            except StressError as exc:
                raise StressError(f"cannot create the schema: {exc}") from None
    finally:
        conn.close()
    return topology


async def open_session(cfg: StressConfig, worker: int) -> StressSession:
    """The data connections of one worker process, statements prepared."""
    control, topology = await open_control(cfg)
    n = topology.nr_shards
    rng = random.Random()
    connections: list[CQLConnection | None] = [None] * n
    shard_aware = cfg.shard_aware and topology.shard_aware_port is not None
    try:
        if shard_aware:
            assert topology.shard_aware_port is not None
            for shard in range(n):
                conn = await _connect_to_shard(cfg, topology.shard_aware_port, shard, n, rng, worker)
                landed = conn.sharding.shard if conn.sharding is not None else shard
                if landed != shard:
                    log.warning("asked the shard-aware port for shard %d, landed on shard %d", shard, landed)
                if connections[landed] is None:
                    connections[landed] = conn
                else:
                    conn.close()
            control.close()
        else:
            connections[0] = control
            for i in range(1, n):
                connections[i] = await connect(cfg.host, cfg.port, name=f"w{worker}/c{i}",
                                               credentials=_credentials(cfg), timeout_s=cfg.connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        control.close()
        for c in connections:
            if c is not None:
                c.close()
        raise StressError(f"cannot connect to {cfg.host}: {_reason(exc)}") from None
    present = [c for c in connections if c is not None]
    missing = n - len(present)
    # A shard we could not reach is served through another one; the node forwards.
    filled = [c if c is not None else present[i % len(present)] for i, c in enumerate(connections)]
    session = StressSession(cfg, topology, filled, shard_aware, missing)
    try:
        if "write" in cfg.kinds:
            await session.prepare("write", cfg.insert_statement())
        if "read" in cfg.kinds:
            await session.prepare("read", cfg.select_statement())
    except BaseException:
        session.close()
        raise
    return session


async def _connect_to_shard(cfg: StressConfig, port: int, shard: int, n: int, rng: random.Random,
                            worker: int) -> CQLConnection:
    last_error: OSError | None = None
    for attempt, local_port in enumerate(source_ports(shard, n, rng)):
        if attempt >= 64:
            break
        try:
            return await connect(cfg.host, port, name=f"w{worker}/shard{shard}", credentials=_credentials(cfg),
                                 local_port=local_port, timeout_s=cfg.connect_timeout_s)
        except OSError as exc:
            # Port in use (by us, another process, or TIME_WAIT): try the next candidate.
            if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                raise
            last_error = exc
    raise OSError(f"no free source port for shard {shard} of {n}: {last_error}")


async def _prepare_with_retry(conn: CQLConnection, text: str) -> PreparedStatement:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _PREPARE_RETRY_S
    while True:
        try:
            return await conn.prepare(text)
        except StressError as exc:
            # Only a table this shard has not heard of yet is worth waiting for; a missing column
            # (a table created earlier with fewer columns) will not appear by itself.
            message = str(exc)
            if loop.time() >= deadline or not any(m in message for m in _NOT_YET_KNOWN):
                raise
            await asyncio.sleep(0.2)


async def _host_id(conn: CQLConnection) -> uuid.UUID | None:
    response = await conn.request(lambda c: c.query("SELECT host_id FROM system.local"))
    if isinstance(response, ResultRows) and response.rows:
        cell = response.rows[0][0]
        if cell is not None and len(cell) == 16:
            return uuid.UUID(bytes=bytes(cell))
    if isinstance(response, ErrorResponse):
        log.warning("cannot read system.local host_id: %s", response.error.message)
    return None


def _credentials(cfg: StressConfig) -> tuple[str, str] | None:
    if cfg.user is None or cfg.password is None:
        return None
    return cfg.user, cfg.password


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the node running?)"
    return str(exc) or type(exc).__name__

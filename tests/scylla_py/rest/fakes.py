"""A small in-memory NodeAdmin and a REST server around it on its own event-loop thread.

What tests of the REST layer drive: the HTTP layer, routing, argument validation and the JSON
shapes are real; only the node behind them is this plain data. The cluster it describes: this
node 127.0.0.1 (HOST_ID, up) and 127.0.0.2 (OTHER_HOST_ID, down); keyspace "ks" uses tablets
(table t1 has 4 tablets), "other" and the system keyspaces use vnodes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scylla_py.rest import (
    CompactionSummary,
    EndpointLocation,
    InvalidAdminRequest,
    KeyspaceKind,
    KeyspaceReplication,
    NodeAdmin,
    RestServer,
    RingState,
    TableStatistics,
    TabletReplicas,
    UnknownKeyspace,
    UnknownTable,
    start_rest_server,
)

T = TypeVar("T")

HOST_ID = uuid.UUID("c1906b2b-ce0c-4890-a9d4-8c360f111ad0")
OTHER_HOST_ID = uuid.UUID("5ae0d5c1-3e9b-4b8e-9d0a-1c2b3c4d5e6f")
SCHEMA_VERSION = uuid.UUID("34259144-0f3f-305f-a777-2811e30e17b3")
MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1

# ks.t1: 4 tablets of a quarter of the token range each; this node holds replicas of the first
# three (75% of the range), 127.0.0.2 of the last two (50%): tablet 2 has both, 127.0.0.2 primary.
T1_TABLETS = [
    TabletReplicas(MIN_TOKEN, -(2**62) - 1, ((HOST_ID, 0),)),
    TabletReplicas(-(2**62) - 1, -1, ((HOST_ID, 1),)),
    TabletReplicas(-1, 2**62 - 1, ((OTHER_HOST_ID, 0), (HOST_ID, 0))),
    TabletReplicas(2**62 - 1, MAX_TOKEN, ((OTHER_HOST_ID, 1),)),
]
T1_STATS = TableStatistics(tablet_count=3, sstable_count=5, sstable_bytes=12345, sstable_partitions=90,
                           memtable_bytes=4096, memtable_partitions=10)


@dataclass
class InMemoryAdmin:
    """A NodeAdmin over plain data; records the operations it was asked to run."""

    schema: dict[str, list[str]] = field(default_factory=lambda: {
        "system": ["local", "peers"], "system_schema": ["tables"], "ks": ["t1", "t2"], "other": ["x"]})
    calls: list[tuple[object, ...]] = field(default_factory=list)
    mode: str = "NORMAL"
    fail_with: BaseException | None = None
    drain_started: asyncio.Event | None = None

    def host_id(self) -> uuid.UUID:
        return HOST_ID

    def release_version(self) -> str:
        return "3.0.8"

    def scylla_release_version(self) -> str:
        return "6.0.0"

    def schema_version(self) -> uuid.UUID:
        return SCHEMA_VERSION

    def operation_mode(self) -> str:
        return self.mode

    def keyspaces(self, kind: KeyspaceKind) -> list[str]:
        names = list(self.schema)
        if kind is KeyspaceKind.ALL:
            return names
        if kind is KeyspaceKind.USER:
            return [n for n in names if not n.startswith("system")]
        return [n for n in names if n != "system"]

    def tables(self) -> list[tuple[str, str]]:
        return [(ks, t) for ks, ts in self.schema.items() for t in ts]

    def host_ids(self) -> list[tuple[str, uuid.UUID]]:
        return [("127.0.0.1", HOST_ID), ("127.0.0.2", OTHER_HOST_ID)]

    def live_endpoints(self) -> list[str]:
        return ["127.0.0.1"]

    def down_endpoints(self) -> list[str]:
        return ["127.0.0.2"]

    def token_endpoints(self, keyspace: str | None, table: str | None) -> list[tuple[int, str]]:
        self.calls.append(("tokens", keyspace, table))
        return [(MIN_TOKEN + 1, "127.0.0.1"), (0, "127.0.0.1"), (MAX_TOKEN, "127.0.0.2")]

    async def flush(self, keyspace: str | None, tables: Sequence[str] | None) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(("flush", keyspace, None if tables is None else tuple(tables)))

    async def compact(self, keyspace: str | None, tables: Sequence[str] | None, flush_memtables: bool) -> None:
        self.calls.append(("compact", keyspace, None if tables is None else tuple(tables), flush_memtables))

    def compactions(self) -> list[CompactionSummary]:
        return [CompactionSummary(HOST_ID, "ks", "t1", "COMPACTION", 10, 100)]

    def pending_compactions(self) -> int:
        return 3

    async def drain(self) -> None:
        self.mode = "DRAINING"
        if self.drain_started is not None:
            self.drain_started.set()
        await asyncio.sleep(0.05)
        self.calls.append(("drain",))
        self.mode = "DRAINED"

    def uptime_ms(self) -> int:
        return 123456

    def generation_number(self) -> int:
        return 1700000000

    def native_transport_running(self) -> bool:
        return True

    def gossip_running(self) -> bool:
        return False

    def endpoint_location(self, endpoint: str | None) -> EndpointLocation:
        if endpoint in (None, "127.0.0.1"):
            return EndpointLocation("dc1", "rack1")
        if endpoint == "127.0.0.2":
            return EndpointLocation("dc1", "rack2")
        raise InvalidAdminRequest(f"Unknown host {endpoint}")

    def endpoints_in_state(self, state: RingState) -> list[str]:
        return ["127.0.0.2"] if state is RingState.LEAVING else []

    def keyspace_replication(self, keyspace: str) -> KeyspaceReplication:
        if keyspace not in self.schema:
            raise UnknownKeyspace(keyspace)
        if keyspace == "ks":
            return KeyspaceReplication(True, {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                                              "dc1": "1"})
        if keyspace.startswith("system"):
            return KeyspaceReplication(False, {"class": "org.apache.cassandra.locator.LocalStrategy"})
        return KeyspaceReplication(False, {"class": "org.apache.cassandra.locator.SimpleStrategy",
                                           "replication_factor": "1"})

    def tablets(self, keyspace: str, table: str) -> list[TabletReplicas]:
        if (keyspace, table) == ("ks", "t1"):
            return list(T1_TABLETS)
        if keyspace.startswith("system"):
            raise InvalidAdminRequest(f"{keyspace}.{table} is a virtual system table: it has no tablets")
        raise UnknownTable(keyspace, table)

    async def load_bytes(self) -> int:
        return 2 * 1024 * 1024

    async def load_map(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", await self.load_bytes())]  # the down node's load is unknown

    async def table_statistics(self, keyspace: str, table: str) -> TableStatistics:
        self.calls.append(("stats", keyspace, table))
        if (keyspace, table) == ("ks", "t1"):
            return T1_STATS
        return TableStatistics(0, 0, 0, 0, 0, 0)


def typecheck(admin: InMemoryAdmin) -> NodeAdmin:
    return admin  # mypy proves InMemoryAdmin satisfies the protocol


class Node:
    """A REST server on its own event-loop thread, so tests can use blocking HTTP clients."""

    def __init__(self, admin: InMemoryAdmin, idle_timeout_s: float = 60.0) -> None:
        self.admin = admin
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: RestServer = self.run(start_rest_server("127.0.0.1", 0, typecheck(admin),
                                                             idle_timeout_s=idle_timeout_s))
        self.port = self.server.port

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, object, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None), response
        finally:
            conn.close()

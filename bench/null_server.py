"""A protocol-only CQL server for baselines: the real codec, no statement work.

Answers STARTUP/OPTIONS/REGISTER like a node, the drivers' connect-time queries with empty rows of
plausible shape, PREPARE with a fixed id and EXECUTE with VOID (writes) or one row (reads). What a
benchmark measures against it is the cost of the client, the protocol and the event loop alone.

Usage: python bench/null_server.py PORT
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import uuid
from typing import cast

import uvloop

from cql.protocol import (
    NEED_DATA,
    ConnectionClosed,
    Execute,
    Options,
    Prepare,
    Query,
    Register,
    ServerConnection,
    Startup,
)
from cql.protocol.responses import Ready, ResultPrepared, ResultRows, ResultVoid, Supported
from cql.protocol_types import ColumnSpec
from cql.types import BLOB, INT, TEXT, UUID

_SUPPORTED = {"CQL_VERSION": ["3.3.1"], "COMPRESSION": ["lz4"]}
_LOCAL = [ColumnSpec("system", "local", n, TEXT.protocol_option) for n in
          ("key", "cluster_name", "data_center", "rack", "release_version", "partitioner")]
_LOCAL_ROW = [b"local", b"Null Cluster", b"datacenter1", b"rack1", b"3.0.8",
              b"org.apache.cassandra.dht.Murmur3Partitioner"]
_KV = [ColumnSpec("ks", "t", "k", INT.protocol_option), ColumnSpec("ks", "t", "v", TEXT.protocol_option)]
_HOST = [ColumnSpec("system", "local", "host_id", UUID.protocol_option)]
_HOST_ID = uuid.UUID(int=1).bytes


def _shape(query: str) -> tuple[list[ColumnSpec], list[ColumnSpec] | None]:
    """Bind and result columns for a prepared statement: the old (k int, v text) pair for the
    driver benchmark's statements, blobs for the stress tool's `key blob, "C0" blob, ...` table."""
    q = query.strip()
    if "standard1" not in q:
        return _KV, (_KV if q.lower().startswith("select") else None)
    binds = [ColumnSpec("ks", "t", f"b{i}", BLOB.protocol_option) for i in range(q.count("?"))]
    if not q.lower().startswith("select"):
        return binds, None
    names = q[len("select"):q.lower().index(" from ")].split(",")
    return binds, [ColumnSpec("ks", "t", n.strip().strip('"'), BLOB.protocol_option) for n in names]


class NullProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.codec = ServerConnection(256 << 20, _SUPPORTED)
        self.prepared: dict[bytes, list[ColumnSpec] | None] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        codec = self.codec
        codec.receive_data(data)
        out = []
        while True:
            ev = codec.next_event()
            if ev is NEED_DATA or isinstance(ev, ConnectionClosed):
                break
            if isinstance(ev, Options):
                out.append(codec.send(Supported(_SUPPORTED), ev.stream))
            elif isinstance(ev, Startup | Register):
                out.append(codec.send(Ready(), ev.stream))
            elif isinstance(ev, Query):
                q = ev.query.lower()
                if "host_id from system.local" in q:
                    out.append(codec.send(ResultRows(_HOST, [[_HOST_ID]]), ev.stream))
                else:
                    rows = [_LOCAL_ROW] if "system.local" in q else []
                    out.append(codec.send(ResultRows(_LOCAL, rows), ev.stream))
            elif isinstance(ev, Prepare):
                pid = hashlib.md5(ev.query.encode()).digest()
                binds, results = _shape(ev.query)
                self.prepared[pid] = results
                out.append(codec.send(ResultPrepared(pid, binds, [0] if binds else [], results), ev.stream))
            elif isinstance(ev, Execute):
                results = self.prepared.get(ev.query_id)
                if results:
                    # A read: one row whose cells echo the key (the stress tool only counts rows).
                    first = ev.params.values[0] if ev.params.values else b""
                    key = first if isinstance(first, bytes) else b""
                    row = [key, b"value"] if results is _KV else [key] * len(results)
                    out.append(codec.send(ResultRows(results, [row], no_metadata=ev.params.skip_metadata),
                                          ev.stream))
                else:
                    out.append(codec.send(ResultVoid(), ev.stream))
        if out:
            self.transport.write(b"".join(out))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(NullProtocol, "127.0.0.1", port)
    print("null server ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1])))

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
from cql.types import INT, TEXT

_SUPPORTED = {"CQL_VERSION": ["3.3.1"], "COMPRESSION": ["lz4"]}
_LOCAL = [ColumnSpec("system", "local", n, TEXT.protocol_option) for n in
          ("key", "cluster_name", "data_center", "rack", "release_version", "partitioner")]
_LOCAL_ROW = [b"local", b"Null Cluster", b"datacenter1", b"rack1", b"3.0.8",
              b"org.apache.cassandra.dht.Murmur3Partitioner"]
_KV = [ColumnSpec("ks", "t", "k", INT.protocol_option), ColumnSpec("ks", "t", "v", TEXT.protocol_option)]


class NullProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.codec = ServerConnection(256 << 20, _SUPPORTED)
        self.prepared: dict[bytes, bool] = {}

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
                rows = [_LOCAL_ROW] if "system.local" in q else []
                out.append(codec.send(ResultRows(_LOCAL, rows), ev.stream))
            elif isinstance(ev, Prepare):
                pid = hashlib.md5(ev.query.encode()).digest()
                is_select = ev.query.lstrip().lower().startswith("select")
                self.prepared[pid] = is_select
                out.append(codec.send(ResultPrepared(pid, _KV, [0], _KV if is_select else None), ev.stream))
            elif isinstance(ev, Execute):
                if self.prepared.get(ev.query_id):
                    out.append(codec.send(ResultRows(_KV, [[ev.params.values[0], b"value"]],
                                                     no_metadata=ev.params.skip_metadata), ev.stream))
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

"""One raft server process for the benchmark (bench/raft_bench.py starts three of them).

Runs a RaftServer with the TCP transport, real files with fsync (OsFileSystem) and a counter
state machine, plus a line-delimited JSON control port on 127.0.0.1 through which the benchmark
driver asks for status, load, latency samples and failover probes.

    python bench/raft_node.py --id a --listen 127.0.0.1:7001 --control 7101 \
        --peers b=127.0.0.1:7002,c=127.0.0.1:7003 --dir /tmp/x/a
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from raft.errors import RaftError
from raft.fs import OsFileSystem
from raft.persistence import FilePersistence
from raft.server import RaftServer, ServerConfig
from raft.tcp import TcpTransport
from raft.types import ServerId


class Counter:
    """Counts applied commands; the snapshot is the count."""

    def __init__(self) -> None:
        self.count = 0

    async def apply(self, commands: Sequence[bytes]) -> None:
        self.count += len(commands)

    async def take_snapshot(self) -> bytes:
        return b"%d" % self.count

    async def load_snapshot(self, data: bytes) -> None:
        self.count = int(data) if data else 0


def _addr(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    if host != "127.0.0.1":
        raise SystemExit("the benchmark only runs on 127.0.0.1")
    return host, int(port)


class Node:
    def __init__(self, server: RaftServer) -> None:
        self.server = server

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        s = self.server
        if op == "status":
            return {"is_leader": s.is_leader, "leader": s.leader_id, "term": s.term, "applied": s.applied_index}
        if op == "load":
            return await self.load(int(req["concurrency"]), float(req["seconds"]), int(req.get("size", 64)))
        if op == "latency":
            return await self.latency(int(req["count"]), int(req.get("size", 64)))
        if op == "probe":
            return await self.probe(float(req["seconds"]))
        return {"error": f"unknown op {op}"}

    async def load(self, concurrency: int, seconds: float, size: int) -> dict[str, Any]:
        payload = b"x" * size
        done = errors = 0
        stop_at = time.monotonic() + seconds

        async def proposer() -> None:
            nonlocal done, errors
            while time.monotonic() < stop_at:
                try:
                    await self.server.add_entry(payload)
                    done += 1
                except RaftError:
                    errors += 1
                    await asyncio.sleep(0.01)

        start = time.monotonic()
        await asyncio.gather(*(proposer() for _ in range(concurrency)))
        return {"committed": done, "errors": errors, "elapsed": time.monotonic() - start}

    async def latency(self, count: int, size: int) -> dict[str, Any]:
        payload = b"y" * size
        samples = []
        for _ in range(count):
            t0 = time.perf_counter()
            await self.server.add_entry(payload)
            samples.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.002)  # low load: one request at a time, with gaps
        return {"latencies_ms": samples}

    async def probe(self, seconds: float) -> dict[str, Any]:
        """Retry a write until one commits; report the wall-clock time it committed."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                await asyncio.wait_for(self.server.add_entry(b"probe"), 0.5)
                return {"ok": True, "at": time.time(), "leader": self.server.leader_id}
            except (RaftError, TimeoutError):
                await asyncio.sleep(0.005)
        return {"ok": False}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--id", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("--peers", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--voters", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    me = ServerId(args.id)
    peers = {ServerId(k): _addr(v) for k, v in (p.split("=", 1) for p in args.peers.split(","))}
    persistence = FilePersistence(OsFileSystem(), args.dir)
    if not persistence.is_initialized():
        RaftServer.bootstrap(persistence, [ServerId(v) for v in args.voters.split(",")])
    transport = TcpTransport(me, _addr(args.listen), peers)
    server = RaftServer(me, persistence, transport, Counter(), ServerConfig())
    await server.start()
    node = Node(server)

    async def on_control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                reply = await node.handle(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        writer.close()

    control = await asyncio.start_server(on_control, "127.0.0.1", args.control)
    async with control:
        await control.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())

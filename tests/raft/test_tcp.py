"""The TCP transport on 127.0.0.1 with real files: a working cluster, and bad input on the wire."""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import pytest

from raft import messages as m
from raft.fs import OsFileSystem
from raft.persistence import FilePersistence
from raft.server import RaftServer, ServerConfig
from raft.tcp import TcpTransport
from raft.types import Index, ServerId, Term
from raft.wire import encode_frame
from tests.raft.test_server import ListMachine

IDS = [ServerId("a"), ServerId("b"), ServerId("c")]
CONFIG = ServerConfig(tick_ms=10, election_timeout_ticks=10, heartbeat_ticks=1, request_timeout_s=5.0)


async def _cluster(tmp: Path) -> tuple[dict[ServerId, RaftServer], dict[ServerId, TcpTransport]]:
    transports = {sid: TcpTransport(sid, ("127.0.0.1", 0)) for sid in IDS}
    servers: dict[ServerId, RaftServer] = {}
    for sid in IDS:
        p = FilePersistence(OsFileSystem(), str(tmp / sid))
        RaftServer.bootstrap(p, IDS)
        servers[sid] = RaftServer(sid, p, transports[sid], ListMachine(), CONFIG)
        await servers[sid].start()
    for sid, t in transports.items():
        for other, ot in transports.items():
            if other != sid:
                t.set_peer(other, ot.address)
    return servers, transports


async def _leader(servers: dict[ServerId, RaftServer]) -> RaftServer:
    for _ in range(500):
        leaders = [s for s in servers.values() if s.is_leader]
        if len(leaders) == 1:
            return leaders[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no leader")


def test_cluster_over_tcp(tmp_path: Path) -> None:
    async def main() -> None:
        servers, _ = await _cluster(tmp_path)
        try:
            leader = await _leader(servers)
            await asyncio.gather(*(leader.add_entry(b"%d" % i) for i in range(50)))
            follower = next(s for s in servers.values() if not s.is_leader)
            await follower.add_entry(b"fwd")
            await follower.read_barrier()
            assert len(follower._sm.items) == 51  # type: ignore[attr-defined]
        finally:
            for s in servers.values():
                await s.stop()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (struct.pack(">IB", 5, 1) + b"\xc1\xc1\xc1\xc1", "undecodable message"),
        (struct.pack(">IB", 3, 7) + b"\x90\x90", "unsupported wire version"),
        (struct.pack(">IB", 1 << 30, 1), "frame length"),
        (struct.pack(">IB", 9, 1) + b"\x93\x63\xa1", "truncated frame"),  # then EOF
    ],
    ids=["malformed", "version", "oversized", "truncated"],
)
def test_bad_frames_close_the_connection_and_change_nothing(
    tmp_path: Path, garbage: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        servers, transports = await _cluster(tmp_path)
        try:
            leader = await _leader(servers)
            await leader.add_entry(b"x")
            before = (leader.term, leader.core.log.last_index, leader.is_leader)
            host, port = transports[leader.id].address
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(garbage)
            await writer.drain()
            writer.write_eof()
            await asyncio.wait_for(reader.read(), 2)  # the server closes its end
            writer.close()
            # Well-formed frames from a stranger or for someone else are dropped too.
            _, w2 = await asyncio.open_connection(host, port)
            w2.write(encode_frame(m.VoteRequest(ServerId("zz"), leader.id, Term(50), Index(9), Term(50))))
            w2.write(encode_frame(m.TimeoutNow(IDS[0], ServerId("elsewhere"), Term(50))))
            await w2.drain()
            await asyncio.sleep(0.1)
            w2.close()
            assert (leader.term, leader.core.log.last_index, leader.is_leader) == before
            assert transports[leader.id].rejected >= 2
        finally:
            for s in servers.values():
                await s.stop()

    with caplog.at_level(logging.WARNING, logger="raft.tcp"):
        asyncio.run(main())
    assert "unknown server zz" in caplog.text
    assert reason in caplog.text

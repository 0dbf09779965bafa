"""Shard RPC over real abstract Unix sockets: replies, remote failures keeping their type and fields,
unknown methods, an unreachable shard, and a connection lost mid-call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cql.errors import AlreadyExists
from scylla_py.shard_rpc import RemoteError, RpcServer, ShardPeers, ShardUnavailable, socket_name


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _echo(payload: Any) -> Any:
    return payload


async def _fail(payload: Any) -> Any:
    raise AlreadyExists(f"Keyspace {payload} already exists", payload)


def test_calls_reply_and_failures_keep_their_type(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = RpcServer({"echo": _echo, "fail": _fail})
        await server.listen(socket_name(tmp_path, 1))
        peers = ShardPeers(tmp_path, 0, 2)
        try:
            replies = await asyncio.gather(*(peers.call(1, "echo", [i, b"x" * i]) for i in range(200)))
            assert replies == [[i, b"x" * i] for i in range(200)]
            with pytest.raises(AlreadyExists) as e:
                await peers.call(1, "fail", "ks1")
            assert e.value.keyspace == "ks1" and "already exists" in e.value.message
            with pytest.raises(RemoteError, match="unknown shard RPC method"):
                await peers.call(1, "nope", None)
            assert await peers.call_all("echo", 7) == {1: 7}
        finally:
            peers.close()
            await server.close()

    _run(scenario())


def test_unreachable_shard_and_lost_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        peers = ShardPeers(tmp_path, 0, 3)
        with pytest.raises(ShardUnavailable, match="shard 2"):
            await peers.call(2, "echo", 1)
        assert await peers.call_all("echo", 1, skip_unavailable=True) == {}

        never = asyncio.Event()

        async def hang(payload: Any) -> Any:
            await never.wait()

        server = RpcServer({"hang": hang, "echo": _echo})
        await server.listen(socket_name(tmp_path, 1))
        call = asyncio.ensure_future(peers.call(1, "hang", None))
        await asyncio.sleep(0.1)
        for c in list(server.connections):  # the shard's side goes away mid-call
            assert c.transport is not None
            c.transport.abort()
        with pytest.raises(ShardUnavailable, match="connection lost"):
            await call
        assert await peers.call(1, "echo", 5) == 5  # the next call reconnects
        never.set()
        peers.close()
        await server.close()

    _run(scenario())

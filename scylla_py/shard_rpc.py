"""Shard-to-shard RPC: the local channel between the shard processes of one node.

Owns the wire format and the asyncio shells of the channel every cross-shard hop uses (a mutation
for a tablet on another shard, a read, a schema push from shard 0, an LWT bounced to the owning
shard). Each shard listens on a Unix socket in the abstract namespace, named after the node's work
directory and the shard number, and opens at most one connection to each other shard, multiplexing
every call over it by call id.

Wire format (version 1): a stream of msgpack values, no other framing (msgpack values delimit
themselves, and the C unpacker streams them):

    request  := [0, call_id:int, method:str, payload]
    reply    := [1, call_id:int, payload]
    failure  := [2, call_id:int, error:bin]     error = pickle of (exception type, args, __dict__)

Payloads are plain msgpack data; methods that carry rich objects (responses, metadata) put bytes in
them. Pickle is safe here only because both ends are this node's own processes: the server checks
the peer's credentials (SO_PEERCRED) and refuses any other user.

Invariants:
- Every call ends: with the reply, with the remote failure re-raised (same exception type), or with
  `ShardUnavailable` when the connection cannot be made or is lost before the reply.
- Replies may arrive in any order; a call is matched by its id, never by position.
- A connection lost fails only the calls in flight on it; the next call reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pickle
import socket
import struct
from abc import ABCMeta, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

import msgpack

log = logging.getLogger(__name__)

REQUEST, REPLY, FAILURE = 0, 1, 2

Handler = Callable[[Any], Awaitable[Any]]


class ShardUnavailable(Exception):
    """The target shard process cannot be reached (down, restarting, or the connection broke)."""

    def __init__(self, shard: int, reason: str) -> None:
        super().__init__(f"shard {shard} is unavailable: {reason}")
        self.shard = shard


class RemoteError(Exception):
    """A failure on the remote shard that could not be carried as its own type."""


def socket_name(workdir: Path, shard: int) -> str:
    """The abstract-namespace address of a shard's RPC socket (no file, no path-length limit)."""
    digest = hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:20]
    return f"\0scylla-py/{digest}/shard-{shard}"


def encode_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((type(exc), exc.args, dict(getattr(exc, "__dict__", {}))))
    except Exception:  # an unpicklable attribute: keep the type's message at least
        return pickle.dumps((RemoteError, (f"{type(exc).__name__}: {exc}",), {}))


def decode_error(data: bytes) -> BaseException:
    cls, args, attrs = pickle.loads(data)  # pickle: peer is this node's own process (SO_PEERCRED)
    exc = cast(BaseException, cls.__new__(cls))
    BaseException.__init__(exc, *args)
    exc.__dict__.update(attrs)
    return exc


class _Stream(asyncio.Protocol, metaclass=ABCMeta):
    """Shared by both ends: msgpack values in, coalesced writes out."""

    def __init__(self) -> None:
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, use_list=True)
        self._packer = msgpack.Packer(use_bin_type=True)
        self.transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._unpacker.feed(data)
        for message in self._unpacker:
            self.message_received(message)

    @abstractmethod
    def message_received(self, message: Any) -> None:
        """One decoded message from the peer."""

    def send(self, message: Any) -> None:
        self._out.append(self._packer.pack(message))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        t = self.transport
        if self._out and t is not None and not t.is_closing():
            t.write(b"".join(self._out))
        self._out.clear()


class _ServerSide(_Stream):
    def __init__(self, server: RpcServer) -> None:
        super().__init__()
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
            if uid != os.getuid():
                log.warning("refusing shard RPC connection from uid %d", uid)
                transport.close()
                return
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)

    def message_received(self, message: Any) -> None:
        _, call_id, method, payload = message
        handler = self._server.handlers.get(method)
        if handler is None:
            self.send([FAILURE, call_id, encode_error(RemoteError(f"unknown shard RPC method {method!r}"))])
            return
        task = asyncio.get_running_loop().create_task(self._run(call_id, handler, payload))
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    async def _run(self, call_id: int, handler: Handler, payload: Any) -> None:
        try:
            result = await handler(payload)
        except Exception as e:
            if not getattr(e, "code", None) and not isinstance(e, ShardUnavailable):
                log.exception("shard RPC handler failed")
            self.send([FAILURE, call_id, encode_error(e)])
            return
        self.send([REPLY, call_id, result])


class RpcServer:
    """This shard's end: serves `handlers` on the shard's abstract socket."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)
        self.connections: set[_ServerSide] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None

    async def listen(self, name: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(name)
        sock.listen(128)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _ServerSide(self), sock=sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.close()


class _ClientSide(_Stream):
    def __init__(self, peer: ShardPeer) -> None:
        super().__init__()
        self._peer = peer
        self.pending: dict[int, asyncio.Future[Any]] = {}

    def message_received(self, message: Any) -> None:
        kind, call_id, payload = message
        fut = self.pending.pop(call_id, None)
        if fut is None or fut.done():
            return
        if kind == REPLY:
            fut.set_result(payload)
        else:
            fut.set_exception(decode_error(payload))

    def connection_lost(self, exc: Exception | None) -> None:
        self._peer._lost(self)
        err = ShardUnavailable(self._peer.shard, "connection lost")
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(err)
        self.pending.clear()


class ShardPeer:
    """The calling end towards one other shard: connects lazily, reconnects after a loss."""

    def __init__(self, shard: int, name: str) -> None:
        self.shard = shard
        self._name = name
        self._conn: _ClientSide | None = None
        self._connecting: asyncio.Future[_ClientSide] | None = None
        self._next_id = 0

    def _lost(self, conn: _ClientSide) -> None:
        if self._conn is conn:
            self._conn = None

    async def _connect(self) -> _ClientSide:
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, self._name)
            except OSError as e:
                sock.close()
                raise ShardUnavailable(self.shard, f"cannot connect ({e.strerror or e})") from None
            _, conn = await loop.create_unix_connection(lambda: _ClientSide(self), sock=sock)
            self._conn = conn
            self._connecting.set_result(conn)
            return conn
        except BaseException as e:
            self._connecting.set_exception(e)
            self._connecting.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            self._connecting = None

    async def call(self, method: str, payload: Any) -> Any:
        conn = self._conn
        if conn is None or conn.transport is None or conn.transport.is_closing():
            conn = await self._connect()
        self._next_id += 1
        call_id = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.pending[call_id] = fut
        conn.send([REQUEST, call_id, method, payload])
        return await fut

    def close(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = None


class ShardPeers:
    """Every other shard of this node, by number."""

    def __init__(self, workdir: Path, shard: int, shard_count: int) -> None:
        self.shard = shard
        self.shard_count = shard_count
        self._peers = {s: ShardPeer(s, socket_name(workdir, s)) for s in range(shard_count) if s != shard}

    def others(self) -> list[int]:
        return sorted(self._peers)

    async def call(self, shard: int, method: str, payload: Any) -> Any:
        return await self._peers[shard].call(method, payload)

    async def call_all(self, method: str, payload: Any, *, skip_unavailable: bool = False) -> dict[int, Any]:
        """Call every other shard concurrently; the replies by shard. With `skip_unavailable`, a
        shard that cannot be reached is left out instead of failing the whole call."""
        shards = self.others()
        results = await asyncio.gather(*(self.call(s, method, payload) for s in shards), return_exceptions=True)
        out: dict[int, Any] = {}
        for s, r in zip(shards, results, strict=True):
            if isinstance(r, ShardUnavailable) and skip_unavailable:
                continue
            if isinstance(r, BaseException):
                raise r
            out[s] = r
        return out

    def close(self) -> None:
        for p in self._peers.values():
            p.close()

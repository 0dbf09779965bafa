"""TCP transport for raft: msgpack frames (raft/wire.py) over one outbound connection per peer.

Owns: the listening socket, one writer task and bounded queue per peer, reconnection with
backoff, and the checks on inbound frames.

Rules:
- `send` only enqueues; a full queue drops its oldest frame and a broken connection drops what it
  held: raft tolerates lost messages, and this keeps a dead peer from consuming memory;
- inbound: a malformed, truncated, oversized or unknown-version frame closes that connection
  with a logged reason; a message for another server or from a server not in the address book is
  dropped with a logged reason. Nothing of the sort reaches the core;
- the address book is explicit (`set_peer`): add a joining server before `modify_config(add=)`.

Must never: block the event loop on a slow peer, or decode a frame larger than the bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from raft import messages as m
from raft.errors import ProtocolError
from raft.transport import MessageHandler
from raft.types import ServerId
from raft.wire import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encode_frame

logger = logging.getLogger(__name__)

Address = tuple[str, int]


class _PeerLink:
    """Outbound queue and writer task towards one peer."""

    def __init__(self, owner: TcpTransport, peer: ServerId, address: Address) -> None:
        self.owner = owner
        self.peer = peer
        self.address = address
        self.queue: collections.deque[bytes] = collections.deque()
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"raft-tcp-{owner.id}->{peer}")

    def push(self, frame: bytes) -> None:
        if len(self.queue) >= self.owner.queue_limit:
            self.queue.popleft()
            self.owner.dropped += 1
        self.queue.append(frame)
        self.ready.set()

    async def _run(self) -> None:
        backoff = 0.02
        while True:
            try:
                reader, writer = await asyncio.open_connection(*self.address)
            except OSError as err:
                logger.debug("%s: cannot connect to %s at %s: %s", self.owner.id, self.peer, self.address, err)
                self.owner.dropped += len(self.queue)
                self.queue.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.02
            try:
                while True:
                    await self.ready.wait()
                    self.ready.clear()
                    if self.queue:
                        batch = b"".join(self.queue)
                        self.queue.clear()
                        writer.write(batch)
                        await writer.drain()
            except OSError as err:
                logger.info("%s: connection to %s lost: %s", self.owner.id, self.peer, err)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                del reader


class TcpTransport:
    def __init__(
        self,
        server_id: ServerId,
        listen: Address,
        peers: dict[ServerId, Address] | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        queue_limit: int = 10_000,
    ) -> None:
        self.id = server_id
        self._listen = listen
        self._peers: dict[ServerId, Address] = dict(peers or {})
        self._links: dict[ServerId, _PeerLink] = {}
        self._max_frame_bytes = max_frame_bytes
        self.queue_limit = queue_limit
        self._handler: MessageHandler | None = None
        self._server: asyncio.Server | None = None
        self._inbound: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.dropped = 0
        self.rejected = 0

    @property
    def address(self) -> Address:
        """The bound address (useful when listening on port 0)."""
        if self._server is None:
            return self._listen
        host, port = self._server.sockets[0].getsockname()[:2]
        return (str(host), int(port))

    def set_peer(self, peer: ServerId, address: Address) -> None:
        if self._peers.get(peer) != address:
            self._drop_link(peer)
        self._peers[peer] = address

    def remove_peer(self, peer: ServerId) -> None:
        self._peers.pop(peer, None)
        self._drop_link(peer)

    async def start(self, handler: MessageHandler) -> None:
        self._handler = handler
        self._server = await asyncio.start_server(self._on_connection, *self._listen)

    def send(self, msg: m.Message) -> None:
        address = self._peers.get(msg.dst)
        if address is None:
            logger.debug("%s: no address for %s, dropping %s", self.id, msg.dst, type(msg).__name__)
            self.dropped += 1
            return
        try:
            frame = encode_frame(msg, self._max_frame_bytes)
        except ProtocolError as err:
            logger.warning("%s: not sending %s to %s: %s", self.id, type(msg).__name__, msg.dst, err)
            self.dropped += 1
            return
        link = self._links.get(msg.dst)
        if link is None:
            link = self._links[msg.dst] = _PeerLink(self, msg.dst, address)
        link.push(frame)

    async def stop(self) -> None:
        self._handler = None
        if self._server is not None:
            self._server.close()
        for peer in list(self._links):
            self._drop_link(peer)
        # Closing the sockets ends the reader tasks with EOF (cancelling them instead makes
        # asyncio's stream callback log the CancelledError).
        for writer in list(self._inbound.values()):
            writer.close()
        await asyncio.gather(*self._inbound, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _drop_link(self, peer: ServerId) -> None:
        link = self._links.pop(peer, None)
        if link is not None:
            link.task.cancel()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inbound[task] = writer
        decoder = FrameDecoder(self._max_frame_bytes)
        peer = writer.get_extra_info("peername")
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    if decoder.buffered_bytes:
                        self.rejected += 1
                        logger.warning("%s: connection from %s ended inside a truncated frame (%d bytes)",
                                       self.id, peer, decoder.buffered_bytes)
                    break
                for msg in decoder.feed(data):
                    self._deliver(msg)
        except ProtocolError as err:
            self.rejected += 1
            logger.warning("%s: closing connection from %s: %s", self.id, peer, err)
        except OSError as err:
            logger.debug("%s: inbound connection from %s failed: %s", self.id, peer, err)
        finally:
            self._inbound.pop(task, None)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _deliver(self, msg: m.Message) -> None:
        if msg.dst != self.id:
            self.rejected += 1
            logger.warning("%s: dropping %s addressed to %s", self.id, type(msg).__name__, msg.dst)
            return
        if msg.src not in self._peers:
            self.rejected += 1
            logger.warning("%s: dropping %s from unknown server %s", self.id, type(msg).__name__, msg.src)
            return
        if self._handler is not None:
            self._handler(msg)

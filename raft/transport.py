"""The transport interface of the raft server, and an in-memory implementation for tests.

Owns: `Transport` (how a server sends and receives raft messages) and `InMemoryNetwork`, a set of
in-process transports with switchable partitions, used by the server tests.

Contract of every transport (the core relies on nothing more, thesis §3.1 / §3.3): `send` never
blocks and never raises for a peer that is down; messages may be lost, delayed, duplicated or
reordered; a message addressed to another server or from an unknown peer is dropped with a
logged reason.

Must never: call into the core directly (the server does, from its own loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from raft import codec
from raft import messages as m
from raft.types import ServerId

logger = logging.getLogger(__name__)

MessageHandler = Callable[[m.Message], None]


class Transport(Protocol):
    async def start(self, handler: MessageHandler) -> None:
        """Begin receiving: `handler` is called (on the event loop) for each inbound message."""
        ...

    def send(self, msg: m.Message) -> None:
        """Best effort, non-blocking delivery of `msg` to `msg.dst`."""
        ...

    async def stop(self) -> None: ...


class InMemoryNetwork:
    """In-process network. Every message goes through the wire codec, so tests exercise it."""

    def __init__(self) -> None:
        self._transports: dict[ServerId, InMemoryTransport] = {}
        self._blocked: set[tuple[ServerId, ServerId]] = set()
        self.delivered = 0

    def transport(self, server_id: ServerId) -> InMemoryTransport:
        t = InMemoryTransport(self, server_id)
        self._transports[server_id] = t
        return t

    def isolate(self, server_id: ServerId) -> None:
        for other in self._transports:
            if other != server_id:
                self._blocked.add((server_id, other))
                self._blocked.add((other, server_id))

    def heal(self) -> None:
        self._blocked.clear()

    def _send(self, msg: m.Message) -> None:
        if (msg.src, msg.dst) in self._blocked:
            return
        dest = self._transports.get(msg.dst)
        if dest is None or dest.handler is None:
            return
        payload = codec.encode_message(msg)
        asyncio.get_running_loop().call_soon(dest.deliver, payload)


class InMemoryTransport:
    def __init__(self, network: InMemoryNetwork, server_id: ServerId) -> None:
        self._network = network
        self.id = server_id
        self.handler: MessageHandler | None = None

    async def start(self, handler: MessageHandler) -> None:
        self.handler = handler

    def send(self, msg: m.Message) -> None:
        self._network._send(msg)

    def deliver(self, payload: bytes) -> None:
        if self.handler is None:
            return
        msg = codec.decode_message(payload)
        if msg.dst != self.id:
            logger.warning("%s: dropping message for %s", self.id, msg.dst)
            return
        self._network.delivered += 1
        self.handler(msg)

    async def stop(self) -> None:
        self.handler = None

"""The control channel between the supervisor and one shard process.

Owns the message format and the asyncio reader of the channel: a `SOCK_SEQPACKET` Unix socket pair
made by the supervisor for each shard process it starts (the shard's end is inherited as a file
descriptor). Packets keep message boundaries, and a packet can carry file descriptors, which is how
an accepted client connection moves from the supervisor to the shard that serves it.

Messages (one msgpack array per packet):

    supervisor -> shard:  ["config", pickled Config]     first message, once
                          ["conn", port_kind]            + 1 fd: a client connection to serve
                          ["drain"]                      stop accepting, finish in-flight requests
                          ["stop"]                       flush, close, exit 0
    shard -> supervisor:  ["ready"] ["drained"] ["stopped"]

End of file on either side means the other process is gone: a shard whose supervisor vanished
drains and exits; a supervisor whose shard vanished restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

import msgpack

MAX_MESSAGE = 1 << 20

Listener = Callable[[list[Any] | None, list[int]], None]  # (message or None at EOF, fds)


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(supervisor end, shard end)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return a, b


def send(sock: socket.socket, message: list[Any], fds: list[int] | None = None) -> None:
    data = msgpack.packb(message, use_bin_type=True)
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive_blocking(sock: socket.socket) -> tuple[list[Any] | None, list[int]]:
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
    if not data:
        return None, list(fds)
    return msgpack.unpackb(data, raw=False), list(fds)


class ChannelReader:
    """Calls `listener` for each message arriving on `sock` (non-blocking, on the event loop)."""

    def __init__(self, sock: socket.socket, listener: Listener) -> None:
        self._sock = sock
        self._listener = listener
        self._closed = False
        sock.setblocking(False)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        while not self._closed:
            try:
                data, fds, _, _ = socket.recv_fds(self._sock, MAX_MESSAGE, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self.close()
                self._listener(None, list(fds))
                return
            self._listener(msgpack.unpackb(data, raw=False), list(fds))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(RuntimeError, ValueError):  # loop closed or socket already closed
                asyncio.get_running_loop().remove_reader(self._sock.fileno())

"""The node supervisor: one process that starts, watches and stops the node's shard processes, and
places client connections on shards.

Owns:
- the node's work directory set-up (identity file, the shard count it is laid out for);
- shard process lifecycle: start every shard (the others wait for shard 0, the metadata owner,
  to answer before they report ready); restart a
  shard that dies (its commitlog is replayed when it starts again), with a growing back-off if it
  keeps dying; on SIGTERM/SIGINT stop accepting, ask every shard to drain (finish in-flight
  requests), then to stop (flush, close), and exit 0;
- connection placement: the supervisor accepts on the CQL port and the shard-aware port and
  hands each accepted socket to a shard over that shard's control channel (`scylla_py.control`).
  Port 9042 deals connections round-robin over the shards that are up; the shard-aware port puts
  a connection on shard `client_source_port % N`, as ScyllaDB does, so a driver that picked its
  source port lands on the shard it wants. The supervisor is the one process that outlives shard
  crashes, which is why accepting lives here: the node keeps taking connections while a shard
  restarts.

Invariants: the listening sockets open only after every shard reported ready (so a connection is
never accepted before the node can serve it), and the "ready" log line is written once, after
that; a connection handed to a shard is closed in the supervisor right after the hand-over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import socket
import sys
import time
from typing import Any

from . import __version__, control
from .config import Config
from .daemon import read_or_create_host_id

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 300.0
DRAIN_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 120.0
LAYOUT_FILE = "shard_count"


class StartupError(Exception):
    pass


class ShardProcess:
    """One shard's process and its control channel, across restarts."""

    def __init__(self, supervisor: Supervisor, shard: int) -> None:
        self.supervisor = supervisor
        self.shard = shard
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: socket.socket | None = None
        self.reader: control.ChannelReader | None = None
        self.ready = asyncio.Event()
        self.drained = asyncio.Event()

    async def spawn(self) -> None:
        sup = self.supervisor
        ours, theirs = control.channel_pair()
        self.ready.clear()
        self.drained.clear()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scylla_py", "_shard", "--shard", str(self.shard),
            "--shard-count", str(sup.shard_count), "--control-fd", str(theirs.fileno()),
            "--log-level", logging.getLevelName(logging.getLogger().level),
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self.channel = ours
        control.send(ours, ["config", pickle.dumps(sup.config)])
        self.reader = control.ChannelReader(ours, self._on_message)
        log.info("shard %d started (pid %d)", self.shard, self.proc.pid)

    def _on_message(self, message: list[Any] | None, fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        if message is None:
            return  # the process is exiting; `watch` sees it
        kind = message[0]
        if kind == "ready":
            self.ready.set()
        elif kind == "drained":
            self.drained.set()

    def send(self, message: list[Any], fds: list[int] | None = None) -> bool:
        if self.channel is None or not self.ready.is_set():
            return False
        try:
            control.send(self.channel, message, fds)
            return True
        except OSError:
            return False

    def close_channel(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.ready.clear()

    async def watch(self) -> None:
        """Restart the shard whenever it dies, until the node stops."""
        sup = self.supervisor
        backoff = 0.5
        while True:
            assert self.proc is not None
            started = time.monotonic()
            code = await self.proc.wait()
            self.close_channel()
            if sup.stopping:
                return
            log.error("shard %d (pid %d) exited with code %s; restarting it", self.shard, self.proc.pid, code)
            if time.monotonic() - started > 30:
                backoff = 0.5
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            if sup.stopping:
                return
            await self.spawn()
            try:
                await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT_S)
                log.info("shard %d is back", self.shard)
            except TimeoutError:
                log.error("shard %d did not become ready after a restart; killing it", self.shard)
                self.proc.kill()


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.shard_count = config.shard_count
        self.workdir = config.workdir.resolve()
        self.shards = [ShardProcess(self, k) for k in range(self.shard_count)]
        self.stopping = False
        self._listeners: list[tuple[socket.socket, bool]] = []
        self._next_shard = 0
        self._watchers: list[asyncio.Task[None]] = []

    # --- start ------------------------------------------------------------------------------

    def prepare_workdir(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_id = read_or_create_host_id(self.workdir)
        layout = self.workdir / LAYOUT_FILE
        if layout.exists():
            recorded = int(layout.read_text().strip())
            if recorded != self.shard_count:
                raise StartupError(
                    f"the work directory {self.workdir} holds data laid out for {recorded} shard(s); "
                    f"start with --smp {recorded} (changing the shard count of an existing node is not "
                    "supported yet)")
        else:
            tmp = layout.with_suffix(".tmp")
            tmp.write_text(f"{self.shard_count}\n")
            os.replace(tmp, layout)

    async def start(self) -> None:
        self.prepare_workdir()
        # All shards start at once (start-up is mostly imports and commitlog replay); shards other
        # than 0 pull the current metadata from shard 0 once it answers.
        for s in self.shards:
            await s.spawn()
        await self._wait_ready(self.shards)
        self._watchers = [asyncio.get_running_loop().create_task(s.watch()) for s in self.shards]
        cfg = self.config
        self._listen(cfg.rpc_address, cfg.native_transport_port, shard_aware=False)
        self._listen(cfg.rpc_address, cfg.native_shard_aware_transport_port, shard_aware=True)
        log.info("scylla-py %s ready: CQL on %s:%d (shard-aware %d), REST on %s:%d, %d shard(s), host_id %s, "
                 "workdir %s", __version__, cfg.rpc_address, cfg.native_transport_port,
                 cfg.native_shard_aware_transport_port, cfg.api_address, cfg.api_port, self.shard_count,
                 self.host_id, self.workdir)

    async def _wait_ready(self, shards: list[ShardProcess]) -> None:
        for s in shards:
            assert s.proc is not None
            ready = asyncio.ensure_future(s.ready.wait())
            died = asyncio.ensure_future(s.proc.wait())
            await asyncio.wait({ready, died}, timeout=READY_TIMEOUT_S,
                                         return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            died.cancel()
            if not s.ready.is_set():
                raise StartupError(f"shard {s.shard} did not start (exit code {s.proc.returncode}); see the log above")

    def _listen(self, host: str, port: int, *, shard_aware: bool) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
        self._listeners.append((sock, shard_aware))
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_accept, sock, shard_aware)

    # --- connection placement ---------------------------------------------------------------------

    def _on_accept(self, listener: socket.socket, shard_aware: bool) -> None:
        for _ in range(64):
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("accept failed: %s", e)
                return
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._place(conn, int(peer[1]) if shard_aware else None)
            finally:
                conn.close()

    def _place(self, conn: socket.socket, source_port: int | None) -> None:
        n = self.shard_count
        if source_port is not None:
            order = [(source_port % n + i) % n for i in range(n)]
        else:
            order = [(self._next_shard + i) % n for i in range(n)]
            self._next_shard = (self._next_shard + 1) % n
        for k in order:
            s = self.shards[k]
            if s.send(["conn", source_port is not None], [conn.fileno()]):
                return
        log.warning("no shard is up to take a client connection; closing it")

    # --- stop -------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop accepting, drain every shard, then stop them; exit code 0 unless a shard failed."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        for sock, _ in self._listeners:
            loop.remove_reader(sock.fileno())
            sock.close()
        log.info("draining %d shard(s): no new connections; finishing in-flight requests", self.shard_count)
        live = [s for s in self.shards if s.send(["drain"])]
        if live:
            _, waiting = await asyncio.wait([asyncio.ensure_future(s.drained.wait()) for s in live],
                                            timeout=DRAIN_TIMEOUT_S)
            for w in waiting:
                w.cancel()
        for s in self.shards:
            s.send(["stop"])
        procs = [s.proc for s in self.shards if s.proc is not None and s.proc.returncode is None]
        if procs:
            _, pending = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in procs], timeout=STOP_TIMEOUT_S)
            for p in procs:
                if p.returncode is None:
                    log.error("shard pid %d did not stop in %.0f s; killing it", p.pid, STOP_TIMEOUT_S)
                    p.kill()
            for t in pending:
                await t
        for watcher in self._watchers:
            watcher.cancel()
        for s in self.shards:
            s.close_channel()
        log.info("stopped cleanly")


async def run_supervisor(config: Config) -> int:
    sup = Supervisor(config)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        await sup.start()
    except (StartupError, OSError) as e:
        log.error("cannot start: %s", e)
        await sup.stop()
        return 1
    await stop_requested.wait()
    await sup.stop()
    return 0


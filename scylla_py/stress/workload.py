"""The load of one stress process: a closed loop of `concurrency` requests in flight.

Owns which key and values each operation uses, the op mix, the per-interval statistics and when
the run ends. It is driven by the connections' callbacks: every completion records its latency and
issues the next operation from inside `data_received`, so the steady state runs no coroutine at
all. A timer fires at the end of each interval and hands a `Snapshot` to the sink (the parent's
aggregator, directly or through a multiprocessing queue).

Keys are 10-digit decimal blobs of an index in [0, rows). Writes walk the indexes in order, worker
w of P taking w, w+P, w+2P... (so `write --ops N --rows N` writes each of N keys exactly once
across all workers); reads pick uniformly at random. Values are slices of a pseudo-random pool
seeded per run, so each (key, column) always gets the same bytes.

Invariants: an answered operation is counted once, as ok (with its latency) or as an error, and
a read that found no row also as not found; requests lost with a connection are not counted (the
run stops, with that as its `fatal` reason); `in_flight` never exceeds `concurrency`; the final
snapshot is sent exactly once, after the last answer or at the abort.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cql.protocol.client import ServerProtocolError, tablet_route_of
from cql.protocol.responses import ErrorResponse, Response, ResultRows, ResultVoid
from cql.token import murmur3_token

from .config import StressConfig
from .histogram import LatencyHistogram, SparseHistogram
from .session import StressSession

_POOL_SIZE = 1 << 16
_MAX_ERROR_SAMPLES = 5


@dataclass
class KindSnapshot:
    ops: int
    errors: int
    not_found: int
    histogram: SparseHistogram


@dataclass
class Snapshot:
    """One worker's figures for interval `interval` (0-based), ending at monotonic `end_s`."""

    worker: int
    interval: int
    end_s: float
    kinds: dict[str, KindSnapshot]
    misrouted: int = 0
    tablets_learned: int = 0
    final: bool = False
    fatal: str | None = None
    error_samples: list[str] = field(default_factory=list)


class _KindStats:
    __slots__ = ("errors", "histogram", "not_found", "ops")

    def __init__(self) -> None:
        self.ops = 0
        self.errors = 0
        self.not_found = 0
        self.histogram = LatencyHistogram()

    def snapshot(self) -> KindSnapshot:
        return KindSnapshot(self.ops, self.errors, self.not_found, self.histogram.to_sparse())


class WorkerRun:
    """Run the load of worker `worker` on `session`, starting at monotonic time `start_at`."""

    def __init__(self, cfg: StressConfig, session: StressSession, worker: int,
                 sink: Callable[[Snapshot], None], start_at: float) -> None:
        self.cfg = cfg
        self.session = session
        self.worker = worker
        self.sink = sink
        self.start_at = start_at
        self._remaining = cfg.ops_of_worker(worker)
        self._stopping = False
        self._fatal: str | None = None
        self._in_flight = 0
        self._completed = 0
        self._stalled_ticks = 0
        self._completed_at_tick = 0
        self._next_write = worker
        self._stride = cfg.processes
        self._round_robin = 0
        self._interval = 0
        self._misrouted = 0
        self._error_samples: list[str] = []
        self._stats = {kind: _KindStats() for kind in cfg.kinds}
        self._rng = random.Random()
        self._pool = random.Random(0x5CA11A).randbytes(_POOL_SIZE + cfg.value_size)
        weights = cfg.ratio
        total = sum(weights.get(k, 0) for k in cfg.kinds)
        self._write_fraction = weights.get("write", 0) / total
        self._write_statements = session.statements.get("write", [])
        self._read_statements = session.statements.get("read", [])
        self._done: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        delay = self.start_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self._schedule_tick(loop)
        if self.cfg.duration_s is not None:
            loop.call_later(self.start_at + self.cfg.duration_s - time.monotonic(), self._stop)
        for conn in self.session.connections:
            conn.lost.add_done_callback(lambda _f: self._abort("connection to the node lost"))
        for _ in range(self.cfg.concurrency):
            self._issue()
        self._maybe_finish()
        await self._done

    # --- issuing ------------------------------------------------------------------------------

    def _issue(self) -> None:
        if self._stopping:
            return
        remaining = self._remaining
        if remaining is not None:
            if remaining <= 0:
                return
            self._remaining = remaining - 1
        cfg = self.cfg
        write = self._write_fraction >= 1.0 or (
            self._write_fraction > 0.0 and self._rng.random() < self._write_fraction)
        if write:
            index = self._next_write % cfg.rows
            self._next_write += self._stride
        else:
            index = self._rng.randrange(cfg.rows)
        key = b"%010d" % index
        session = self.session
        connections = session.connections
        if session.shard_aware:
            target = session.router.shard_for(murmur3_token(key))
        else:
            target = self._round_robin
            self._round_robin = (target + 1) % len(connections)
        try:
            if write:
                values = [key]
                pool = self._pool
                size = cfg.value_size
                for column in range(cfg.columns):
                    offset = (index * 2654435761 + column * 40503) % _POOL_SIZE
                    values.append(pool[offset : offset + size])
                connections[target].execute(self._write_statements[target], values, cfg.consistency,
                                            self._write_done)
            else:
                connections[target].execute(self._read_statements[target], [key], cfg.consistency,
                                            self._read_done)
        except ConnectionError as exc:
            self._abort(str(exc))
            return
        self._in_flight += 1

    # --- completions (called from CQLConnection.data_received) ---------------------------------

    def _write_done(self, result: Response | Exception, latency_ns: int) -> None:
        stats = self._stats["write"]
        # A class identity test first: isinstance against the ABC-derived responses is slow.
        if result.__class__ is ResultVoid or not isinstance(result, Exception | ErrorResponse):
            stats.ops += 1
            stats.histogram.record(latency_ns // 1000)
            if result.custom_payload is not None:
                self._learn(result)
        else:
            self._error(stats, result)
        self._completed += 1
        self._in_flight -= 1
        self._issue()
        if not self._in_flight:
            self._maybe_finish()

    def _read_done(self, result: Response | Exception, latency_ns: int) -> None:
        stats = self._stats["read"]
        if result.__class__ is ResultRows:
            stats.ops += 1
            stats.histogram.record(latency_ns // 1000)
            if not result.rows:
                stats.not_found += 1
            if result.custom_payload is not None:
                self._learn(result)
        elif isinstance(result, Exception | ErrorResponse):
            self._error(stats, result)
        else:
            self._error(stats, ServerProtocolError(f"a read answered with {type(result).__name__}"))
        self._completed += 1
        self._in_flight -= 1
        self._issue()
        if not self._in_flight:
            self._maybe_finish()

    def _error(self, stats: _KindStats, result: Exception | ErrorResponse) -> None:
        if isinstance(result, ConnectionError):
            # Not a failed request but the end of the run: reported as its reason, and the
            # requests lost with the connection are not counted one by one.
            self._abort(str(result))
            return
        stats.errors += 1
        if len(self._error_samples) < _MAX_ERROR_SAMPLES:
            message = result.error.message if isinstance(result, ErrorResponse) else str(result)
            if message not in self._error_samples:
                self._error_samples.append(message)

    def _learn(self, result: Response) -> None:
        try:
            route = tablet_route_of(result)
        except ServerProtocolError as exc:
            self._error_samples.append(f"bad routing hint: {exc.message}")
            return
        if route is not None:
            self._misrouted += 1
            self.session.router.learn(route)

    # --- the run's end and its intervals -------------------------------------------------------

    def _stop(self) -> None:
        self._stopping = True
        self._maybe_finish()

    def _abort(self, reason: str) -> None:
        if self._fatal is None:
            self._fatal = reason
        self._stopping = True
        self._maybe_finish(force=True)

    def _maybe_finish(self, force: bool = False) -> None:
        if self._done is None or self._done.done():
            return
        if self._in_flight and not force:
            return
        if not (force or self._stopping or self._remaining == 0):
            return
        if self._timer is not None:
            self._timer.cancel()
        self.sink(self._snapshot(time.monotonic(), final=True))
        self._done.set_result(None)

    def _schedule_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        at = self.start_at + (self._interval + 1) * self.cfg.interval_s
        self._timer = loop.call_later(max(0.0, at - time.monotonic()), self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._done is None or self._done.done():
            return
        end = self.start_at + (self._interval + 1) * self.cfg.interval_s
        if self._in_flight and self._completed == self._completed_at_tick:
            self._stalled_ticks += 1
            if self._stalled_ticks * self.cfg.interval_s >= self.cfg.stall_timeout_s:
                self._abort(f"no answer from the node for {self.cfg.stall_timeout_s:g} s "
                            f"with {self._in_flight} requests in flight")
                return
        else:
            self._stalled_ticks = 0
        self._completed_at_tick = self._completed
        self.sink(self._snapshot(end, final=False))
        self._interval += 1
        self._schedule_tick(loop)

    def _snapshot(self, end_s: float, final: bool) -> Snapshot:
        kinds = {kind: stats.snapshot() for kind, stats in self._stats.items()}
        self._stats = {kind: _KindStats() for kind in self._stats}
        snap = Snapshot(self.worker, self._interval, end_s, kinds, self._misrouted,
                        len(self.session.router), final, self._fatal if final else None,
                        list(self._error_samples) if final else [])
        self._misrouted = 0
        return snap

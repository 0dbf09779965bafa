"""Runs a stress test: schema set-up, the worker processes, and the merged report.

Owns the process structure. The parent creates the schema (so an unreachable node or a refused
CREATE fails before anything is spawned), then with `--processes 1` runs the worker in its own
event loop, else spawns P workers (multiprocessing "spawn": a clean interpreter each, no forked
event loop). Every worker connects and prepares, reports ready, then waits for a common start time
(CLOCK_MONOTONIC is shared by all processes of a machine) so the intervals of all workers line up.
Snapshots flow back over one queue and are merged by `report.Aggregator` as they arrive.

Invariant: `run()` returns an exit status (0 clean run, 1 request errors or an early stop) or
raises StressError before the load starts; worker processes never outlive it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import sys
import time
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any, TextIO

from .config import StressConfig, StressError
from .report import Aggregator, header, print_summary, write_json
from .session import StressSession, create_schema, open_session
from .workload import Snapshot, WorkerRun

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 120.0
_START_DELAY_S = 0.2


def _event_loop_policy() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass


def routing_info(session: StressSession) -> dict[str, Any]:
    t = session.topology
    return {
        "mode": session.routing_mode,
        "shards": t.nr_shards,
        "shard_aware_port": t.shard_aware_port if session.shard_aware else None,
        "missing_shards": session.missing_shards,
        "host_id": str(t.host_id) if t.host_id else None,
    }


def run(cfg: StressConfig, out: TextIO = sys.stdout) -> int:
    _event_loop_policy()
    asyncio.run(create_schema(cfg))
    if cfg.processes == 1:
        aggregator, routing = asyncio.run(_run_in_process(cfg, out))
    else:
        aggregator, routing = _run_processes(cfg, out)
    summary = aggregator.summary(routing)
    print_summary(summary, out)
    if cfg.json_path is not None:
        write_json(summary, cfg.json_path)
    if aggregator.fatal:
        print(f"scylla-py stress: stopped early: {aggregator.fatal[0]}", file=sys.stderr)
        return 1
    if aggregator.errors:
        print(f"scylla-py stress: {aggregator.errors} request(s) failed", file=sys.stderr)
        return 1
    return 0


async def _run_in_process(cfg: StressConfig, out: TextIO) -> tuple[Aggregator, dict[str, Any]]:
    session = await open_session(cfg, 0)
    try:
        routing = routing_info(session)
        header(cfg, routing, out)
        start_at = time.monotonic() + _START_DELAY_S
        aggregator = Aggregator(cfg, 1, start_at, out)
        await WorkerRun(cfg, session, 0, aggregator.add, start_at).run()
    finally:
        session.close()
    return aggregator, routing


# --- several processes ---------------------------------------------------------------------------


def _run_processes(cfg: StressConfig, out: TextIO) -> tuple[Aggregator, dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    messages: multiprocessing.Queue[Any] = ctx.Queue()
    go = ctx.Event()
    start_value: Synchronized[float] = ctx.Value("d", 0.0)
    procs: list[SpawnProcess] = [
        ctx.Process(target=worker_main, args=(cfg, i, messages, go, start_value),
                    name=f"stress-worker-{i}", daemon=True)
        for i in range(cfg.processes)
    ]
    try:
        for p in procs:
            p.start()
        routing = _await_ready(cfg, messages, procs)
        header(cfg, routing, out)
        start_at = time.monotonic() + _START_DELAY_S
        start_value.value = start_at
        go.set()
        aggregator = Aggregator(cfg, cfg.processes, start_at, out)
        while not aggregator.done:
            try:
                msg = messages.get(timeout=1.0)
            except queue.Empty:
                _check_alive(procs, aggregator)
                continue
            if isinstance(msg, Snapshot):
                aggregator.add(msg)
        for p in procs:
            p.join(timeout=10)
        return aggregator, routing
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


def _await_ready(cfg: StressConfig, messages: multiprocessing.Queue[Any],
                 procs: list[SpawnProcess]) -> dict[str, Any]:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    ready: dict[int, dict[str, Any]] = {}
    while len(ready) < len(procs):
        try:
            msg = messages.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
        except queue.Empty:
            for i, p in enumerate(procs):
                if i not in ready and not p.is_alive():
                    raise StressError(f"worker {i} exited with code {p.exitcode} before it was ready") from None
            if time.monotonic() > deadline:
                raise StressError(f"workers not ready after {_READY_TIMEOUT_S:g} s") from None
            continue
        kind, worker, payload = msg
        if kind == "failed":
            raise StressError(payload)
        ready[worker] = payload
    return ready[0]


def _check_alive(procs: list[SpawnProcess], aggregator: Aggregator) -> None:
    for i, p in enumerate(procs):
        if not p.is_alive() and not aggregator.finished(i):
            raise StressError(f"worker {i} died (exit code {p.exitcode}) in the middle of the run")


def worker_main(cfg: StressConfig, worker: int, messages: multiprocessing.Queue[Any], go: Event,
                start_value: Synchronized[float]) -> None:
    """Entry point of a spawned worker process."""
    _event_loop_policy()
    asyncio.run(_worker(cfg, worker, messages, go, start_value))


async def _worker(cfg: StressConfig, worker: int, messages: multiprocessing.Queue[Any], go: Event,
                  start_value: Synchronized[float]) -> None:
    try:
        session = await open_session(cfg, worker)
    except StressError as exc:
        messages.put(("failed", worker, str(exc)))
        return
    except Exception as exc:  # reported to the parent, which ends the run with the message
        messages.put(("failed", worker, f"worker {worker}: {type(exc).__name__}: {exc}"))
        return
    try:
        messages.put(("ready", worker, routing_info(session)))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, go.wait)
        await WorkerRun(cfg, session, worker, messages.put, start_value.value).run()
    finally:
        session.close()

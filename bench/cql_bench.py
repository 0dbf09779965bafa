"""Benchmark: server CPU per operation and throughput for prepared single-row INSERT and SELECT by
key with the stock cassandra-driver, next to a protocol-only baseline measured in the same run.

Server CPU is read from /proc/<pid>/stat (utime + stime) of the server process before and after each
phase, so client work on the same machine is not counted. Each phase is repeated and the median
reported. Not a test: run it by hand and record the figures in docs/benchmarks.md.

    .venv/bin/python bench/cql_bench.py [--ops 20000] [--concurrency 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cassandra.cluster import Cluster  # noqa: E402
from cassandra.concurrent import execute_concurrent_with_args  # noqa: E402
from cassandra.io.asyncioreactor import AsyncioConnection  # noqa: E402

try:  # the driver's own default when its libev extension is built (it is in the PyPI wheels)
    from cassandra.io.libevreactor import LibevConnection as DefaultConnection
except ImportError:  # pragma: no cover
    DefaultConnection = AsyncioConnection  # type: ignore[misc,assignment]

from tests.harness import ServerProcess, free_port, wait_for_port  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants (a node is a supervisor plus shard processes)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK + sum(cpu_seconds(int(c)) for c in children)


def run_phase(session: object, stmt: object, params: list[tuple[object, ...]], pid: int,
              concurrency: int) -> tuple[float, float]:
    """(server CPU µs per op, ops/s)."""
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    execute_concurrent_with_args(session, stmt, params, concurrency=concurrency, raise_on_first_error=True)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - c0
    return cpu / len(params) * 1e6, len(params) / elapsed


def measure(host: str, port: int, pid: int, ops: int, concurrency: int, repeats: int,
            setup: bool, connection_class: type) -> dict[str, tuple[float, float]]:
    cluster = Cluster([host], port=port, connection_class=connection_class, protocol_version=4)
    session = cluster.connect()
    if setup:
        session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                        "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
        session.execute("CREATE TABLE IF NOT EXISTS bench.t (k int PRIMARY KEY, v text)")
    ins = session.prepare("INSERT INTO bench.t (k, v) VALUES (?, ?)")
    sel = session.prepare("SELECT k, v FROM bench.t WHERE k = ?")
    value = "x" * 100
    results: dict[str, list[tuple[float, float]]] = {"insert": [], "select": []}
    for r in range(repeats):
        keys = range(r * ops, (r + 1) * ops)
        results["insert"].append(run_phase(session, ins, [(k, value) for k in keys], pid, concurrency))
        results["select"].append(run_phase(session, sel, [(k,) for k in keys], pid, concurrency))
    cluster.shutdown()
    return {name: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
            for name, v in results.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--commitlog-sync", default="periodic", choices=["periodic", "batch"])
    ap.add_argument("--connection", default="default", choices=["default", "asyncio"],
                    help="driver connection class: its default (libev) or the asyncio reactor")
    args = ap.parse_args()
    conn = DefaultConnection if args.connection == "default" else AsyncioConnection

    port = free_port()
    null = subprocess.Popen([sys.executable, str(ROOT / "bench" / "null_server.py"), str(port)],
                            stdout=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, 30, null)
        base = measure("127.0.0.1", port, null.pid, args.ops, args.concurrency, args.repeats, setup=False,
                       connection_class=conn)
    finally:
        null.kill()
    with tempfile.TemporaryDirectory() as d:
        # One shard: the stock driver is not shard-aware, so with more shards half its requests
        # would hop; the sharded figures come from bench/shard_bench.py with a shard-aware client.
        node = ServerProcess(Path(d), extra_args=["--commitlog-sync", args.commitlog_sync, "--smp", "1"]).start()
        try:
            assert node.proc is not None
            real = measure(node.host, node.cql_port, node.proc.pid, args.ops, args.concurrency, args.repeats,
                           setup=True, connection_class=conn)
        finally:
            node.stop()
    print(f"ops/phase={args.ops} concurrency={args.concurrency} repeats={args.repeats} "
          f"commitlog_sync={args.commitlog_sync} connection={conn.__name__} (medians)")
    print(f"{'op':8} {'server µs/op':>13} {'baseline µs/op':>15} {'ratio':>6} {'ops/s':>8} {'baseline ops/s':>15}")
    for op in ("insert", "select"):
        (cpu, tput), (bcpu, btput) = real[op], base[op]
        print(f"{op:8} {cpu:13.1f} {bcpu:15.1f} {cpu / bcpu:6.2f} {tput:8.0f} {btput:15.0f}")


if __name__ == "__main__":
    main()

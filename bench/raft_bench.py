"""Raft benchmark: three real server processes on 127.0.0.1, TCP transport, fsync on.

Measures (the figures are recorded in docs/raft.md):
1. throughput: committed entries/s with many concurrent proposers on the leader;
2. commit latency p50/p99 at low load (one proposer, sequential);
3. failover: time from SIGKILL of the leader to the first write committed by a new leader,
   measured by probes on both survivors that retry a write every few ms (default timeouts).

    .venv/bin/python bench/raft_bench.py [--seconds 5] [--concurrency 256] [--failovers 5]

Not a test: it prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IDS = ["a", "b", "c"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.raft_ports = {i: _free_port() for i in IDS}
        self.control_ports = {i: _free_port() for i in IDS}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, node: str) -> None:
        peers = ",".join(f"{o}=127.0.0.1:{self.raft_ports[o]}" for o in IDS if o != node)
        cmd = [
            sys.executable, str(ROOT / "bench" / "raft_node.py"), "--id", node,
            "--listen", f"127.0.0.1:{self.raft_ports[node]}", "--control", str(self.control_ports[node]),
            "--peers", peers, "--dir", os.path.join(self.workdir, node), "--voters", ",".join(IDS),
        ]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.procs[node] = subprocess.Popen(cmd, env=env)

    def kill(self, node: str) -> None:
        proc = self.procs.pop(node)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for node in list(self.procs):
            self.kill(node)

    async def call(self, node: str, req: dict[str, Any], timeout_s: float = 120) -> dict[str, Any]:
        for _ in range(200):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.control_ports[node])
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"node {node} control port never opened")
        try:
            writer.write(json.dumps(req).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout_s)
            return dict(json.loads(line))
        finally:
            writer.close()

    async def leader(self) -> str:
        for _ in range(400):
            for node in self.procs:
                st = await self.call(node, {"op": "status"})
                if st["is_leader"]:
                    return node
            await asyncio.sleep(0.05)
        raise RuntimeError("no leader")


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="raft-bench-") as workdir:
        cluster = Cluster(workdir)
        for node in IDS:
            cluster.start(node)
        try:
            leader = await cluster.leader()
            await cluster.call(leader, {"op": "load", "concurrency": 8, "seconds": 1})  # warm-up
            rates = []
            for _ in range(args.repeat):
                r = await cluster.call(leader, {"op": "load", "concurrency": args.concurrency,
                                                "seconds": args.seconds})
                rates.append(r["committed"] / r["elapsed"])
            results["throughput_entries_per_s"] = [round(x) for x in rates]
            results["throughput_median"] = round(statistics.median(rates))
            lat = await cluster.call(leader, {"op": "latency", "count": args.latency_count})
            samples = lat["latencies_ms"]
            results["latency_p50_ms"] = round(_pct(samples, 50), 2)
            results["latency_p99_ms"] = round(_pct(samples, 99), 2)
            failovers = []
            for _ in range(args.failovers):
                leader = await cluster.leader()
                survivors = [n for n in IDS if n != leader]
                t0 = time.time()
                cluster.kill(leader)
                probes = await asyncio.gather(*(cluster.call(n, {"op": "probe", "seconds": 10}) for n in survivors))
                ok = [p["at"] for p in probes if p["ok"]]
                failovers.append(min(ok) - t0 if ok else float("inf"))
                cluster.start(leader)
                await asyncio.sleep(1.5)  # let it rejoin and catch up
            results["failover_s"] = [round(x, 3) for x in failovers]
            results["failover_median_s"] = round(statistics.median(failovers), 3)
        finally:
            cluster.stop_all()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency-count", type=int, default=500)
    ap.add_argument("--failovers", type=int, default=5)
    args = ap.parse_args()
    res = asyncio.run(run(args))
    print(f"throughput (entries/s, {args.concurrency} proposers): {res['throughput_entries_per_s']} "
          f"median {res['throughput_median']}")
    print(f"commit latency at low load: p50 {res['latency_p50_ms']} ms, p99 {res['latency_p99_ms']} ms")
    print(f"failover (kill -9 leader -> new leader commits): {res['failover_s']} median {res['failover_median_s']} s")
    print(json.dumps(res))


if __name__ == "__main__":
    main()

"""Benchmark for the shards issue: server CPU per operation, spread over shards, throughput ratio
--smp 2 / --smp 1, and p99 latency at half of peak, next to a protocol-only baseline measured in
the same run.

Load comes from `scylla-py stress` (prepared statements, shard- and tablet-aware routing, several
client processes). Server CPU is read from /proc (utime + stime) of the whole server process tree
(supervisor + shard processes) before and after each phase, so the load generator's own work on
the same machine is not counted. Each phase starts once the server is idle and ends once the
flushes and compactions it caused have finished, so their CPU is charged to it; it is reported
split into the event loops' share (request handling) and the background threads' (flush,
compaction). Reads are measured twice per repeat: right after the writes (memtable plus the
sstables the writes left: every key in several of them, since each write phase rewrites all
rows) and after a major compaction (`nodetool compact`: one sstable per tablet). The per-shard spread comes from the node's
`scylla_transport_requests_served` counters. Each phase is repeated and the median reported, with
the CPU of all repeats pooled (`*_total`: background work comes in lumps, a compaction every few
flushes). The three servers (baseline, `--smp 1`, `--smp 2`) run side by side and their repeats
are interleaved, so a drift in the machine's load touches each alike. Not a test: run it by hand
and record the figures in docs/benchmarks.md.

    .venv/bin/python bench/shard_bench.py [--ops 40000] [--concurrency 128] [--processes 2] [--repeats 3]

On a 2-core machine the load generator shares the cores with the server, so throughput figures
are bounded by the client; CPU per operation and the spread are the figures that show scaling.
There, two shard processes plus the clients also take turns on two cores, which costs CPU of its
own (cache refills after each switch). A control setup measures that part: `smp1x2`, two
independent `--smp 1` nodes side by side, each loaded by half the clients with half the rows,
i.e. the same processes doing the same work with no sharding code between them.
`cpu_us_per_op_total_vs_smp1x2` is then what sharding itself costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import ServerProcess, free_port, wait_for_port  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """(foreground, background) CPU seconds of `pid` and all its live descendants: a process's
    main thread (the event loop) is foreground, its other threads (memtable flushes, compaction)
    background."""
    fg = bg = 0.0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / _TICK
            if int(tid) == pid:
                fg += cpu
            else:
                bg += cpu
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return fg, bg
    for c in children:
        cfg, cbg = tree_cpu_seconds(int(c))
        fg += cfg
        bg += cbg
    return fg, bg


def wait_idle(pid: int, timeout_s: float = 300.0) -> None:
    """Until the server tree uses under 2% of a core for two half-second intervals in a row: the
    flushes and compactions a phase started have finished (so they are charged to that phase,
    not to the next)."""
    deadline = time.monotonic() + timeout_s
    quiet = 0
    last = sum(tree_cpu_seconds(pid))
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(tree_cpu_seconds(pid))
        quiet = quiet + 1 if now - last < 0.01 else 0
        last = now


def post(api_port: int, path: str) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{api_port}{path}", method="POST")
    urllib.request.urlopen(req, timeout=600).read()


def requests_served(prometheus_port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{prometheus_port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("scylla_transport_requests_served{"):
            shard = line.split('shard="', 1)[1].split('"', 1)[0]
            out[shard] = float(line.rsplit(" ", 1)[1])
    return out


@dataclass(frozen=True)
class Server:
    """One running server of a setup: its process (the supervisor, or the null server) and ports."""

    pid: int
    port: int
    prometheus_port: int | None
    api_port: int | None
    handle: Any


def stress_command(port: int, kind: str, ops: int, concurrency: int, processes: int, rows: int,
                   out: Path) -> list[str]:
    return [sys.executable, "-m", "scylla_py", "stress", kind, "--port", str(port), "--ops", str(ops),
            "--rows", str(rows), "--concurrency", str(concurrency), "--processes", str(processes),
            "--interval", "1h", "--json", str(out)]


def stress(servers: list[Server], kind: str, ops: int, concurrency: int, processes: int,
           rows: int) -> list[dict[str, Any]]:
    """One `scylla-py stress` run per server, all at once, each with its share of the operations,
    rows and client processes (the same concurrency per process), so each of two side-by-side
    nodes holds and serves what one shard of a `--smp 2` node does; their JSON results."""
    with tempfile.TemporaryDirectory() as d:
        outs = [Path(d) / f"{i}.json" for i in range(len(servers))]
        procs = [subprocess.Popen(stress_command(s.port, kind, ops // len(servers), concurrency,
                                                 max(1, processes // len(servers)), rows // len(servers), out),
                                  stdout=subprocess.DEVNULL, cwd=ROOT) for s, out in zip(servers, outs)]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError(f"stress exited with {p.returncode}")
        return [json.loads(out.read_text()) for out in outs]


def phase(servers: list[Server], kind: str, ops: int, concurrency: int, processes: int,
          rows: int) -> dict[str, Any]:
    """One stress run; its CPU includes the background work it caused (waited for). A write phase
    ends with a flush (`nodetool flush`) so that writing its data to sstables, and the
    compactions that sets off, count as its cost even when the memtable would not fill up.
    Several servers (the side-by-side control) are loaded at once and counted together; their
    throughputs add up and the worst of their latencies is reported."""
    for s in servers:
        wait_idle(s.pid)
    served0 = [requests_served(s.prometheus_port) if s.prometheus_port else {} for s in servers]
    cpu0 = [tree_cpu_seconds(s.pid) for s in servers]
    results = [r["total"] for r in stress(servers, kind, ops, concurrency, processes, rows)]
    for s in servers:
        if kind == "write" and s.api_port is not None:
            post(s.api_port, "/storage_service/flush")
    for s in servers:
        wait_idle(s.pid)
    cpu1 = [tree_cpu_seconds(s.pid) for s in servers]
    fg = sum(c1[0] - c0[0] for c0, c1 in zip(cpu0, cpu1))
    bg = sum(c1[1] - c0[1] for c0, c1 in zip(cpu0, cpu1))
    n = sum(t["ops"] for t in results)
    out: dict[str, Any] = {
        "ops_per_s": sum(t["op_rate"] for t in results),
        "p50_ms": max(t["latency_ms"]["p50"] for t in results), "p99_ms": max(t["latency_ms"]["p99"] for t in results),
        "cpu_us_per_op": (fg + bg) * 1e6 / n, "event_loop_us_per_op": fg * 1e6 / n,
        "background_us_per_op": bg * 1e6 / n, "errors": sum(t["errors"] for t in results), "ops": n,
    }
    if servers[0].prometheus_port is not None:
        # per shard of one node; per node (its whole count) for the side-by-side control
        delta: dict[str, float] = {}
        for i, (s, before) in enumerate(zip(servers, served0)):
            assert s.prometheus_port is not None
            after = requests_served(s.prometheus_port)
            for shard, v in after.items():
                name = shard if len(servers) == 1 else str(i)
                delta[name] = delta.get(name, 0) + v - before.get(shard, 0)
        all_ = sum(delta.values()) or 1
        out["spread"] = {k: round(v / all_, 3) for k, v in sorted(delta.items())}
    return out


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of a phase's repeats, plus the CPU of all repeats over all their operations
    (`*_total`): background work comes in lumps (a compaction every few flushes), so one repeat may
    carry a compaction its neighbours do not, and the pooled figure charges it evenly."""
    keys = ("ops_per_s", "p50_ms", "p99_ms", "cpu_us_per_op", "event_loop_us_per_op", "background_us_per_op")
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}
    ops = sum(r["ops"] for r in runs)
    for k in ("cpu_us_per_op", "event_loop_us_per_op", "background_us_per_op"):
        out[k + "_total"] = round(sum(r[k] * r["ops"] for r in runs) / ops, 2)
    out["errors"] = sum(r["errors"] for r in runs)
    if "spread" in runs[0]:
        out["spread"] = runs[len(runs) // 2]["spread"]
    return out


def start_setup(name: str, workdir: Path) -> list[Server]:
    """The servers of setup 'null', 'smp1', 'smp2' or 'smp1x2' (two `--smp 1` nodes side by side)."""
    if name == "null":
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "null_server.py"), str(port)],
                                stdout=subprocess.DEVNULL, cwd=ROOT)
        wait_for_port("127.0.0.1", port, 30, proc)
        return [Server(proc.pid, port, None, None, proc)]
    servers = []
    for i in range(2 if name == "smp1x2" else 1):
        node = ServerProcess(workdir / f"{name}-{i}", extra_args=["--smp", name[3], "--commitlog-sync", "periodic"]).start()
        assert node.proc is not None
        servers.append(Server(node.proc.pid, node.cql_port, node.prometheus_port, node.api_port, node))
    return servers


def stop_setup(servers: list[Server]) -> None:
    for s in servers:
        if isinstance(s.handle, ServerProcess):
            s.handle.stop()
        else:
            s.handle.terminate()
            s.handle.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=40000)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    results: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}, "setups": {}}
    names = ("null", "smp1", "smp2", "smp1x2")
    with tempfile.TemporaryDirectory() as tmp:
        # All the servers run for the whole benchmark (an idle one uses no CPU) and the repeats
        # are interleaved, one setup after the other, the next round in a rotated order: a change
        # in the machine's load over the run then shifts every setup alike instead of biasing the
        # ratios between them.
        setups = {name: start_setup(name, Path(tmp)) for name in names}
        try:
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {
                name: {"write": [], "read": [], "read_compacted": []} for name in names}
            for name in names:
                stress(setups[name], "write", args.ops, args.concurrency, len(setups[name]), args.ops)  # populate
            for r in range(args.repeats):
                first = r % len(names)
                for name in names[first:] + names[:first]:
                    servers = setups[name]
                    for kind in ("write", "read"):
                        runs[name][kind].append(phase(servers, kind, args.ops, args.concurrency, args.processes,
                                                      args.ops))
                    for s in servers:  # the same reads once the table is one sstable per tablet
                        if s.api_port is not None:
                            post(s.api_port, "/storage_service/compact?flush_memtables=true")
                    runs[name]["read_compacted"].append(phase(servers, "read", args.ops, args.concurrency,
                                                              args.processes, args.ops))
            for name in names:
                setup: dict[str, Any] = {k: median_of(v) for k, v in runs[name].items()}
                if name in ("smp1", "smp2"):
                    # p99 at half of peak: closed-loop clients, so find the concurrency whose
                    # throughput is nearest half the peak write throughput.
                    peak = setup["write"]["ops_per_s"]
                    ladder = [phase(setups[name], "write", args.ops // 2, c, 1, args.ops)
                              for c in (1, 2, 4, 8, 16, 32)]
                    half = min(ladder, key=lambda r: abs(r["ops_per_s"] - peak / 2))
                    setup["half_peak_write"] = {"target_ops_per_s": round(peak / 2), **half}
                results["setups"][name] = setup
                print(name, json.dumps(setup), flush=True)
        finally:
            for servers in setups.values():
                stop_setup(servers)
    s = results["setups"]
    for kind in ("write", "read", "read_compacted"):
        base = s["null"][kind]["cpu_us_per_op"]
        for name in ("smp1", "smp2", "smp1x2"):
            s[name][kind]["cpu_ratio_to_baseline"] = round(s[name][kind]["cpu_us_per_op"] / base, 2)
        for name in ("smp2", "smp1x2"):
            s[name][kind]["throughput_ratio_to_smp1"] = round(s[name][kind]["ops_per_s"] / s["smp1"][kind]["ops_per_s"], 2)
            for k in ("cpu_us_per_op", "cpu_us_per_op_total", "event_loop_us_per_op"):
                s[name][kind][f"{k}_vs_smp1"] = round(s[name][kind][k] / s["smp1"][kind][k], 2)
        # the control: what one --smp 2 node costs next to two --smp 1 nodes sharing the same cores
        s["smp2"][kind]["cpu_us_per_op_total_vs_smp1x2"] = round(
            s["smp2"][kind]["cpu_us_per_op_total"] / s["smp1x2"][kind]["cpu_us_per_op_total"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark for the shards issue: server CPU per operation, spread over shards, throughput ratio
--smp 2 / --smp 1, and p99 latency at half of peak, next to a protocol-only baseline measured in
the same run.

Load comes from `scylla-py stress` (prepared statements, shard- and tablet-aware routing, several
client processes). Server CPU is read from /proc (utime + stime) of the whole server process tree
(supervisor + shard processes) before and after each phase, so the load generator's own work on
the same machine is not counted. The per-shard spread comes from the node's
`scylla_transport_requests_served` counters. Each phase is repeated and the median reported. Not
a test: run it by hand and record the figures in docs/benchmarks.md.

    .venv/bin/python bench/shard_bench.py [--ops 40000] [--concurrency 128] [--processes 2] [--repeats 3]

On a 2-core machine the load generator shares the cores with the server, so throughput figures
are bounded by the client; CPU per operation and the spread are the figures that show scaling.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import ServerProcess, free_port, wait_for_port  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and all its live descendants."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_cpu_seconds(int(c)) for c in children)


def requests_served(prometheus_port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{prometheus_port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("scylla_transport_requests_served{"):
            shard = line.split('shard="', 1)[1].split('"', 1)[0]
            out[shard] = float(line.rsplit(" ", 1)[1])
    return out


def stress(port: int, kind: str, ops: int, concurrency: int, processes: int, rows: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([sys.executable, "-m", "scylla_py", "stress", kind, "--port", str(port), "--ops", str(ops),
                        "--rows", str(rows), "--concurrency", str(concurrency), "--processes", str(processes),
                        "--interval", "1h", "--json", f.name],
                       check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        result: dict[str, Any] = json.loads(Path(f.name).read_text())
        return result


def phase(pid: int, port: int, prom: int | None, kind: str, ops: int, concurrency: int, processes: int,
          rows: int) -> dict[str, Any]:
    served0 = requests_served(prom) if prom else {}
    cpu0 = tree_cpu_seconds(pid)
    r = stress(port, kind, ops, concurrency, processes, rows)
    cpu = tree_cpu_seconds(pid) - cpu0
    total = r["total"]
    out = {
        "ops_per_s": total["op_rate"], "p50_ms": total["latency_ms"]["p50"], "p99_ms": total["latency_ms"]["p99"],
        "cpu_us_per_op": cpu * 1e6 / total["ops"], "errors": total["errors"],
    }
    if prom:
        served = requests_served(prom)
        delta = {s: served.get(s, 0) - served0.get(s, 0) for s in served}
        all_ = sum(delta.values()) or 1
        out["spread"] = {s: round(v / all_, 3) for s, v in sorted(delta.items())}
    return out


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("ops_per_s", "p50_ms", "p99_ms", "cpu_us_per_op")
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}
    out["errors"] = sum(r["errors"] for r in runs)
    if "spread" in runs[0]:
        out["spread"] = runs[len(runs) // 2]["spread"]
    return out


def start_setup(name: str, workdir: Path) -> tuple[int, int, int | None, Any]:
    """(pid, cql port, prometheus port, handle) for 'null', 'smp1' or 'smp2'."""
    if name == "null":
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "null_server.py"), str(port)],
                                stdout=subprocess.DEVNULL, cwd=ROOT)
        wait_for_port("127.0.0.1", port, 30, proc)
        return proc.pid, port, None, proc
    node = ServerProcess(workdir / name, extra_args=["--smp", name[-1], "--commitlog-sync", "periodic"]).start()
    assert node.proc is not None
    return node.proc.pid, node.cql_port, node.prometheus_port, node


def stop_setup(handle: Any) -> None:
    if isinstance(handle, ServerProcess):
        handle.stop()
    else:
        handle.terminate()
        handle.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=40000)
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    results: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}, "setups": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("null", "smp1", "smp2"):
            pid, port, prom, handle = start_setup(name, Path(tmp))
            try:
                stress(port, "write", args.ops, args.concurrency, 1, args.ops)  # populate and warm up
                runs: dict[str, list[dict[str, Any]]] = {"write": [], "read": []}
                for _ in range(args.repeats):
                    for kind in ("write", "read"):
                        runs[kind].append(phase(pid, port, prom, kind, args.ops, args.concurrency,
                                                args.processes, args.ops))
                setup: dict[str, Any] = {k: median_of(v) for k, v in runs.items()}
                if name != "null":
                    # p99 at half of peak: closed-loop clients, so find the concurrency whose
                    # throughput is nearest half the peak write throughput.
                    peak = setup["write"]["ops_per_s"]
                    ladder = [phase(pid, port, prom, "write", args.ops // 2, c, 1, args.ops)
                              for c in (1, 2, 4, 8, 16, 32)]
                    half = min(ladder, key=lambda r: abs(r["ops_per_s"] - peak / 2))
                    setup["half_peak_write"] = {"target_ops_per_s": round(peak / 2), **half}
                results["setups"][name] = setup
                print(name, json.dumps(setup), flush=True)
            finally:
                stop_setup(handle)
            time.sleep(1)
    s = results["setups"]
    for kind in ("write", "read"):
        base = s["null"][kind]["cpu_us_per_op"]
        for name in ("smp1", "smp2"):
            s[name][kind]["cpu_ratio_to_baseline"] = round(s[name][kind]["cpu_us_per_op"] / base, 2)
        s["smp2"][kind]["throughput_ratio_smp2_smp1"] = round(
            s["smp2"][kind]["ops_per_s"] / s["smp1"][kind]["ops_per_s"], 2)
        s["smp2"][kind]["cpu_per_op_smp2_vs_smp1"] = round(
            s["smp2"][kind]["cpu_us_per_op"] / s["smp1"][kind]["cpu_us_per_op"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

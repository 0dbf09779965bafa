"""What `scylla-py stress` prints and writes: the header, a progress line per interval, the summary
and its JSON form.

Owns `Aggregator`, which merges the workers' per-interval `Snapshot`s. Interval k is printed once
every worker has reported it or has finished earlier, so lines appear in order whatever order the
processes' messages arrive in. Percentiles come from merged log-bucketed histograms (within 1.6%).

Output format (docs/stress.md): progress columns are elapsed seconds, total ops so far, op/s in
the interval, p50/p95/p99/max latency in ms over the interval, errors so far.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from .config import StressConfig
from .histogram import LatencyHistogram
from .workload import Snapshot

_PROGRESS_HEADER = (f"{'time':>8} {'total ops':>10} {'op/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
                    f"{'p99 ms':>8} {'max ms':>8} {'errors':>7}")


@dataclass
class KindTotals:
    ops: int = 0
    errors: int = 0
    not_found: int = 0
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)

    def add(self, ops: int, errors: int, not_found: int, histogram: LatencyHistogram) -> None:
        self.ops += ops
        self.errors += errors
        self.not_found += not_found
        self.histogram.merge(histogram)

    def summary(self, elapsed_s: float) -> dict[str, Any]:
        h = self.histogram
        ms = 1000.0
        return {
            "ops": self.ops,
            "op_rate": round(self.ops / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "errors": self.errors,
            "not_found": self.not_found,
            "latency_ms": {
                "mean": round(h.mean_us / ms, 3),
                "p50": h.percentile_us(0.50) / ms,
                "p95": h.percentile_us(0.95) / ms,
                "p99": h.percentile_us(0.99) / ms,
                "p99.9": h.percentile_us(0.999) / ms,
                "max": h.max_us / ms,
            },
        }


def header(cfg: StressConfig, routing: Mapping[str, Any], out: TextIO) -> None:
    amount = f"{cfg.ops} ops" if cfg.ops is not None else f"for {cfg.duration_s:g} s"
    mix = ", ".join(f"{k}={cfg.ratio[k]}" for k in cfg.kinds) if cfg.command == "mixed" else cfg.command
    print(f"scylla-py stress {cfg.command}: {amount} on {cfg.host}:{cfg.port} "
          f"{cfg.keyspace}.{cfg.table}, {cfg.rows} keys, {cfg.columns} columns x {cfg.value_size} bytes, "
          f"consistency {cfg.consistency.name}, mix {mix}", file=out)
    shards = routing["shards"]
    if routing["mode"] == "shard-aware":
        how = f"shard-aware through port {routing['shard_aware_port']}, tablet routing learned from hints"
        if routing["missing_shards"]:
            how += f" ({routing['missing_shards']} shard(s) unreachable, served through others)"
    else:
        how = "round-robin over the regular port"
    print(f"{cfg.processes} process(es) x {cfg.concurrency} in flight; node has {shards} shard(s); {how}",
          file=out)
    print(_PROGRESS_HEADER, file=out, flush=True)


class Aggregator:
    """Merges snapshots from `workers` workers; prints progress lines to `out`."""

    def __init__(self, cfg: StressConfig, workers: int, start_at: float, out: TextIO) -> None:
        self.cfg = cfg
        self.workers = workers
        self.start_at = start_at
        self.out = out
        self.totals = {kind: KindTotals() for kind in cfg.kinds}
        self.misrouted = 0
        self.tablets_learned: dict[int, int] = {}
        self.fatal: list[str] = []
        self.error_samples: list[str] = []
        self.end_s = start_at
        self.intervals: list[dict[str, Any]] = []
        self._latest: dict[int, int] = {}
        self._finished: set[int] = set()
        self._pending: dict[int, list[Snapshot]] = {}
        self._next = 0
        self._last_end = start_at
        self._ops_so_far = 0
        self._errors_so_far = 0

    @property
    def done(self) -> bool:
        return len(self._finished) == self.workers

    def finished(self, worker: int) -> bool:
        return worker in self._finished

    def add(self, snap: Snapshot) -> None:
        self._pending.setdefault(snap.interval, []).append(snap)
        self._latest[snap.worker] = snap.interval
        self.tablets_learned[snap.worker] = snap.tablets_learned
        if snap.final:
            self._finished.add(snap.worker)
            self.end_s = max(self.end_s, snap.end_s)
            if snap.fatal:
                self.fatal.append(f"worker {snap.worker}: {snap.fatal}")
            for sample in snap.error_samples:
                if sample not in self.error_samples:
                    self.error_samples.append(sample)
        self._print_ready()

    def _print_ready(self) -> None:
        while True:
            k = self._next
            ready = all(w in self._finished or self._latest.get(w, -1) >= k for w in range(self.workers))
            if not ready or (k not in self._pending and self.done):
                return
            self._emit(k, self._pending.pop(k, []))
            self._next += 1

    def _emit(self, k: int, snaps: list[Snapshot]) -> None:
        interval = LatencyHistogram()
        ops = 0
        errors = 0
        end = self._last_end
        for snap in snaps:
            end = max(end, snap.end_s)
            self.misrouted += snap.misrouted
            for kind, ks in snap.kinds.items():
                h = LatencyHistogram.from_sparse(ks.histogram)
                self.totals[kind].add(ks.ops, ks.errors, ks.not_found, h)
                interval.merge(h)
                ops += ks.ops
                errors += ks.errors
        duration = end - self._last_end
        self._last_end = end
        self._ops_so_far += ops
        self._errors_so_far += errors
        rate = ops / duration if duration > 0 else 0.0
        line = {
            "elapsed_s": round(end - self.start_at, 3), "ops": self._ops_so_far, "op_rate": round(rate, 1),
            "p50_ms": interval.percentile_us(0.5) / 1000, "p95_ms": interval.percentile_us(0.95) / 1000,
            "p99_ms": interval.percentile_us(0.99) / 1000, "max_ms": interval.max_us / 1000,
            "errors": self._errors_so_far,
        }
        self.intervals.append(line)
        print(f"{line['elapsed_s']:>7.1f}s {line['ops']:>10} {rate:>9.0f} {line['p50_ms']:>8.2f} "
              f"{line['p95_ms']:>8.2f} {line['p99_ms']:>8.2f} {line['max_ms']:>8.2f} {line['errors']:>7}",
              file=self.out, flush=True)

    # --- the summary ---------------------------------------------------------------------------

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self.end_s - self.start_at)

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.totals.values())

    def summary(self, routing: Mapping[str, Any]) -> dict[str, Any]:
        elapsed = self.elapsed_s
        total = KindTotals()
        for t in self.totals.values():
            total.add(t.ops, t.errors, t.not_found, t.histogram)
        cfg = self.cfg
        return {
            "command": cfg.command,
            "config": {
                "host": cfg.host, "port": cfg.port, "keyspace": cfg.keyspace, "table": cfg.table,
                "ops": cfg.ops, "duration_s": cfg.duration_s, "rows": cfg.rows, "columns": cfg.columns,
                "value_size": cfg.value_size, "concurrency": cfg.concurrency, "processes": cfg.processes,
                "ratio": {k: cfg.ratio[k] for k in cfg.kinds}, "consistency": cfg.consistency.name,
            },
            "elapsed_s": round(elapsed, 3),
            "total": total.summary(elapsed),
            "kinds": {kind: t.summary(elapsed) for kind, t in self.totals.items()},
            "routing": {**routing, "misrouted": self.misrouted,
                        "tablets_learned": max(self.tablets_learned.values(), default=0)},
            "error_samples": self.error_samples,
            "fatal": self.fatal,
            "intervals": self.intervals,
        }


def print_summary(summary: Mapping[str, Any], out: TextIO) -> None:
    print("\nResults:", file=out)
    print(f"  {'op':<6} {'ops':>10} {'op/s':>9} {'mean':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'p99.9':>8} "
          f"{'max':>8} {'errors':>7} {'not found':>9}   (latency in ms)", file=out)
    rows = list(summary["kinds"].items())
    if len(rows) > 1:
        rows.append(("total", summary["total"]))
    for name, s in rows:
        lat = s["latency_ms"]
        not_found = s["not_found"] if name != "write" else "-"
        print(f"  {name:<6} {s['ops']:>10} {s['op_rate']:>9.0f} {lat['mean']:>8.2f} {lat['p50']:>8.2f} "
              f"{lat['p95']:>8.2f} {lat['p99']:>8.2f} {lat['p99.9']:>8.2f} {lat['max']:>8.2f} "
              f"{s['errors']:>7} {not_found:>9}", file=out)
    routing = summary["routing"]
    print(f"Elapsed: {summary['elapsed_s']:.2f} s; routing {routing['mode']} over {routing['shards']} "
          f"shard(s), {routing['tablets_learned']} tablet(s) learned, "
          f"{routing['misrouted']} answer(s) carried a routing hint", file=out)
    for sample in summary["error_samples"]:
        print(f"Error: {sample}", file=out)
    for fatal in summary["fatal"]:
        print(f"Stopped early: {fatal}", file=out)
    out.flush()


def write_json(summary: Mapping[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

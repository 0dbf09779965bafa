"""Metrics of a node: per-shard numbers on the hot path, Prometheus text exposition on shard 0.

Owns:
- `LatencyHistogram` and `ShardMetrics`: the numbers one shard process keeps about itself
  (CQL transport, coordinator, and — read at snapshot time — its storage engine).
- `ShardMetrics.snapshot()`: those numbers as plain data (str keys, ints, floats, lists, dicts),
  the form in which they travel from a shard process to shard 0 over msgpack.
- `render_prometheus()`: the Prometheus text exposition (format 0.0.4) of every shard's snapshot,
  one series per shard with a `shard="<k>"` label, as ScyllaDB exports them.
- `serve_metrics()`: `GET /metrics` on the prometheus port, over the REST API's HTTP layer.
- `FAMILIES`: the one table of metric families (name, type, labels, help) that the snapshot,
  the renderer, the tests and docs/metrics.md all follow.

Invariants:
- Updating a metric is a plain increment of an int attribute, a list slot or a dict entry, or
  `LatencyHistogram.observe` (a bisect on a tuple). Only the shard's event-loop thread touches a
  `ShardMetrics`, so there are no locks and no prometheus_client objects on the hot path.
  `__slots__` makes a misspelt attribute an AttributeError instead of a silently new counter.
- Snapshot keys are family names from `FAMILIES`; a family missing from a snapshot has no series
  for that shard (the storage families when there is no engine); a key that is not a family, or
  a value of the wrong shape, is a `MetricsError` naming the shard — never silently dropped.
- Family names are ScyllaDB's where ScyllaDB exports the same quantity per shard, verbatim, so
  ScyllaDB's dashboards and alerts query them unchanged. Names we had to invent follow Prometheus
  conventions (counters end in `_total`, units in the name) and are marked in docs/metrics.md.
- prometheus_client's text encoder appends `_total` to every family of type counter. ScyllaDB's
  counters mostly lack that suffix (`scylla_transport_requests_served`), so those are exported
  with `# TYPE ... untyped` under their exact ScyllaDB name; counters whose name already ends in
  `_total` are exported as counters. Either way the values are monotonic and `rate()` works.

Never: aggregate across shards (Prometheus does that, and per-shard series show imbalance),
read clocks (callers measure latency), or block the event loop beyond rendering one page.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from cql.errors import ErrorCode
from cql.protocol.frame import Opcode
from cql.protocol.requests import (
    AuthResponse,
    Batch,
    Execute,
    Options,
    Prepare,
    Query,
    Register,
    Startup,
)
from cql.protocol.requests import Request as CQLRequest
from scylla_py.rest.http import Request, Response
from scylla_py.rest.router import Router
from scylla_py.rest.server import RestServer
from storage.config import EngineStats

__all__ = [
    "CONTENT_TYPE",
    "ERROR_TYPES",
    "FAMILIES",
    "LATENCY_BUCKETS_US",
    "REQUEST_OPCODES",
    "SNAPSHOT_FORMAT",
    "Family",
    "LatencyHistogram",
    "MetricsError",
    "ShardMetrics",
    "Snapshot",
    "render_prometheus",
    "serve_metrics",
]

logger = logging.getLogger(__name__)

Snapshot = Mapping[str, object]
"""One shard's `ShardMetrics.snapshot()`, possibly after a msgpack round trip."""

SNAPSHOT_FORMAT: Final = 1
"""Bumped when the snapshot's shape changes; a renderer refuses any other format."""

# What generate_latest emits (it writes names in the legacy character set, so 0.0.4 is exact).
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# Upper bounds (inclusive, Prometheus `le`) of the latency buckets, in microseconds: powers of two
# from 16 µs to 2^25 µs (33.5 s). ScyllaDB's coordinator histograms start at 16 µs and double
# (estimated_histogram::get_histogram(16, ...)), and its time_estimated_histogram tops out at
# 33554432 µs; a local write here takes tens to hundreds of µs, a timed-out one seconds.
LATENCY_BUCKETS_US: Final[tuple[float, ...]] = tuple(float(1 << k) for k in range(4, 26))
_LE_LABELS: Final = (*(str(int(b)) for b in LATENCY_BUCKETS_US), "+Inf")
_INF: Final = math.inf

# `type` label values of scylla_transport_cql_errors_total: ScyllaDB's exceptions::exception_map().
ERROR_TYPES: Final[Mapping[ErrorCode, str]] = {
    ErrorCode.SERVER_ERROR: "server_error",
    ErrorCode.PROTOCOL_ERROR: "protocol_error",
    ErrorCode.BAD_CREDENTIALS: "authentication",
    ErrorCode.UNAVAILABLE: "unavailable",
    ErrorCode.OVERLOADED: "overloaded",
    ErrorCode.IS_BOOTSTRAPPING: "is_bootstrapping",
    ErrorCode.TRUNCATE_ERROR: "truncate_error",
    ErrorCode.WRITE_TIMEOUT: "write_timeout",
    ErrorCode.READ_TIMEOUT: "read_timeout",
    ErrorCode.READ_FAILURE: "read_failure",
    ErrorCode.FUNCTION_FAILURE: "function_failure",
    ErrorCode.WRITE_FAILURE: "write_failure",
    ErrorCode.SYNTAX_ERROR: "syntax_error",
    ErrorCode.UNAUTHORIZED: "unauthorized",
    ErrorCode.INVALID: "invalid",
    ErrorCode.CONFIG_ERROR: "config_error",
    ErrorCode.ALREADY_EXISTS: "already_exists",
    ErrorCode.UNPREPARED: "unprepared",
    ErrorCode.RATE_LIMIT: "rate_limit_error",
}
assert set(ERROR_TYPES) == set(ErrorCode), "every CQL error code needs a ScyllaDB type label"

# `kind` label values of scylla_transport_cql_requests_count, indexed by opcode; ScyllaDB labels
# with the opcode's name. A slot that is not an opcode (0x04, v1's CREDENTIALS) is named by number.
_OPCODE_SLOTS: Final = max(Opcode) + 1


def _opcode_name(value: int) -> str:
    try:
        return Opcode(value).name
    except ValueError:
        return f"OPCODE_{value:#04x}"


_OPCODE_NAMES: Final[tuple[str, ...]] = tuple(_opcode_name(i) for i in range(_OPCODE_SLOTS))

# Decoded requests do not carry their opcode; the transport counts with
# `m.cql_requests[REQUEST_OPCODES[type(request)]] += 1`.
REQUEST_OPCODES: Final[Mapping[type[CQLRequest], Opcode]] = {
    Startup: Opcode.STARTUP,
    Options: Opcode.OPTIONS,
    Query: Opcode.QUERY,
    Prepare: Opcode.PREPARE,
    Execute: Opcode.EXECUTE,
    Batch: Opcode.BATCH,
    Register: Opcode.REGISTER,
    AuthResponse: Opcode.AUTH_RESPONSE,
}


class MetricsError(Exception):
    """A snapshot that does not have the shape `render_prometheus` expects (a bug, not input)."""


class LatencyHistogram:
    """Latencies in microseconds, counted into `LATENCY_BUCKETS_US` plus an overflow bucket.

    `buckets[i]` counts observations in (LATENCY_BUCKETS_US[i-1], LATENCY_BUCKETS_US[i]];
    the last slot counts those above the largest bound. Not cumulative: the renderer sums.
    """

    __slots__ = ("buckets", "sum_us")

    def __init__(self) -> None:
        self.buckets: list[int] = [0] * (len(LATENCY_BUCKETS_US) + 1)
        self.sum_us = 0.0

    def observe(self, us: float) -> None:
        """Count one latency of `us` microseconds. Raises ValueError for negative, NaN or infinite."""
        # One chained comparison rejects negatives, NaN (all comparisons false) and +inf.
        if not 0.0 <= us < _INF:
            raise ValueError(f"latency must be a finite, non-negative number of microseconds, got {us!r}")
        self.buckets[bisect_left(LATENCY_BUCKETS_US, us)] += 1
        self.sum_us += us

    @property
    def count(self) -> int:
        """Observations so far (summed on read, so `observe` does one increment less)."""
        return sum(self.buckets)

    def snapshot(self) -> dict[str, object]:
        return {"buckets": list(self.buckets), "sum": self.sum_us}


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: exposition name, type, its one label besides `shard`, and where its
    value comes from — an attribute of `ShardMetrics` or a field of `EngineStats`."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    source: Literal["shard", "engine"]
    attr: str
    label: str | None = None


FAMILIES: Final[tuple[Family, ...]] = (
    # -- CQL transport (ScyllaDB transport/server.cc) --------------------------------------------
    Family("scylla_transport_requests_served", "counter",
           "Counts a number of served requests (every request frame, answered with a result or an error).",
           "shard", "requests_served"),
    Family("scylla_transport_requests_serving", "gauge",
           "Holds a number of requests that are being processed right now.",
           "shard", "requests_serving"),
    Family("scylla_transport_cql_connections", "counter",
           "Counts a number of client connections.",
           "shard", "cql_connections"),
    Family("scylla_transport_current_connections", "gauge",
           "Holds a current number of client connections.",
           "shard", "current_connections"),
    Family("scylla_transport_cql_requests_count", "counter",
           "Counts the total number of CQL messages of a specific kind.",
           "shard", "cql_requests", label="kind"),
    Family("scylla_transport_cql_errors_total", "counter",
           "Counts the total number of returned CQL errors.",
           "shard", "cql_errors", label="type"),
    # -- coordinator (ScyllaDB service/storage_proxy.cc) -------------------------------------------
    Family("scylla_storage_proxy_coordinator_write_latency", "histogram",
           "The general write latency histogram (microseconds).",
           "shard", "write_latency"),
    Family("scylla_storage_proxy_coordinator_read_latency", "histogram",
           "The general read latency histogram (microseconds).",
           "shard", "read_latency"),
    Family("scylla_storage_proxy_coordinator_write_timeouts", "counter",
           "number of write request failed due to a timeout",
           "shard", "write_timeouts"),
    Family("scylla_storage_proxy_coordinator_write_unavailable", "counter",
           'number write requests failed due to an "unavailable" error',
           "shard", "write_unavailable"),
    Family("scylla_storage_proxy_coordinator_read_timeouts", "counter",
           "number of read request failed due to a timeout",
           "shard", "read_timeouts"),
    Family("scylla_storage_proxy_coordinator_read_unavailable", "counter",
           'number read requests failed due to an "unavailable" error',
           "shard", "read_unavailable"),
    Family("scylla_storage_proxy_replica_cross_shard_ops", "counter",
           "number of operations that crossed a shard boundary (requests this shard forwarded to another "
           "shard of this node)",
           "shard", "cross_shard_ops"),
    # -- storage engine, read from EngineStats at snapshot time ------------------------------------
    Family("scylla_memory_dirty_bytes", "gauge",
           "Bytes held by this shard's memtables, including those being flushed.",
           "engine", "memtable_bytes"),
    Family("scylla_memtables_partitions", "gauge",
           "Partitions in this shard's memtables, including those being flushed (scylla-py).",
           "engine", "memtable_partitions"),
    Family("scylla_memtables_pending_flushes", "gauge",
           "Holds the current number of memtables that are currently being flushed to sstables.",
           "engine", "pending_flushes"),
    Family("scylla_memtables_flushes_total", "counter",
           "Memtable flushes completed by this shard (scylla-py).",
           "engine", "flushes_completed"),
    Family("scylla_commitlog_disk_total_bytes", "gauge",
           "Holds size of disk space in bytes reserved for data so far.",
           "engine", "commitlog_bytes"),
    Family("scylla_commitlog_segments", "gauge",
           "Holds the current number of segments.",
           "engine", "commitlog_segments"),
    Family("scylla_sstables_currently_open_for_reading", "gauge",
           "Live sstables of this shard's tablets.",
           "engine", "sstable_count"),
    Family("scylla_sstables_live_bytes", "gauge",
           "Bytes on disk of this shard's live sstables (scylla-py).",
           "engine", "sstable_bytes"),
    Family("scylla_sstables_quarantined_total", "counter",
           "Corrupt sstables this shard moved to quarantine since it started (scylla-py).",
           "engine", "quarantined_sstables"),
    Family("scylla_compaction_manager_completed_compactions", "counter",
           "Holds the number of completed compaction tasks.",
           "engine", "compactions_completed"),
    Family("scylla_compaction_manager_input_bytes_total", "counter",
           "Bytes of sstables read by completed compactions (scylla-py).",
           "engine", "compaction_bytes_in"),
    Family("scylla_compaction_manager_output_bytes_total", "counter",
           "Bytes of sstables written by completed compactions (scylla-py).",
           "engine", "compaction_bytes_out"),
)
_BY_NAME: Final[Mapping[str, Family]] = {f.name: f for f in FAMILIES}
assert len(_BY_NAME) == len(FAMILIES), "duplicate family name"


class ShardMetrics:
    """The metrics of one shard process; one instance per process, updated in place.

    Hot-path use (see docs/metrics.md for where each belongs):
        m.requests_served += 1; m.requests_serving += 1 ... m.requests_serving -= 1
        m.cql_requests[REQUEST_OPCODES[type(request)]] += 1   # list indexed by request opcode
        m.cql_errors[error.code] += 1            # dict keyed by every cql.errors.ErrorCode
        m.write_latency.observe(elapsed_us)
        m.cross_shard_ops += 1
    """

    __slots__ = (
        "cql_connections", "cql_errors", "cql_requests", "cross_shard_ops", "current_connections",
        "read_latency", "read_timeouts", "read_unavailable", "requests_served", "requests_serving",
        "write_latency", "write_timeouts", "write_unavailable",
    )

    def __init__(self) -> None:
        # CQL transport.
        self.requests_served = 0
        self.requests_serving = 0
        self.cql_connections = 0  # connections accepted, ever
        self.current_connections = 0
        self.cql_requests: list[int] = [0] * _OPCODE_SLOTS
        self.cql_errors: dict[ErrorCode, int] = dict.fromkeys(ErrorCode, 0)
        # Coordinator. Request counts are the histograms' counts.
        self.write_latency = LatencyHistogram()
        self.read_latency = LatencyHistogram()
        self.write_timeouts = 0
        self.write_unavailable = 0
        self.read_timeouts = 0
        self.read_unavailable = 0
        self.cross_shard_ops = 0

    def snapshot(self, engine_stats: EngineStats | None) -> dict[str, object]:
        """Plain data for `render_prometheus`; storage families only when `engine_stats` is given."""
        snap: dict[str, object] = {"format": SNAPSHOT_FORMAT}
        for family in FAMILIES:
            if family.source == "engine":
                if engine_stats is not None:
                    snap[family.name] = getattr(engine_stats, family.attr)
                continue
            value = getattr(self, family.attr)
            if isinstance(value, LatencyHistogram):
                snap[family.name] = value.snapshot()
            elif family.attr == "cql_requests":
                # Zero series are left out, as ScyllaDB does (set_skip_when_empty).
                snap[family.name] = {_OPCODE_NAMES[i]: n for i, n in enumerate(self.cql_requests) if n}
            elif family.attr == "cql_errors":
                snap[family.name] = {ERROR_TYPES[code]: n for code, n in self.cql_errors.items() if n}
            else:
                snap[family.name] = value
        return snap


# -- exposition --------------------------------------------------------------------------------


def render_prometheus(snapshots: Mapping[int, Snapshot]) -> bytes:
    """The text exposition of every shard's snapshot, `shard="<k>"` on every series.

    A shard absent from `snapshots` (restarting, or slow to answer) simply has no series; every
    family still gets its HELP and TYPE lines. Raises MetricsError for a malformed snapshot.
    """
    for shard in snapshots:
        if isinstance(shard, bool) or not isinstance(shard, int) or shard < 0:
            raise MetricsError(f"shard ids must be non-negative integers, got {shard!r}")
        _check_snapshot(shard, snapshots[shard])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshots))
    return generate_latest(registry)


class _SnapshotCollector:
    """A prometheus_client collector over already-validated snapshots (one use, one scrape)."""

    def __init__(self, snapshots: Mapping[int, Snapshot]) -> None:
        self._shards = sorted(snapshots.items())

    def collect(self) -> Iterator[Metric]:
        for family in FAMILIES:
            yield self._family(family)

    def _family(self, family: Family) -> Metric:
        labels = ["shard"] if family.label is None else ["shard", family.label]
        values = [(str(shard), snap[family.name]) for shard, snap in self._shards if family.name in snap]
        if family.kind == "histogram":
            hist = HistogramMetricFamily(family.name, family.help, labels=labels)
            for shard, value in values:
                assert isinstance(value, Mapping)
                cumulative, running = [], 0
                for le, n in zip(_LE_LABELS, value["buckets"], strict=True):
                    running += n
                    cumulative.append((le, float(running)))
                hist.add_metric([shard], cumulative, float(value["sum"]))
            return hist
        metric: Metric
        if family.kind == "gauge":
            metric = GaugeMetricFamily(family.name, family.help, labels=labels)
        elif family.name.endswith("_total"):
            metric = CounterMetricFamily(family.name, family.help, labels=labels)
        else:
            # An exact ScyllaDB counter name without `_total`: see the module docstring.
            metric = Metric(family.name, family.help, "unknown")
        for shard, value in values:
            if family.label is None:
                _add(metric, family, [shard], value)
            else:
                assert isinstance(value, Mapping)
                for label_value, n in sorted(value.items()):
                    _add(metric, family, [shard, label_value], n)
        return metric


def _add(metric: Metric, family: Family, label_values: list[str], value: object) -> None:
    assert isinstance(value, int | float)
    if isinstance(metric, CounterMetricFamily | GaugeMetricFamily):
        metric.add_metric(label_values, float(value))
    else:
        names = ["shard"] if family.label is None else ["shard", family.label]
        metric.add_sample(family.name, dict(zip(names, label_values, strict=True)), float(value))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_snapshot(shard: int, snap: object) -> None:
    def fail(what: str) -> MetricsError:
        return MetricsError(f"shard {shard}: {what}")

    if not isinstance(snap, Mapping):
        raise fail(f"snapshot must be a mapping, got {type(snap).__name__}")
    if snap.get("format") != SNAPSHOT_FORMAT:
        raise fail(f"snapshot format {snap.get('format')!r}, this node renders format {SNAPSHOT_FORMAT}")
    for name, value in snap.items():
        if name == "format":
            continue
        family = _BY_NAME.get(name) if isinstance(name, str) else None
        if family is None:
            raise fail(f"unknown metric family {name!r}")
        if family.kind == "histogram":
            if not isinstance(value, Mapping) or set(value) != {"buckets", "sum"}:
                raise fail(f"{name}: a histogram is {{'buckets': [...], 'sum': number}}, got {value!r}")
            buckets = value["buckets"]
            if (not isinstance(buckets, list | tuple) or len(buckets) != len(_LE_LABELS)
                    or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in buckets)):
                raise fail(f"{name}: buckets must be {len(_LE_LABELS)} non-negative integers, got {buckets!r}")
            if not _is_number(value["sum"]):
                raise fail(f"{name}: sum must be a finite number, got {value['sum']!r}")
        elif family.label is not None:
            if not isinstance(value, Mapping):
                raise fail(f"{name}: expected {{{family.label}: number}}, got {value!r}")
            for label_value, n in value.items():
                if not isinstance(label_value, str) or not _is_number(n):
                    raise fail(f"{name}: bad series {label_value!r}: {n!r}")
        elif not _is_number(value):
            raise fail(f"{name}: expected a finite number, got {value!r}")


# -- HTTP --------------------------------------------------------------------------------------


async def serve_metrics(
    host: str, port: int, collect: Callable[[], Awaitable[Mapping[int, Snapshot]]],
    *, idle_timeout_s: float = 60.0,
) -> RestServer:
    """Serve `GET /metrics` on (host, port) until `await server.close()`; other paths are 404.

    `collect` is awaited once per scrape and returns the snapshots of the shards that answered.
    It must bound its own waits (a scrape has a timeout of its own, 10 s by default in Prometheus).
    An exception from it or from rendering becomes a 500 and an ERROR log; the server keeps going.
    """

    async def metrics(request: Request, params: Mapping[str, str]) -> Response:
        return Response(HTTPStatus.OK, render_prometheus(await collect()), content_type=CONTENT_TYPE)

    router = Router()
    router.add("GET", "/metrics", metrics)
    server = RestServer(router, idle_timeout_s)
    # RestServer has no public factory taking a router (start_rest_server builds the admin
    # router); its connection handling, keep-alive, timeouts and error mapping are what we want.
    await server._listen(host, port)
    logger.info("Prometheus metrics listening on %s:%d", *server.address)
    return server

"""scylla_py.metrics: histogram bucketing, snapshots, the Prometheus exposition (parsed back with
prometheus_client's own parser), storage figures from a real engine, and GET /metrics over HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgpack
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cql.errors import ErrorCode
from cql.protocol.frame import Opcode
from cql.protocol.requests import DECODERS, Consistency, Execute, Query, QueryParameters
from scylla_py.metrics import (
    CONTENT_TYPE,
    FAMILIES,
    LATENCY_BUCKETS_US,
    REQUEST_OPCODES,
    SNAPSHOT_FORMAT,
    LatencyHistogram,
    MetricsError,
    ShardMetrics,
    Snapshot,
    render_prometheus,
    serve_metrics,
)
from scylla_py.rest.server import RestServer
from storage.config import EngineStats, StorageConfig, TableOptions
from storage.engine import StorageEngine
from storage.mutation import Cell, LivenessInfo, Mutation, Row
from tests.harness import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]

STATS = EngineStats(
    memtable_bytes=1_000, memtable_partitions=2, commitlog_bytes=3_000, commitlog_segments=4,
    sstable_count=5, sstable_bytes=6_000, compactions_completed=7, compaction_bytes_in=8_000,
    compaction_bytes_out=9_000, flushes_completed=10, quarantined_sstables=11, pending_flushes=12,
)


def samples(text: bytes) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text.decode()) for s in family.samples]


def value(text: bytes, name: str, **labels: str) -> float:
    """The one sample called `name` whose labels are exactly `labels`."""
    found = [s.value for s in samples(text) if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, found)
    return found[0]


# -- LatencyHistogram ------------------------------------------------------------------------------


def test_bucket_bounds_are_inclusive_upper_bounds() -> None:
    h = LatencyHistogram()
    for us in (0.0, 16.0, 16.5, 32.0, 1e9):
        h.observe(us)
    assert LATENCY_BUCKETS_US[:2] == (16.0, 32.0)
    # 0 and 16 fall in le=16; 16.5 and 32 in le=32; 1e9 µs beyond the last bound overflows.
    assert h.buckets[:3] == [2, 2, 0]
    assert h.buckets[-1] == 1
    assert h.count == 5
    assert h.sum_us == 0.0 + 16.0 + 16.5 + 32.0 + 1e9


def test_last_bound_is_the_last_finite_bucket() -> None:
    h = LatencyHistogram()
    h.observe(LATENCY_BUCKETS_US[-1])
    h.observe(math.nextafter(LATENCY_BUCKETS_US[-1], math.inf))
    assert h.buckets[-2:] == [1, 1]


@pytest.mark.parametrize("bad", [-1.0, -0.001, math.nan, math.inf])
def test_observe_rejects_impossible_latencies(bad: float) -> None:
    h = LatencyHistogram()
    with pytest.raises(ValueError, match="non-negative"):
        h.observe(bad)
    assert h.count == 0 and h.sum_us == 0.0


def test_buckets_are_exponential_and_cover_microseconds_to_seconds() -> None:
    assert all(b == 2 * a for a, b in itertools.pairwise(LATENCY_BUCKETS_US))
    assert LATENCY_BUCKETS_US[0] == 16.0 and LATENCY_BUCKETS_US[-1] == 33_554_432.0


# -- ShardMetrics ----------------------------------------------------------------------------------


def test_misspelt_counter_is_an_error_not_a_new_attribute() -> None:
    m = ShardMetrics()
    with pytest.raises(AttributeError):
        m.request_served = 1  # type: ignore[attr-defined]


def test_snapshot_keys_are_the_families() -> None:
    m = ShardMetrics()
    assert set(m.snapshot(STATS)) == {"format"} | {f.name for f in FAMILIES}
    shard_only = {f.name for f in FAMILIES if f.source == "shard"}
    assert set(m.snapshot(None)) == {"format"} | shard_only


def test_every_error_code_and_request_opcode_can_be_counted() -> None:
    m = ShardMetrics()
    for code in ErrorCode:
        m.cql_errors[code] += 1
    for op in (Opcode.STARTUP, Opcode.OPTIONS, Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE,
               Opcode.BATCH, Opcode.REGISTER, Opcode.AUTH_RESPONSE):
        m.cql_requests[op] += 1
    text = render_prometheus({0: m.snapshot(None)})
    errors = {s.labels["type"] for s in samples(text) if s.name == "scylla_transport_cql_errors_total"}
    assert len(errors) == len(ErrorCode)
    assert {"server_error", "protocol_error", "authentication", "write_timeout", "invalid",
            "unprepared", "rate_limit_error"} <= errors
    kinds = {s.labels["kind"] for s in samples(text) if s.name == "scylla_transport_cql_requests_count"}
    assert kinds == {"STARTUP", "OPTIONS", "QUERY", "PREPARE", "EXECUTE", "BATCH", "REGISTER", "AUTH_RESPONSE"}


def test_every_request_type_has_its_opcode() -> None:
    assert set(REQUEST_OPCODES.values()) == set(DECODERS), "a request type the transport cannot count"
    m = ShardMetrics()
    for request in (Query("SELECT 1", QueryParameters(Consistency.ONE)), Execute(b"id", QueryParameters(Consistency.ONE))):
        m.cql_requests[REQUEST_OPCODES[type(request)]] += 1
    assert (m.cql_requests[Opcode.QUERY], m.cql_requests[Opcode.EXECUTE]) == (1, 1)


# -- render_prometheus -----------------------------------------------------------------------------


def busy_shard() -> ShardMetrics:
    m = ShardMetrics()
    m.requests_served = 42
    m.requests_serving = 3
    m.cql_connections = 5
    m.current_connections = 2
    m.cql_requests[Opcode.QUERY] += 30
    m.cql_requests[Opcode.EXECUTE] += 12
    m.cql_errors[ErrorCode.INVALID] += 2
    m.cql_errors[ErrorCode.WRITE_TIMEOUT] += 1
    for us in (10.0, 100.0, 100.0, 5_000.0):
        m.write_latency.observe(us)
    m.read_latency.observe(250.0)
    m.write_timeouts = 1
    m.read_unavailable = 4
    m.cross_shard_ops = 9
    return m


def test_render_values_and_labels() -> None:
    text = render_prometheus({0: busy_shard().snapshot(STATS), 1: ShardMetrics().snapshot(None)})
    assert value(text, "scylla_transport_requests_served", shard="0") == 42
    assert value(text, "scylla_transport_requests_served", shard="1") == 0
    assert value(text, "scylla_transport_requests_serving", shard="0") == 3
    assert value(text, "scylla_transport_cql_connections", shard="0") == 5
    assert value(text, "scylla_transport_current_connections", shard="0") == 2
    assert value(text, "scylla_transport_cql_requests_count", shard="0", kind="QUERY") == 30
    assert value(text, "scylla_transport_cql_requests_count", shard="0", kind="EXECUTE") == 12
    assert value(text, "scylla_transport_cql_errors_total", shard="0", type="invalid") == 2
    assert value(text, "scylla_transport_cql_errors_total", shard="0", type="write_timeout") == 1
    assert value(text, "scylla_storage_proxy_coordinator_write_timeouts", shard="0") == 1
    assert value(text, "scylla_storage_proxy_coordinator_read_unavailable", shard="0") == 4
    assert value(text, "scylla_storage_proxy_replica_cross_shard_ops", shard="0") == 9
    # Zero-valued labelled series are left out, as ScyllaDB does.
    assert not [s for s in samples(text) if s.labels.get("shard") == "1" and ("kind" in s.labels or "type" in s.labels)]


def test_histogram_exposition() -> None:
    text = render_prometheus({0: busy_shard().snapshot(None)})
    name = "scylla_storage_proxy_coordinator_write_latency"
    buckets = {s.labels["le"]: s.value for s in samples(text)
               if s.name == name + "_bucket" and s.labels["shard"] == "0"}
    assert list(buckets) == [*(str(int(b)) for b in LATENCY_BUCKETS_US), "+Inf"]
    assert (buckets["16"], buckets["64"], buckets["128"], buckets["4096"], buckets["8192"]) == (1, 1, 3, 3, 4)
    assert buckets["+Inf"] == 4
    assert value(text, name + "_count", shard="0") == 4
    assert value(text, name + "_sum", shard="0") == 5_210.0
    counts = list(buckets.values())
    assert counts == sorted(counts), "buckets are cumulative"
    assert value(text, "scylla_storage_proxy_coordinator_read_latency_count", shard="0") == 1


def test_every_family_has_help_type_and_the_shard_label() -> None:
    text = render_prometheus({0: busy_shard().snapshot(STATS)})
    parsed = {f.name: f for f in text_string_to_metric_families(text.decode())}
    for family in FAMILIES:
        # The parser names a counter family without its `_total` suffix.
        parsed_name = family.name.removesuffix("_total") if family.kind == "counter" else family.name
        got = parsed[parsed_name]
        assert got.documentation, family.name
        assert got.samples, family.name
        assert all(s.labels["shard"] == "0" for s in got.samples)
        expected_type = {"gauge": "gauge", "histogram": "histogram"}.get(
            family.kind, "counter" if family.name.endswith("_total") else "unknown")
        assert got.type == expected_type, family.name
    assert len(parsed) == len(FAMILIES)


def test_scylladb_counter_names_are_exposed_verbatim() -> None:
    """ScyllaDB's dashboards query these exact names; prometheus_client would add `_total`."""
    text = render_prometheus({0: busy_shard().snapshot(None)}).decode()
    assert '\nscylla_transport_requests_served{shard="0"} 42.0\n' in text
    assert "# TYPE scylla_transport_requests_served untyped\n" in text
    assert "scylla_transport_requests_served_total" not in text
    assert 'scylla_transport_cql_errors_total{shard="0",type="invalid"} 2.0\n' in text


def test_storage_families_from_engine_stats() -> None:
    text = render_prometheus({2: ShardMetrics().snapshot(STATS)})
    expected = {
        "scylla_memory_dirty_bytes": 1_000, "scylla_memtables_partitions": 2,
        "scylla_commitlog_disk_total_bytes": 3_000, "scylla_commitlog_segments": 4,
        "scylla_sstables_currently_open_for_reading": 5, "scylla_sstables_live_bytes": 6_000,
        "scylla_compaction_manager_completed_compactions": 7,
        "scylla_compaction_manager_input_bytes_total": 8_000,
        "scylla_compaction_manager_output_bytes_total": 9_000,
        "scylla_memtables_flushes_total": 10, "scylla_sstables_quarantined_total": 11,
        "scylla_memtables_pending_flushes": 12,
    }
    for name, want in expected.items():
        assert value(text, name, shard="2") == want, name
    assert {f.name for f in FAMILIES if f.source == "engine"} == set(expected)


def test_a_missing_shard_is_left_out_and_the_others_render() -> None:
    # Shard 1 is restarting: the daemon's collect() returns only the shards that answered.
    text = render_prometheus({0: busy_shard().snapshot(STATS), 2: busy_shard().snapshot(None)})
    shards = {s.labels["shard"] for s in samples(text)}
    assert shards == {"0", "2"}
    assert value(text, "scylla_transport_requests_served", shard="2") == 42
    # Shard 2 sent no engine figures: no storage series for it, shard 0's are there.
    assert not [s for s in samples(text) if s.name == "scylla_commitlog_segments" and s.labels["shard"] == "2"]
    assert value(text, "scylla_commitlog_segments", shard="0") == 4


def test_no_shards_still_renders_every_help_line() -> None:
    text = render_prometheus({}).decode()
    assert samples(text.encode()) == []
    for family in FAMILIES:
        assert f"# HELP {family.name} " in text


def test_snapshot_survives_msgpack() -> None:
    snap = busy_shard().snapshot(STATS)
    wire = msgpack.unpackb(msgpack.packb(snap))
    assert wire == snap
    assert render_prometheus({0: wire}) == render_prometheus({0: snap})


def good() -> dict[str, object]:
    return dict(busy_shard().snapshot(STATS))


HIST = "scylla_storage_proxy_coordinator_write_latency"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: s.update(format=2), "format 2"),
    (lambda s: s.pop("format"), "format None"),
    (lambda s: s.update(scylla_bogus=1), "unknown metric family 'scylla_bogus'"),
    (lambda s: s.update(scylla_transport_requests_served="42"), "scylla_transport_requests_served"),
    (lambda s: s.update(scylla_transport_requests_served=True), "scylla_transport_requests_served"),
    (lambda s: s.update(scylla_transport_requests_served=math.nan), "finite"),
    (lambda s: s.update(scylla_transport_cql_requests_count=5), "expected {kind: number}"),
    (lambda s: s.update(scylla_transport_cql_errors_total={"invalid": "x"}), "bad series 'invalid'"),
    (lambda s: s.update({HIST: {"buckets": [0] * 3, "sum": 0.0}}), "buckets must be 23"),
    (lambda s: s.update({HIST: {"buckets": [-1] + [0] * 22, "sum": 0.0}}), "non-negative"),
    (lambda s: s.update({HIST: {"buckets": [0] * 23}}), "a histogram is"),
    (lambda s: s.update({HIST: {"buckets": [0] * 23, "sum": "0"}}), "sum must be"),
])
def test_malformed_snapshot_is_an_error_naming_the_shard(mutate: Any, message: str) -> None:
    snap = good()
    mutate(snap)
    with pytest.raises(MetricsError, match="shard 3: ") as e:
        render_prometheus({0: good(), 3: snap})
    assert message in str(e.value)


@pytest.mark.parametrize("shard", [-1, "0", True])
def test_bad_shard_id_is_an_error(shard: Any) -> None:
    with pytest.raises(MetricsError, match="shard ids"):
        render_prometheus({shard: good()})


# -- a real storage engine --------------------------------------------------------------------------


def test_storage_figures_match_a_real_engine(tmp_path: Path) -> None:
    asyncio.run(_engine_scenario(tmp_path))


async def _engine_scenario(tmp_path: Path) -> None:
    engine = await StorageEngine.open(tmp_path, StorageConfig(commitlog_sync="periodic"))
    table = uuid.uuid4()
    tablet = (table, 2**63 - 1)
    engine.add_table(table, TableOptions())
    engine.add_tablet(tablet, -(2**63), 2**63 - 1)
    for round_ in range(2):
        for i in range(20):
            row = Row(LivenessInfo(round_ + 1), None, {("v", b""): Cell(round_ + 1, b"x" * 50)}, {})
            await engine.apply(tablet, Mutation(i, i.to_bytes(4, "big"), None, None, {b"": row}, []))
        await engine.flush(table)
    await engine.compact(table)
    for i in range(3):
        row = Row(LivenessInfo(9), None, {("v", b""): Cell(9, b"y")}, {})
        await engine.apply(tablet, Mutation(i, i.to_bytes(4, "big"), None, None, {b"": row}, []))
    stats = engine.stats()
    text = render_prometheus({0: ShardMetrics().snapshot(stats)})
    await engine.close()

    assert stats.flushes_completed >= 2 and stats.compactions_completed >= 1 and stats.memtable_partitions == 3
    for family in FAMILIES:
        if family.source == "engine":
            assert value(text, family.name, shard="0") == getattr(stats, family.attr), family.name


# -- serve_metrics over HTTP ------------------------------------------------------------------------


class MetricsNode:
    """serve_metrics on its own event-loop thread, so the test can use blocking urllib."""

    def __init__(self) -> None:
        self.shards = {0: busy_shard(), 1: ShardMetrics()}
        self.answering = {0, 1}
        self.fail: BaseException | None = None
        self.collects = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = free_port()
        self.server: RestServer = self.run(serve_metrics("127.0.0.1", self.port, self.collect))

    async def collect(self) -> Mapping[int, Snapshot]:
        self.collects += 1
        if self.fail is not None:
            raise self.fail
        return {k: m.snapshot(None) for k, m in self.shards.items() if k in self.answering}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def get(self, path: str, method: str = "GET") -> tuple[int, str, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers["Content-Type"], e.read()


@pytest.fixture
def node() -> Iterator[MetricsNode]:
    n = MetricsNode()
    try:
        yield n
    finally:
        n.stop()


def test_get_metrics(node: MetricsNode) -> None:
    assert node.server.port == node.port
    status, content_type, body = node.get("/metrics")
    assert (status, content_type) == (200, CONTENT_TYPE)
    assert value(body, "scylla_transport_requests_served", shard="0") == 42
    assert value(body, "scylla_transport_requests_served", shard="1") == 0


def test_each_scrape_collects_afresh(node: MetricsNode) -> None:
    node.get("/metrics")
    node.shards[1].requests_served = 7  # the loop is idle between requests
    node.answering.discard(0)  # shard 0 restarting
    _, _, body = node.get("/metrics")
    assert value(body, "scylla_transport_requests_served", shard="1") == 7
    assert {s.labels["shard"] for s in samples(body)} == {"1"}
    assert node.collects == 2


def test_other_paths_and_methods(node: MetricsNode) -> None:
    assert node.get("/")[0] == 404
    assert node.get("/metrics/x")[0] == 404
    assert node.get("/metrics", method="POST")[0] == 405
    assert node.collects == 0


def test_a_failing_collect_is_a_500_and_the_server_keeps_serving(node: MetricsNode) -> None:
    node.fail = TimeoutError("shard 3 did not answer")
    status, _, body = node.get("/metrics")
    assert status == 500 and b"shard 3 did not answer" in body
    node.fail = None
    assert node.get("/metrics")[0] == 200


def test_docs_describe_every_family() -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    missing = [f.name for f in FAMILIES if f"`{f.name}`" not in doc]
    assert not missing, f"docs/metrics.md does not describe {missing}"
    assert f"format {SNAPSHOT_FORMAT}" in doc

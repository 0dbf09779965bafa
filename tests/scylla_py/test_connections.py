"""Hundreds of concurrent client connections against one real node.

300 raw TCP connections (asyncio streams, v4 frames built here by hand, strings encoded with the
server's own `cql.protocol.wire` writers) each do OPTIONS -> SUPPORTED, STARTUP -> READY and then
pipeline 32 QUERY frames on 32 distinct stream ids in one write. Every stream id must get exactly
one RESULT, and each result must carry the row that its own stream asked for, so a response
delivered on the wrong stream fails the test whatever order the server answers in. A
cassandra-driver session opened beforehand must keep answering throughout; after all 300 close,
new raw and driver connections must still be served.
"""

from __future__ import annotations

import asyncio
import collections
import struct
import threading
import time
from dataclasses import dataclass, field

from cassandra.cluster import Cluster, Session
from cassandra.io.asyncioreactor import AsyncioConnection

from cql.protocol.wire import BodyReader, write_long_string, write_string_map
from tests.conftest import unique_keyspace
from tests.harness import ServerProcess

CONNECTIONS = 300
STREAMS_PER_CONNECTION = 32
# Stream ids spread over the whole positive 16-bit range (negative ids are the server's, for
# events): a server that truncated or byte-swapped ids would answer on an id we never used.
STREAM_IDS = [1 + i * 1021 for i in range(STREAMS_PER_CONNECTION)]
# How long the whole exercise may take before it counts as hung rather than slow.
DEADLINE_S = 120.0

_HEADER = struct.Struct(">BBhBi")
_OP_ERROR, _OP_STARTUP, _OP_READY, _OP_OPTIONS, _OP_SUPPORTED, _OP_QUERY, _OP_RESULT = 0, 1, 2, 5, 6, 7, 8
_RESULT_VOID, _RESULT_ROWS = 1, 2
# What `_result_value` returns for RESULT Void (the answer to a write).
VOID = "<RESULT Void>"
_CONSISTENCY_ONE = 0x0001


class FrameError(AssertionError):
    """The server answered something other than what the protocol requires at this point."""


def _frame(opcode: int, stream: int, body: bytes | bytearray = b"") -> bytes:
    return _HEADER.pack(4, 0, stream, opcode, len(body)) + bytes(body)


def _startup_frame(stream: int) -> bytes:
    body = bytearray()
    write_string_map(body, {"CQL_VERSION": "3.0.0", "DRIVER_NAME": "scylla-py connection test"})
    return _frame(_OP_STARTUP, stream, body)


def _query_frame(query: str, stream: int) -> bytes:
    # v4 section 4.1.4: <query><consistency><flags>, no values, no paging options.
    body = bytearray()
    write_long_string(body, query)
    body += struct.pack(">HB", _CONSISTENCY_ONE, 0)
    return _frame(_OP_QUERY, stream, body)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """One response frame: (stream, opcode, body). Checks the response version byte."""
    version, _flags, stream, opcode, length = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if version != 0x84:
        raise FrameError(f"response version byte {version:#x} on stream {stream}, expected 0x84")
    body = await reader.readexactly(length)
    if opcode == _OP_ERROR:
        r = BodyReader(body)
        code = r.read_int()
        raise FrameError(f"ERROR {code:#06x} on stream {stream}: {r.read_string()}")
    return stream, opcode, body


def _result_value(body: bytes) -> str | None:
    """VOID for RESULT Void, else the one cell of a one-column, one-row RESULT Rows body
    (v4 section 4.2.5.2) as text.

    Only the shapes this test asks for are understood: text/varchar/ascii/int columns. Anything
    else is a test failure, not something to skip.
    """
    r = BodyReader(body)
    kind = r.read_int()
    if kind == _RESULT_VOID and not r.remaining():
        return VOID
    if kind != _RESULT_ROWS:
        raise FrameError(f"RESULT kind {kind}, expected Void or Rows")
    flags = r.read_int()
    columns = r.read_int()
    if flags & 0x0002:  # has_more_pages
        r.read_bytes()
    if flags & 0x0004:  # no_metadata
        raise FrameError("server sent no metadata for a query that did not ask to skip it")
    if flags & 0x0001:  # global_tables_spec
        r.read_string()
        r.read_string()
    type_ids = []
    for _ in range(columns):
        if not flags & 0x0001:
            r.read_string()
            r.read_string()
        r.read_string()
        type_ids.append(r.read_short())
    if columns != 1 or (rows := r.read_int()) != 1:
        raise FrameError(f"expected one column and one row, got {columns} columns")
    cell = r.read_bytes()
    if r.remaining():
        raise FrameError(f"{r.remaining()} trailing bytes after {rows} row")
    if cell is None:
        return None
    if type_ids[0] == 0x0009:  # int
        return str(struct.unpack(">i", cell)[0])
    if type_ids[0] in (0x000D, 0x0001):  # varchar / ascii
        return cell.decode()
    raise FrameError(f"unexpected column type id {type_ids[0]:#06x}")


@dataclass
class Pipelined:
    """What one connection saw: how many responses per stream id, and in which order."""

    counts: collections.Counter[int] = field(default_factory=collections.Counter)
    order: list[int] = field(default_factory=list)


class RawClient:
    """One hand-framed v4 connection. Not thread-safe; one coroutine drives it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def handshake(cls, host: str, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        writer.write(_frame(_OP_OPTIONS, 0))
        stream, opcode, body = await _read_frame(reader)
        if (stream, opcode) != (0, _OP_SUPPORTED):
            raise FrameError(f"OPTIONS answered with opcode {opcode:#x} on stream {stream}")
        supported = BodyReader(body)
        keys = {supported.read_string(): supported.read_string_list() for _ in range(supported.read_short())}
        if "CQL_VERSION" not in keys or "COMPRESSION" not in keys:
            raise FrameError(f"SUPPORTED lacks CQL_VERSION/COMPRESSION: {sorted(keys)}")
        writer.write(_startup_frame(1))
        stream, opcode, _ = await _read_frame(reader)
        if (stream, opcode) != (1, _OP_READY):
            raise FrameError(f"STARTUP answered with opcode {opcode:#x} on stream {stream}")
        return client

    async def pipeline(self, queries: dict[int, tuple[str, str]], *, then_eof: bool = False) -> Pipelined:
        """Send every query in one write, then read until each stream has been answered once.

        `queries` maps stream id -> (statement, what `_result_value` must make of its answer).
        With `then_eof`, half-close the connection right after the write and read until the server
        closes its side; whatever arrived is returned (the caller checks it is complete).
        """
        self.writer.write(b"".join(_query_frame(q, s) for s, (q, _) in queries.items()))
        if then_eof:
            self.writer.write_eof()
        seen = Pipelined()
        while then_eof or len(seen.order) < len(queries):
            try:
                stream, opcode, body = await _read_frame(self.reader)
            except asyncio.IncompleteReadError as e:
                if then_eof and not e.partial:
                    return seen
                raise
            if stream not in queries:
                raise FrameError(f"response on stream {stream}, which had no request")
            if opcode != _OP_RESULT:
                raise FrameError(f"opcode {opcode:#x} on stream {stream}, expected RESULT")
            expected = queries[stream][1]
            if (got := _result_value(body)) != expected:
                raise FrameError(f"stream {stream} got {got!r}, its own query returns {expected!r}")
            seen.counts[stream] += 1
            seen.order.append(stream)
        return seen

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


class DriverProbe:
    """Runs a driver query in a loop on its own thread until stopped, counting answers and errors."""

    def __init__(self, session: Session, query: str) -> None:
        self._session = session
        self._query = query
        self._stop = threading.Event()
        self.answers = 0
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._loop, name="driver-probe", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._session.execute(self._query, timeout=30).one()
                self.answers += 1
            except Exception as e:  # recorded and asserted on by the test, not swallowed
                self.errors.append(e)
            time.sleep(0.01)

    def __enter__(self) -> DriverProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


@dataclass
class Figures:
    handshake_s: float = 0.0
    pipeline_s: float = 0.0
    close_s: float = 0.0
    out_of_order_connections: int = 0
    driver_answers_during_pipeline: int = 0


@dataclass(frozen=True)
class Workload:
    """The statements each connection pipelines, and what each must answer."""

    keyspace: str
    release_version: str

    def for_connection(self, index: int) -> dict[int, tuple[str, str]]:
        """Stream id -> (statement, expected answer) for connection `index`, in sending order.

        The first statement is a write: with `--commitlog-sync batch` it waits for an fsync, so the
        reads pipelined behind it finish first unless the server serialises a connection's
        streams. Every read returns a row keyed by its own stream id, so an answer delivered on
        the wrong stream cannot pass.
        """
        ks = self.keyspace
        queries = {STREAM_IDS[0]: (f"INSERT INTO {ks}.w (k, v) VALUES ({index}, {index * 3})", VOID)}
        queries[STREAM_IDS[1]] = ("SELECT release_version FROM system.local", self.release_version)
        queries |= {s: (f"SELECT v FROM {ks}.t WHERE k = {s}", str(s * 7)) for s in STREAM_IDS[2:]}
        return queries


async def _hundreds_of_connections(
    server: ServerProcess, work: Workload, session: Session, probe: DriverProbe, figures: Figures
) -> None:
    async def driver_row() -> None:
        # A query through the driver session while all raw connections are open and idle.
        rows = await asyncio.to_thread(session.execute, "SELECT release_version FROM system.local", timeout=30)
        assert rows.one().release_version == work.release_version

    t0 = time.monotonic()
    clients = await asyncio.gather(*(RawClient.handshake(server.host, server.cql_port) for _ in range(CONNECTIONS)))
    t1 = time.monotonic()
    await driver_row()
    answers_before = probe.answers
    plans = [work.for_connection(i) for i in range(CONNECTIONS)]
    results = await asyncio.gather(*(c.pipeline(q) for c, q in zip(clients, plans)))
    t2 = time.monotonic()
    figures.driver_answers_during_pipeline = probe.answers - answers_before
    for seen, plan in zip(results, plans):
        assert set(seen.counts) == set(plan) and set(seen.counts.values()) == {1}, seen.counts
        figures.out_of_order_connections += seen.order != list(plan)
    # A duplicate answer on any stream would still be in the socket buffer: one more round trip
    # per connection must return exactly the one response it asked for.
    read_only = {s: work.for_connection(0)[s] for s in STREAM_IDS[1:2]}
    for seen in await asyncio.gather(*(c.pipeline(read_only) for c in clients)):
        assert seen.order == STREAM_IDS[1:2]
    await driver_row()
    await asyncio.gather(*(c.close() for c in clients))
    figures.handshake_s, figures.pipeline_s, figures.close_s = t1 - t0, t2 - t1, time.monotonic() - t2


def _workload(session: Session) -> Workload:
    ks = unique_keyspace("conns")
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v int)")
    session.execute(f"CREATE TABLE {ks}.w (k int PRIMARY KEY, v int)")
    for s in STREAM_IDS[2:]:
        session.execute(f"INSERT INTO {ks}.t (k, v) VALUES ({s}, {s * 7})")
    return Workload(ks, session.execute("SELECT release_version FROM system.local").one().release_version)


def test_hundreds_of_pipelined_connections(server: ServerProcess, session: Session) -> None:
    work = _workload(session)
    ks = work.keyspace

    figures = Figures()
    started = time.monotonic()
    with DriverProbe(session, f"SELECT v FROM {ks}.t WHERE k = {STREAM_IDS[2]}") as probe:
        asyncio.run(asyncio.wait_for(_hundreds_of_connections(server, work, session, probe, figures), DEADLINE_S))
    elapsed = time.monotonic() - started
    assert not probe.errors, probe.errors[:3]
    # Every connection's write landed, and was acknowledged only once it had (RESULT Void above).
    written = {(r.k, r.v) for r in session.execute(f"SELECT k, v FROM {ks}.w")}
    assert written == {(i, i * 3) for i in range(CONNECTIONS)}
    # Reads overtook the fsync-bound write on at least some connections: streams are concurrent.
    assert figures.out_of_order_connections > 0

    # The server still takes new connections, raw and driver, once the 300 are gone.
    async def one_more() -> Pipelined:
        client = await RawClient.handshake(server.host, server.cql_port)
        try:
            return await client.pipeline(work.for_connection(CONNECTIONS))
        finally:
            await client.close()

    assert set(asyncio.run(one_more()).counts.values()) == {1}
    fresh = Cluster([server.host], port=server.cql_port, connection_class=AsyncioConnection, protocol_version=4)
    try:
        assert fresh.connect().execute(f"SELECT v FROM {ks}.w WHERE k = {CONNECTIONS}").one().v == CONNECTIONS * 3
    finally:
        fresh.shutdown()
    assert server.proc is not None and server.proc.poll() is None, server.log()[-3000:]
    assert "bug: unexpected error" not in server.log(), server.log()[-3000:]
    print(f"\n{CONNECTIONS} connections x {STREAMS_PER_CONNECTION} streams: handshake {figures.handshake_s:.2f} s, "
          f"pipeline {figures.pipeline_s:.2f} s, close {figures.close_s:.2f} s, total {elapsed:.2f} s; "
          f"{figures.out_of_order_connections} connections answered out of order; "
          f"driver answered {figures.driver_answers_during_pipeline} queries during the pipeline")


def test_half_closed_connections_still_get_every_answer(server: ServerProcess, session: Session) -> None:
    """A client may shut down its sending side and keep reading (TCP half-close): every request it
    sent before must still be answered, and only then may the server close. 50 connections each
    pipeline the 32-stream workload (an fsync-bound write first) and half-close right away."""
    work = _workload(session)

    async def half_close_all() -> list[Pipelined]:
        clients = await asyncio.gather(*(RawClient.handshake(server.host, server.cql_port) for _ in range(50)))
        try:
            return await asyncio.gather(*(c.pipeline(work.for_connection(i), then_eof=True)
                                          for i, c in enumerate(clients)))
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    results = asyncio.run(asyncio.wait_for(half_close_all(), DEADLINE_S))
    unanswered = [sorted(set(STREAM_IDS) - set(seen.counts)) for seen in results]
    assert unanswered == [[]] * len(results)
    assert all(set(seen.counts.values()) == {1} for seen in results)

"""Random and mutated frames and statements against a real node: every one gets an answer or a
closed connection, the node never crashes or hangs, and a driver session opened before the fuzzing
keeps working throughout."""

from __future__ import annotations

import random
import socket
import struct

from cassandra.cluster import Session

from tests.harness import ServerProcess

_HEADER = struct.Struct(">BBhBi")


def _startup_frame(stream: int = 0) -> bytes:
    body = struct.pack(">H", 1) + struct.pack(">H", 11) + b"CQL_VERSION" + struct.pack(">H", 5) + b"3.0.0"
    return _HEADER.pack(4, 0, stream, 0x01, len(body)) + body


def _query_frame(query: bytes, stream: int) -> bytes:
    body = struct.pack(">i", len(query)) + query + struct.pack(">HB", 1, 0)
    return _HEADER.pack(4, 0, stream, 0x07, len(body)) + body


def _exchange(server: ServerProcess, payload: bytes) -> bytes:
    """Send a handshake plus `payload`; read until the server answers the trailing probe or closes."""
    probe = _HEADER.pack(4, 0, 999, 0x05, 0)  # OPTIONS on stream 999
    with socket.create_connection(server.contact_point, timeout=10) as s:
        s.sendall(_startup_frame() + payload + probe)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


_STATEMENTS = [
    b"SELECT * FROM system.local",
    b"INSERT INTO fuzz.t (k, v) VALUES (1, 'a')",
    b"CREATE TABLE fuzz.t2 (k int PRIMARY KEY)",
    b"UPDATE fuzz.t SET v = 'x' WHERE k = 2",
    b"SELECT k, v FROM fuzz.t WHERE k IN (1, 2, 3) ORDER BY k",
    b"DELETE FROM fuzz.t WHERE k = 1",
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif op == 2 and b:
            del b[rng.randrange(len(b))]
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(b)


def test_fuzzed_frames_and_statements_never_hurt_the_node(server: ServerProcess, session: Session) -> None:
    session.execute("CREATE KEYSPACE IF NOT EXISTS fuzz WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
    session.execute("CREATE TABLE IF NOT EXISTS fuzz.t (k int PRIMARY KEY, v text)")
    rng = random.Random(20261121)
    for i in range(150):
        kind = i % 3
        if kind == 0:  # random bytes after a good handshake
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        elif kind == 1:  # a valid QUERY frame with mutated bytes
            payload = _mutate(rng, _query_frame(rng.choice(_STATEMENTS), 1))
        else:  # a well-formed frame carrying a mutated statement
            payload = _query_frame(_mutate(rng, rng.choice(_STATEMENTS)), 1)
        reply = _exchange(server, payload)
        # Whatever we sent, the server answered something (READY at least) and did not die.
        assert reply[:1] in (b"\x84", b"\x83", b""), reply[:16]
        assert server.proc is not None and server.proc.poll() is None, server.log()[-3000:]
        if i % 25 == 0:
            session.execute("INSERT INTO fuzz.t (k, v) VALUES (%s, 'alive')", (i,))
    assert session.execute("SELECT v FROM fuzz.t WHERE k = 0").one().v == "alive"
    assert "bug: unexpected error" not in server.log(), server.log()[-3000:]

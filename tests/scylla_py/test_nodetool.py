"""`scylla-py nodetool` end to end: the real command in a subprocess against a real node.

Schema and data come from the stock cassandra-driver; what nodetool prints is checked against
what the node says over CQL (system.local, system.tablets) and against the writes we made.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from cassandra.cluster import Session

from tests.conftest import unique_keyspace
from tests.harness import ServerProcess, free_port


def nodetool(server: ServerProcess, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scylla_py", "nodetool", "-h", server.host,
         "-p", str(server.api_port if port is None else port), *args],
        capture_output=True, text=True, timeout=120,
    )


def ok(server: ServerProcess, *args: str) -> str:
    proc = nodetool(server, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def make_table(session: Session, tablets: int, rows: int) -> tuple[str, str]:
    ks = unique_keyspace("nt")
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', "
                    f"'replication_factor': 1}} AND tablets = {{'initial': {tablets}}}")
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)")
    insert = session.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
    for k in range(rows):
        session.execute(insert, (k, "v" * 50))
    return ks, "t"


def table_block(output: str, table: str) -> dict[str, str]:
    """`Label: value` lines of one table's block in tablestats' plain output."""
    block = output.split(f"\t\tTable: {table}\n", 1)[1].split("\n\n", 1)[0]
    return dict(line.strip().split(": ", 1) for line in block.splitlines())


def local(session: Session) -> Any:
    return session.execute("SELECT host_id, tokens, release_version, data_center, rack FROM system.local").one()


# -- status / info / version ------------------------------------------------------------------


def test_status_shows_this_node_up_and_normal(server: ServerProcess, session: Session) -> None:
    me = local(session)
    out = ok(server, "status")
    lines = out.splitlines()
    assert lines[:4] == [f"Datacenter: {me.data_center}", "=" * len(f"Datacenter: {me.data_center}"),
                         "Status=Up/Down", "|/ State=Normal/Leaving/Joining/Moving"]
    assert lines[4].split() == ["--", "Address", "Load", "Tokens", "Owns", "Host", "ID", "Rack"]
    row = lines[5].split()
    assert row[:2] == ["UN", server.host]
    # Load is "<number> <unit>", then the vnode token count, ownership unknown without a keyspace.
    assert re.fullmatch(r"[0-9.]+", row[2]) and row[3] in ("bytes", "KB", "MB", "GB")
    assert row[4:] == [str(len(me.tokens)), "?", str(me.host_id), me.rack]
    assert lines[-1].startswith("Note: Non-system keyspaces don't have the same replication settings")


def test_status_of_a_tablets_table_shows_its_ownership_and_tablets(server: ServerProcess, session: Session) -> None:
    ks, table = make_table(session, tablets=4, rows=0)
    lines = ok(server, "status", ks, table).splitlines()
    assert "Owns (effective)" in lines[4]
    row = lines[5].split()
    assert row[0] == "UN" and row[1] == server.host
    assert row[-4:-2] == ["4", "100.0%"]  # 4 tablets, all primary here; one node holds everything
    assert not any(line.startswith("Note:") for line in lines)
    # Without the table, a tablets keyspace has no single ownership or token count: "?".
    assert ok(server, "status", ks).splitlines()[5].split()[-4:-2] == ["?", "?"]


def test_info_reports_the_node(server: ServerProcess, session: Session) -> None:
    me = local(session)
    fields = dict(line.split(": ", 1) for line in ok(server, "info").splitlines())
    fields = {key.strip(): value for key, value in fields.items()}
    assert fields["ID"] == str(me.host_id)
    assert fields["Native Transport active"] == "true"
    assert fields["Gossip active"] == "false"
    assert (fields["Data Center"], fields["Rack"]) == (me.data_center, me.rack)
    assert int(fields["Generation No"]) > 1_600_000_000  # a start time in seconds
    assert int(fields["Uptime (seconds)"]) >= 0
    assert fields["Token"] == f"(invoke with -T/--tokens to see all {len(me.tokens)} tokens)"
    # Figures we do not measure are left out, not printed as zeros.
    assert not {"Heap Memory (MB)", "Key Cache", "Exceptions", "Percent Repaired"} & set(fields)
    tokens = [line.split(": ", 1)[1] for line in ok(server, "info", "-T").splitlines() if line.startswith("Token ")]
    assert sorted(map(int, tokens)) == sorted(int(t) for t in me.tokens)


def test_version(server: ServerProcess, session: Session) -> None:
    assert ok(server, "version") == f"ReleaseVersion: {local(session).release_version}\n"


# -- flush / compact / tablestats -------------------------------------------------------------


def test_tablestats_before_and_after_flush(server: ServerProcess, session: Session) -> None:
    ks, table = make_table(session, tablets=4, rows=200)
    before = ok(server, "tablestats", f"{ks}.{table}")
    assert before.startswith("Total number of tables: ")
    assert f"Keyspace : {ks}\n" in before
    figures = table_block(before, table)
    assert figures["SSTable count"] == "0" and figures["Space used (live)"] == "0"
    assert int(figures["Memtable data size"]) > 0
    assert figures["Number of partitions (estimate)"] == "200"
    assert "Read Count" not in before and "Bloom filter" not in before  # not measured: not shown

    assert ok(server, "flush", ks) == ""
    figures = table_block(ok(server, "tablestats", ks), table)
    assert 1 <= int(figures["SSTable count"]) <= 4  # one per tablet that had data
    assert int(figures["Space used (live)"]) > 0
    assert figures["Memtable data size"] == "0"
    assert figures["Number of partitions (estimate)"] == "200"  # each partition in one sstable

    human = table_block(ok(server, "cfstats", "-H", f"{ks}/{table}"), table)
    assert re.fullmatch(r"[0-9.]+ (bytes|KB|MB)", human["Space used (live)"])
    assert human["Memtable data size"] == "0 bytes"


def test_tablestats_json(server: ServerProcess, session: Session) -> None:
    ks, table = make_table(session, tablets=2, rows=10)
    document = json.loads(ok(server, "tablestats", "-F", "json", ks))
    assert document["total_number_of_tables"] >= 1
    assert set(document) == {"total_number_of_tables", ks}
    assert document[ks]["tables"][table] == {"sstable_count": 0, "space_used_live": 0,
                                             "number_of_partitions_estimate": 10,
                                             "memtable_data_size": document[ks]["tables"][table]["memtable_data_size"]}
    assert document[ks]["tables"][table]["memtable_data_size"] > 0


def test_compact_merges_a_tablets_sstables(server: ServerProcess, session: Session) -> None:
    ks, table = make_table(session, tablets=1, rows=50)
    ok(server, "flush", ks, table)
    session.execute(f"INSERT INTO {ks}.{table} (k, v) VALUES (1000, 'late')")
    ok(server, "flush", ks, table)
    assert table_block(ok(server, "tablestats", f"{ks}.{table}"), table)["SSTable count"] == "2"
    assert ok(server, "compact", ks, table) == ""
    figures = table_block(ok(server, "tablestats", f"{ks}.{table}"), table)
    assert figures["SSTable count"] == "1"
    assert figures["Number of partitions (estimate)"] == "51"
    assert session.execute(f"SELECT count(*) FROM {ks}.{table}").one()[0] == 51


# -- ring / tablets ---------------------------------------------------------------------------


def _system_tablets(session: Session, ks: str, table: str) -> list[tuple[int, list[tuple[Any, int]]]]:
    table_id = session.execute("SELECT id FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
                               (ks, table)).one().id
    rows = session.execute("SELECT last_token, replicas FROM system.tablets WHERE table_id = %s", (table_id,))
    return sorted((row.last_token, [(host, shard) for host, shard in row.replicas]) for row in rows)


def test_ring_of_a_table_lists_its_tablets_with_host_and_shard(server: ServerProcess, session: Session) -> None:
    ks, table = make_table(session, tablets=4, rows=0)
    expected = _system_tablets(session, ks, table)
    lines = ok(server, "ring", ks, table).splitlines()
    header = lines.index(next(line for line in lines if line.startswith("Address")))
    assert lines[header].split() == ["Address", "Rack", "Status", "State", "Load", "Owns", "Token", "Shard"]
    rows = [line.split() for line in lines[header + 2:header + 2 + len(expected)]]
    assert [(int(r[-2]), int(r[-1])) for r in rows] == [(last, replicas[0][1]) for last, replicas in expected]
    assert all(r[0] == server.host and r[2:4] == ["Up", "Normal"] and r[-3] == "100.00%" for r in rows)
    # Without a table, a tablets keyspace has no ring: a usage error.
    proc = nodetool(server, "ring", ks)
    assert proc.returncode == 2 and f"keyspace {ks} uses tablets" in proc.stderr


def test_ring_lists_every_vnode_token(server: ServerProcess, session: Session) -> None:
    out = ok(server, "ring")
    tokens = [int(line.split()[-1]) for line in out.splitlines() if line.startswith(server.host + " ")]
    assert tokens == sorted(int(t) for t in local(session).tokens)
    assert 'Warning: "nodetool ring" is used to output all the tokens of a node.' in out


def test_tablets_command(server: ServerProcess, session: Session) -> None:
    ks, table = make_table(session, tablets=4, rows=0)
    expected = _system_tablets(session, ks, table)
    lines = ok(server, "tablets", ks, table).splitlines()
    assert lines[:3] == [f"Keyspace: {ks}", f"Table: {table}", "Tablet count: 4"]
    assert lines[4].split() == ["Tablet", "First", "token", "Last", "token", "Replicas"]
    previous = -(2**63)
    for i, (line, (last, replicas)) in enumerate(zip(lines[5:], expected, strict=True)):
        cells = line.split(maxsplit=3)
        assert cells[:3] == [str(i), str(previous), str(last)]
        assert cells[3] == ", ".join(f"{server.host} (shard {shard})" for _host, shard in replicas)
        previous = last
    assert previous == 2**63 - 1


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (("flush", "nope_ks"), "Can't find a keyspace nope_ks"),
    (("compact", "system_schema", "nope_t"), "Can't find a column family nope_t in keyspace system_schema"),
    (("tablestats", "nope_ks.t"), "Can't find a keyspace nope_ks"),
    (("status", "nope_ks"), "Can't find a keyspace nope_ks"),
    (("tablets", "system", "local"), "system.local is a virtual system table: it has no tablets"),
])
def test_errors_carry_the_nodes_message(server: ServerProcess, args: tuple[str, ...], message: str) -> None:
    proc = nodetool(server, *args)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == f"Error: {message}\n"


def test_unreachable_node(server: ServerProcess) -> None:
    port = free_port()
    proc = nodetool(server, "status", port=port)
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"cannot connect to the node's REST API at 127.0.0.1:{port}: connection refused" in proc.stderr


def test_bad_arguments_are_usage_errors(server: ServerProcess) -> None:
    assert nodetool(server, "tablets", "only_keyspace").returncode == 2
    assert nodetool(server, "no_such_command").returncode == 2
    assert nodetool(server, "tablestats", "ks.").returncode == 2


# -- drain (on a node of its own: it stops the node taking writes) ------------------------------


def test_drain(node_factory: Callable[..., ServerProcess]) -> None:
    node = node_factory()
    assert ok(node, "drain") == ""
    proc = subprocess.run([sys.executable, "-c", (
        "import json, urllib.request; "
        f"print(json.load(urllib.request.urlopen('http://{node.host}:{node.api_port}/storage_service/operation_mode')))")],
        capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "DRAINED", proc.stderr


def test_drain_stops_client_traffic_on_every_shard(node_factory: Callable[..., ServerProcess]) -> None:
    import socket

    node = node_factory("--smp", "2")
    assert ok(node, "drain") == ""
    # The node still accepts TCP (the supervisor listens) but no shard serves CQL any more: each
    # connection is closed without an answer, whichever shard it lands on.
    for _ in range(4):
        with socket.create_connection((node.host, node.cql_port), timeout=10) as s:
            s.sendall(bytes.fromhex("0400000005" + "00000000"))  # OPTIONS, v4, stream 0
            try:
                answer = s.recv(100)
            except ConnectionResetError:  # closed with our request unread: refused all the same
                answer = b""
            assert answer == b""

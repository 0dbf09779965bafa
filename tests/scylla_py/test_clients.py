"""The other real clients against a server process: scylla-driver (in its own virtualenv), PyPI
cqlsh and scylla-cqlsh, with `-e` and `-f` scripts, and which DESCRIBE path each cqlsh takes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cassandra.cluster import Session
from cassandra.protocol import SyntaxException

from tests.conftest import unique_keyspace
from tests.harness import ROOT, SCYLLA_VENV_PYTHON, ServerProcess

HERE = Path(__file__).resolve().parent
CQLSH = {
    "cqlsh": Path(sys.executable).parent / "cqlsh",
    "scylla-cqlsh": SCYLLA_VENV_PYTHON.parent / "cqlsh",
}


def _run(cmd: list[str], timeout_s: float = 120) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _without_warning(out: str) -> str:
    """PyPI cqlsh prints a version-mismatch warning on stdout; it is not part of the output."""
    return "\n".join(line for line in out.splitlines() if not line.startswith("WARNING: cqlsh was built"))


def _without_version_warning(out: str) -> str:
    """Like `_without_warning`, but keeps every other byte (newlines included) as printed."""
    return "".join(line for line in out.splitlines(keepends=True) if not line.startswith("WARNING: cqlsh was built"))


def _as_cqlsh_prints(session: Session, statement: str) -> str:
    """The server's own DESCRIBE result for `statement`, framed the way both cqlsh flavours print
    a server-side element result: a blank line, then each row's create_statement, then a newline."""
    return "".join(f"\n{row.create_statement}\n" for row in session.execute(statement))


def test_scylla_driver(server: ServerProcess) -> None:
    out = _run([str(SCYLLA_VENV_PYTHON), str(HERE / "scripts" / "scylla_driver_checks.py"),
                server.host, str(server.cql_port)])
    assert "scylla-driver checks passed" in out


@pytest.mark.parametrize("flavour", ["cqlsh", "scylla-cqlsh"])
def test_cqlsh_script_and_describe(server: ServerProcess, flavour: str, tmp_path: Path) -> None:
    ks = unique_keyspace("cqlsh")
    script = tmp_path / "schema.cql"
    script.write_text(
        f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}};\n"
        f"CREATE TABLE {ks}.users (id int, name text, tags set<text>, PRIMARY KEY (id, name))"
        f" WITH CLUSTERING ORDER BY (name DESC) AND comment = 'people';\n"
        f"INSERT INTO {ks}.users (id, name, tags) VALUES (1, 'ann', {{'a', 'b'}});\n"
        f"INSERT INTO {ks}.users (id, name) VALUES (1, 'bob');\n"
    )
    cqlsh = str(CQLSH[flavour])
    _run([cqlsh, server.host, str(server.cql_port), "-f", str(script)])
    out = _run([cqlsh, server.host, str(server.cql_port), "-e", f"SELECT id, name, tags FROM {ks}.users"])
    lines = [line.split("|") for line in out.splitlines() if "|" in line]
    assert [c.strip() for c in lines[0]] == ["id", "name", "tags"]
    assert [c.strip() for c in lines[1]] == ["1", "bob", "null"]
    assert [c.strip() for c in lines[2]] == ["1", "ann", "{'a', 'b'}"]
    assert "(2 rows)" in out
    desc = _without_warning(_run([cqlsh, server.host, str(server.cql_port), "-e", f"DESCRIBE KEYSPACE {ks}"]))
    assert f"CREATE KEYSPACE {ks}" in desc
    assert f"CREATE TABLE {ks}.users" in desc
    assert "CLUSTERING ORDER BY (name DESC)" in desc
    assert "comment = 'people'" in desc
    # The DESCRIBE output re-creates the schema: run it against a fresh keyspace name.
    recreated = desc.replace(ks, ks + "_copy")
    (tmp_path / "copy.cql").write_text(recreated)
    _run([cqlsh, server.host, str(server.cql_port), "-f", str(tmp_path / "copy.cql")])
    desc2 = _without_warning(_run([cqlsh, server.host, str(server.cql_port), "-e", f"DESCRIBE KEYSPACE {ks}_copy"]))
    assert desc2.replace(ks + "_copy", ks) == desc
    err = subprocess.run([cqlsh, server.host, str(server.cql_port), "-e", "SELEC nothing"],
                         capture_output=True, text=True, timeout=60)
    assert "SyntaxException" in err.stderr or "Syntax" in err.stderr + err.stdout


@pytest.mark.parametrize("flavour", ["cqlsh", "scylla-cqlsh"])
def test_cqlsh_describe_prints_the_servers_describe(server: ServerProcess, session: Session, flavour: str,
                                                    tmp_path: Path) -> None:
    """Both cqlsh flavours print our DESCRIBE result byte for byte, whatever the DESCRIBE form.

    scylla-cqlsh 6.0.40 sends the text it was given to the server first and renders DESCRIBE from
    the driver's schema metadata only when the server answers SyntaxException; PyPI cqlsh 6.2.2
    asks the server whenever release_version >= 4 (docs/system-tables.md). Client-side rendering
    differs from ours (no tombstone_gc clause, `crc_check_chance = 1.0`), so equality with the
    server's rows proves the server-side path.
    """
    ks = unique_keyspace("desc")
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
    session.execute(f"CREATE TABLE {ks}.users (id int, name text, PRIMARY KEY (id, name))"
                    " WITH CLUSTERING ORDER BY (name DESC) AND comment = 'people'")
    table = _as_cqlsh_prints(session, f"DESCRIBE TABLE {ks}.users")
    assert "tombstone_gc" in table  # what makes the two renderings tell apart
    # One statement per line: cqlsh handles (and scylla-cqlsh forwards) each line on its own.
    script = tmp_path / "describe.cql"
    script.write_text(f"DESCRIBE TABLE {ks}.users;\nDESC {ks}.users;\nDESCRIBE KEYSPACE {ks};\n"
                      f"USE {ks};\nDESCRIBE TABLE users;\n")
    out = _run([str(CQLSH[flavour]), server.host, str(server.cql_port), "-f", str(script)])
    assert _without_version_warning(out) == table + table + _as_cqlsh_prints(session, f"DESCRIBE KEYSPACE {ks}") + table


def test_scylla_cqlsh_renders_describe_itself_only_after_a_syntax_error(server: ServerProcess, session: Session
                                                                        ) -> None:
    """The one input where scylla-cqlsh does not print our DESCRIBE: several statements on one
    line. It forwards the whole line as the DESCRIBE's text; a QUERY carries one statement (as in
    ScyllaDB, whose grammar is `cqlStatement ';'* EOF`), so the server answers SyntaxException and
    scylla-cqlsh falls back to rendering the table from the driver's metadata. ScyllaDB 6 gives
    scylla-cqlsh the same answer; PyPI cqlsh sends only the DESCRIBE statement and is unaffected.
    """
    ks = unique_keyspace("desc")
    session.execute(f"CREATE KEYSPACE {ks} WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
    session.execute(f"CREATE TABLE {ks}.users (id int PRIMARY KEY, name text)")
    line = f"USE {ks}; DESCRIBE TABLE users"
    with pytest.raises(SyntaxException):
        session.execute(line)
    server_side = _as_cqlsh_prints(session, f"DESCRIBE TABLE {ks}.users")
    pypi = _run([str(CQLSH["cqlsh"]), server.host, str(server.cql_port), "-e", line])
    assert _without_version_warning(pypi) == server_side
    scylla = _run([str(CQLSH["scylla-cqlsh"]), server.host, str(server.cql_port), "-e", line])
    assert f"CREATE TABLE {ks}.users (" in scylla
    assert scylla != server_side and "tombstone_gc" not in scylla

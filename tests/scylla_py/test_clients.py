"""The other real clients against a server process: scylla-driver (in its own virtualenv), PyPI
cqlsh and scylla-cqlsh, with `-e` and `-f` scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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

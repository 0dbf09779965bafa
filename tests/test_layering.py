"""Enforces the import directions of ARCHITECTURE.md.

scylla_py -> cql, topology -> raft, storage. `raft` and `storage` import nothing else from the
project; `cql` never imports storage, raft or topology; `topology` never imports scylla_py or cql.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scylla_py", "cql", "storage", "raft", "topology")
FORBIDDEN: dict[str, set[str]] = {
    "raft": {"scylla_py", "cql", "storage", "topology"},
    "storage": {"scylla_py", "cql", "raft", "topology"},
    "cql": {"scylla_py", "storage", "raft", "topology"},
    "topology": {"scylla_py", "cql"},
    "scylla_py": set(),
}


def _imported_top_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_import_directions(package: str) -> None:
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_top_packages(path) & FORBIDDEN[package]
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_checker_detects_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import storage.engine\nfrom cql import types\n")
    assert _imported_top_packages(sample) == {"storage", "cql"}

"""Both real drivers (cassandra-driver and scylla-driver, each in its own virtualenv) against a
socket server built on the codec: version step-down, lz4, rows, prepared, errors, extensions."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cql.protocol.live_server import TABLET_HOST, live_server

ROOT = Path(__file__).resolve().parents[3]
CLIENT = Path(__file__).with_name("driver_client.py")
STOCK_PYTHON = ROOT / ".venv" / "bin" / "python"
SCYLLA_PYTHON = ROOT / ".venv-scylla" / "bin" / "python"
EXPECTED_ROWS = [[1, "one", ["a"]], [2, None, ["a"]], [-3, "ünï", ["a"]]]


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with live_server() as p:
        yield p


def _run(python: Path, port: int) -> dict[str, Any]:
    if not python.exists():
        pytest.skip(f"{python} not installed")
    proc = subprocess.run([str(python), str(CLIENT), str(port)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _common(result: dict[str, Any]) -> None:
    assert result["lower"] == 4
    for key in ("v4", "v3"):
        r = result[key]
        assert r["compressor"] is True, "lz4 negotiated"
        assert r["rows"] == EXPECTED_ROWS
        assert r["columns"] == ["k", "v", "tags"]
        assert r["paging_state"] == "page-2"
        assert r["register"] == "ReadyMessage"
        assert r["use"] == "ks"
        assert r["executed"] == [[42, "executed", ["a"]]]
        assert r["FAIL unavailable"][0] == "Unavailable"
    assert result["v4"]["pk_indexes"] == [0] and result["v3"]["pk_indexes"] is None
    assert result["v4"]["warnings"] == ["Batch too large"] and result["v3"]["warnings"] is None
    assert not result["v3"]["has_tablet_payload"]  # v3 has no custom payloads


def test_cassandra_driver(port: int) -> None:
    result = _run(STOCK_PYTHON, port)
    assert not result["scylla"]
    assert result["refused"] == {"66": "unsupported", "65": "unsupported", "5": "unsupported"}
    _common(result)
    # Without the extensions the rate-limit error degrades to CONFIG_ERROR and the tablets
    # routing hint is withheld.
    assert result["v4"]["FAIL rate"][0] == "ConfigurationException"
    assert not result["v4"]["has_tablet_payload"]


def test_scylla_driver(port: int) -> None:
    result = _run(SCYLLA_PYTHON, port)
    assert result["scylla"]
    assert result["refused"] == {"5": "unsupported"}
    _common(result)
    for key in ("v4", "v3"):
        assert result[key]["is_lwt"] is False and result[key]["lwt_is_lwt"] is True
        assert result[key]["FAIL rate"][0] == "RateLimitReached"
    assert result["v4"]["has_tablet_payload"]
    assert result["v4"]["tablet"] == [-100, 200, [[str(TABLET_HOST), 3]]]


if __name__ == "__main__":  # pragma: no cover - manual debugging aid
    with live_server() as p:
        print(_run(Path(sys.executable), p))

"""Packaging: the Docker entrypoint's flag translation, the Dockerfile and the systemd unit.

There is no Docker engine or systemd here, so the entrypoint runs directly (as the image would run
it) with --print-command, and the Dockerfile and unit file are checked as text against what the
rest of the project expects (ports, CLI flags, paths that must exist).
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scylla_py.config import CLI_FLAGS, Config

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "packaging" / "docker-entrypoint.py"
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "packaging" / "scylla-py.service"
CONFIG_DOC = ROOT / "docs" / "configuration.md"

# Flags `scylla-py serve` accepts (see docs/configuration.md): the override flags plus these.
SERVE_FLAGS = set(CLI_FLAGS) | {"--config", "--no-developer-mode"}


def run_entrypoint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ENTRYPOINT), *args], capture_output=True, text=True,
                          timeout=30, check=False)


def translate(*args: str) -> tuple[list[str], str]:
    proc = run_entrypoint("--print-command", *args)
    assert proc.returncode == 0, proc.stderr
    return shlex.split(proc.stdout), proc.stderr


def options(command: list[str]) -> dict[str, str | None]:
    """`scylla-py serve --a 1 --switch` -> {"--a": "1", "--switch": None}."""
    assert command[:2] == ["scylla-py", "serve"]
    out: dict[str, str | None] = {}
    rest = command[2:]
    i = 0
    while i < len(rest):
        flag = rest[i]
        assert flag.startswith("--"), rest
        if i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            out[flag] = rest[i + 1]
            i += 2
        else:
            out[flag] = None
            i += 1
    return out


# -- entrypoint -------------------------------------------------------------------------------


def test_scylladb_flags_are_translated() -> None:
    command, _ = translate(
        "--seeds", "10.0.0.1,10.0.0.2", "--listen-address", "10.0.0.5", "--broadcast-address=1.2.3.4",
        "--broadcast-rpc-address", "5.6.7.8", "--rpc-address", "0.0.0.0", "--api-address", "0.0.0.0",
        "--smp=2", "--cluster-name", "My Cluster", "--developer-mode", "0",
    )
    opts = options(command)
    assert opts["--seeds"] == "10.0.0.1,10.0.0.2"
    assert opts["--listen-address"] == "10.0.0.5"
    assert opts["--broadcast-address"] == "1.2.3.4"
    assert opts["--broadcast-rpc-address"] == "5.6.7.8"
    assert opts["--rpc-address"] == "0.0.0.0"
    assert opts["--api-address"] == "0.0.0.0"
    assert opts["--smp"] == "2"
    assert opts["--cluster-name"] == "My Cluster"
    assert "--no-developer-mode" in opts and "--developer-mode" not in opts
    assert opts["--workdir"] == "/var/lib/scylla"


def test_defaults_follow_the_scylladb_image() -> None:
    opts = options(translate()[0])
    assert "--developer-mode" in opts  # developer mode on by default, as ScyllaDB's image
    assert opts["--listen-address"]
    assert opts["--rpc-address"] == opts["--listen-address"]
    assert opts["--seeds"] == opts["--listen-address"]  # "its own IP address as the seed"
    assert "--smp" not in opts


def test_seeds_default_to_the_broadcast_address() -> None:
    opts = options(translate("--listen-address", "10.0.0.5", "--broadcast-address", "1.2.3.4")[0])
    assert opts["--seeds"] == "1.2.3.4"


@pytest.mark.parametrize(("value", "switch"), [("1", "--developer-mode"), ("true", "--developer-mode"),
                                               ("0", "--no-developer-mode"), ("false", "--no-developer-mode")])
def test_developer_mode_values(value: str, switch: str) -> None:
    assert options(translate("--developer-mode", value)[0]).keys() >= {switch}


def test_seastar_resource_flags_are_accepted_and_ignored_with_a_note() -> None:
    command, stderr = translate("--memory", "1G", "--overprovisioned=1", "--cpuset", "0-1",
                                "--reactor-backend=epoll", "--disable-version-check", "--smp", "1")
    opts = options(command)
    assert not {"--memory", "--overprovisioned", "--cpuset", "--reactor-backend"} & opts.keys()
    for flag in ("--memory", "--overprovisioned", "--cpuset", "--reactor-backend", "--disable-version-check"):
        assert flag in stderr


def test_scylla_py_serve_flags_pass_through() -> None:
    opts = options(translate("--native-transport-port", "9043", "--api-port", "10001", "--workdir", "/data",
                             "--commitlog-sync", "batch", "--config", "/c.yaml")[0])
    assert (opts["--native-transport-port"], opts["--api-port"]) == ("9043", "10001")
    assert (opts["--workdir"], opts["--commitlog-sync"], opts["--config"]) == ("/data", "batch", "/c.yaml")


@pytest.mark.parametrize(("args", "message"), [
    (("--bogus", "1"), "unknown option --bogus"),
    (("--smp", "zero"), "--smp"),
    (("--smp", "0"), "--smp"),
    (("--developer-mode", "maybe"), "--developer-mode"),
    (("--seeds",), "needs a value"),
    (("positional",), "unexpected argument"),
])
def test_bad_arguments_exit_2(args: tuple[str, ...], message: str) -> None:
    proc = run_entrypoint("--print-command", *args)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""


def test_every_emitted_flag_is_a_documented_serve_flag() -> None:
    command, _ = translate("--seeds", "a", "--broadcast-address", "b", "--broadcast-rpc-address", "c",
                           "--api-address", "d", "--smp", "1", "--cluster-name", "e",
                           "--native-transport-port", "1", "--api-port", "2", "--prometheus-port", "3",
                           "--commitlog-sync", "batch", "--config", "/x")
    doc = CONFIG_DOC.read_text()
    for flag in options(command):
        assert flag in SERVE_FLAGS, flag
        assert f"`{flag}" in doc, f"{flag} is not documented in docs/configuration.md"


def test_entrypoint_is_executable_with_a_shebang() -> None:
    assert ENTRYPOINT.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(ENTRYPOINT, os.X_OK)


# -- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_base_ports_and_entrypoint() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    exposed = {int(p) for kw, rest in instructions if kw == "EXPOSE" for p in rest.split()}
    c = Config()
    assert exposed == {c.native_transport_port, c.native_shard_aware_transport_port, c.storage_port,
                       c.api_port, c.prometheus_port}
    entrypoint = [rest for kw, rest in instructions if kw == "ENTRYPOINT"]
    assert entrypoint == ['["python", "/docker-entrypoint.py"]']


def test_dockerfile_copies_files_that_exist() -> None:
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY":
            *sources, _dest = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    copied = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "COPY")
    assert "packaging/docker-entrypoint.py /docker-entrypoint.py" in copied
    assert "conf/scylla.yaml /etc/scylla/scylla.yaml" in copied  # where the entrypoint looks


def test_dockerfile_installs_every_package() -> None:
    copied = {rest.split()[0] for kw, rest in dockerfile_instructions() if kw == "COPY"}
    for package in ("scylla_py", "cql", "storage", "raft", "topology"):
        assert package in copied


def test_healthcheck_uses_the_rest_api_port() -> None:
    health = [rest for kw, rest in dockerfile_instructions() if kw == "HEALTHCHECK"]
    assert len(health) == 1 and f":{Config().api_port}/storage_service/operation_mode" in health[0]


# -- systemd unit -----------------------------------------------------------------------------


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["Type"] == "simple"
    assert service["KillSignal"] == "SIGTERM"
    assert re.fullmatch(r"\d+", service["TimeoutStopSec"]) and int(service["TimeoutStopSec"]) >= 60
    assert int(service["LimitNOFILE"]) >= 65536
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start[1:3] == ["serve", "--config"] and exec_start[0].endswith("scylla-py")
    assert set(options(["scylla-py", *exec_start[1:]])) <= SERVE_FLAGS
    assert unit["Install"]["WantedBy"] == "multi-user.target"

"""Test harness: real `scylla-py serve` processes on loopback, for tests and dtests.

Owns starting a node as a subprocess with its own work directory and free ports, waiting until it
serves CQL, and stopping it cleanly (SIGTERM), killing it (SIGKILL) or restarting it on the same
work directory. Only ever binds and connects to 127.0.0.x addresses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCYLLA_VENV_PYTHON = ROOT / ".venv-scylla" / "bin" / "python"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before serving")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s} s")


@dataclass
class ServerProcess:
    workdir: Path
    host: str = "127.0.0.1"
    extra_args: list[str] = field(default_factory=list)
    cql_port: int = field(default_factory=free_port)
    shard_aware_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _backs_before_kill: dict[int, int] = field(default_factory=dict)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "scylla_py", "serve",
            "--workdir", str(self.workdir),
            "--listen-address", self.host, "--rpc-address", self.host, "--api-address", self.host,
            "--native-transport-port", str(self.cql_port),
            "--native-shard-aware-transport-port", str(self.shard_aware_port),
            "--api-port", str(self.api_port),
            "--prometheus-port", str(self.prometheus_port),
            *self.extra_args,
        ]

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        env = dict(os.environ)
        with open(self.log_path, "ab") as log:
            # Its own session: `kill()` takes down the supervisor and every shard process at once,
            # as a machine crash would.
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env=env, start_new_session=True)
        try:
            wait_for_port(self.host, self.cql_port, timeout_s, self.proc)
        except Exception:
            self.kill()
            raise RuntimeError(f"server did not start; log:\n{self.log()}") from None
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait: the node drains and exits."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL the supervisor and all its shard processes (nothing gets to flush)."""
        if self.proc is not None:
            pgid = self.proc.pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # shards are reaped by init; wait until they are gone
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)

    def shard_pids(self) -> dict[int, int]:
        """Shard number -> pid of the supervisor's live shard processes (from /proc)."""
        assert self.proc is not None
        out: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and b"_shard" in args:
                out[int(args[args.index(b"--shard") + 1])] = int(entry.name)
        return out

    def kill_shard(self, shard: int) -> int:
        """SIGKILL one shard process; the supervisor restarts it. Returns the killed pid."""
        pid = self.shard_pids()[shard]
        self._backs_before_kill[shard] = self.log().count(f"shard {shard} is back")
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_shard_restarted(self, shard: int, old_pid: int, timeout_s: float = 60.0) -> int:
        """Wait until the supervisor reports `shard` back after a restart; its new pid."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.shard_pids().get(shard)
            backs = self.log().count(f"shard {shard} is back")
            if pid is not None and pid != old_pid and backs > self._backs_before_kill.get(shard, 0):
                return pid
            time.sleep(0.1)
        raise TimeoutError(f"shard {shard} did not come back; log:\n{self.log()[-4000:]}")

    def restart(self) -> ServerProcess:
        if self.proc is not None:
            self.stop()
        return self.start()

    @property
    def contact_point(self) -> tuple[str, int]:
        return (self.host, self.cql_port)

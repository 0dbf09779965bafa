#!/usr/bin/env python3
"""Docker entrypoint: accept the ScyllaDB image's flags and exec `scylla-py serve`.

The ScyllaDB image (`docker run scylladb/scylla --seeds ... --smp 2 --developer-mode 0`) takes
its own flags and turns them into scylla options; this does the same for scylla-py, so the
commands people already use with ScyllaDB's image work unchanged.

Translation (flags take `--flag value` or `--flag=value`):
- --seeds, --listen-address, --broadcast-address, --broadcast-rpc-address, --rpc-address,
  --api-address, --cluster-name, --smp: passed through;
- --developer-mode 0|1: --no-developer-mode / --developer-mode (the image default is 1, as
  ScyllaDB's);
- --memory, --overprovisioned, --cpuset, --reactor-backend, --io-setup, --disable-version-check,
  --experimental-features: accepted for compatibility and ignored (Seastar resource settings
  have no scylla-py equivalent), with a note on stderr;
- scylla-py's own serve flags (--workdir, --native-transport-port, --api-port, --prometheus-port,
  --commitlog-sync, --config) pass through;
- anything else: an error (exit status 2), so a typo is not silently dropped.

Defaults, as in ScyllaDB's image: the listen and rpc addresses are the container's own address,
the seeds default to the broadcast (else listen) address, the config is /etc/scylla/scylla.yaml
and the data lives in /var/lib/scylla.

`--print-command` prints the translated command (shell-quoted) instead of exec'ing it, for tests
and debugging. Standard library only: this runs before anything else in the container.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVE = ["scylla-py", "serve"]
DEFAULT_CONFIG = Path("/etc/scylla/scylla.yaml")
DEFAULT_WORKDIR = "/var/lib/scylla"

# ScyllaDB image flag -> scylla-py serve flag, value passed through unchanged.
PASSTHROUGH = {
    "--seeds": "--seeds",
    "--listen-address": "--listen-address",
    "--broadcast-address": "--broadcast-address",
    "--broadcast-rpc-address": "--broadcast-rpc-address",
    "--rpc-address": "--rpc-address",
    "--api-address": "--api-address",
    "--cluster-name": "--cluster-name",
    # scylla-py's own serve flags, for users of this image who want them.
    "--workdir": "--workdir",
    "--native-transport-port": "--native-transport-port",
    "--api-port": "--api-port",
    "--prometheus-port": "--prometheus-port",
    "--commitlog-sync": "--commitlog-sync",
    "--config": "--config",
}
# ScyllaDB image flags that take a value and have no scylla-py meaning.
IGNORED_WITH_VALUE = {"--memory", "--overprovisioned", "--cpuset", "--reactor-backend", "--io-setup",
                      "--experimental-features"}
IGNORED_SWITCHES = {"--disable-version-check"}


class UsageError(Exception):
    pass


@dataclass
class Translation:
    options: dict[str, str] = field(default_factory=dict)  # serve flag -> value
    smp: int | None = None
    developer_mode: bool = True
    notes: list[str] = field(default_factory=list)
    print_only: bool = False


def _parse_bool(flag: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise UsageError(f"{flag}: expected 0 or 1, got {value!r}")


def parse_args(argv: Sequence[str]) -> Translation:
    result = Translation()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--print-command":
            result.print_only = True
            continue
        if arg in IGNORED_SWITCHES:
            result.notes.append(f"{arg} is accepted for compatibility with the ScyllaDB image and ignored")
            continue
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument {arg!r}")
        flag, eq, value = arg.partition("=")
        known = flag in PASSTHROUGH or flag in IGNORED_WITH_VALUE or flag in ("--smp", "--developer-mode")
        if not known:
            raise UsageError(f"unknown option {flag}")
        if not eq:
            if i >= len(argv):
                raise UsageError(f"{flag} needs a value")
            value = argv[i]
            i += 1
        if flag in IGNORED_WITH_VALUE:
            result.notes.append(
                f"{flag} {value} is accepted for compatibility with the ScyllaDB image and ignored"
                " (scylla-py has no Seastar resource settings)")
        elif flag == "--smp":
            if not value.isdigit() or int(value) < 1:
                raise UsageError(f"--smp: expected a positive integer, got {value!r}")
            result.smp = int(value)
        elif flag == "--developer-mode":
            result.developer_mode = _parse_bool(flag, value)
        else:
            if not value:
                raise UsageError(f"{flag} needs a non-empty value")
            result.options[PASSTHROUGH[flag]] = value
    return result


def container_address() -> str:
    """The container's own IP address (what `hostname -i` prints in ScyllaDB's image)."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def build_command(t: Translation, default_address: str, config_exists: bool) -> list[str]:
    options = dict(t.options)
    if "--config" not in options and config_exists:
        options["--config"] = str(DEFAULT_CONFIG)
    options.setdefault("--workdir", DEFAULT_WORKDIR)
    options.setdefault("--listen-address", default_address)
    options.setdefault("--rpc-address", options["--listen-address"])
    # ScyllaDB's image: "If no --seeds option is specified, ScyllaDB uses its own IP address".
    options.setdefault("--seeds", options.get("--broadcast-address", options["--listen-address"]))
    command = list(SERVE)
    for flag, value in options.items():
        command += [flag, value]
    if t.smp is not None:
        command += ["--smp", str(t.smp)]
    command.append("--developer-mode" if t.developer_mode else "--no-developer-mode")
    return command


def main(argv: Sequence[str]) -> int:
    try:
        translation = parse_args(argv)
    except UsageError as e:
        print(f"docker-entrypoint: {e}", file=sys.stderr)
        return 2
    for note in translation.notes:
        print(f"docker-entrypoint: note: {note}", file=sys.stderr)
    command = build_command(translation, container_address(), DEFAULT_CONFIG.exists())
    if translation.print_only:
        print(shlex.join(command))
        return 0
    print(f"docker-entrypoint: exec {shlex.join(command)}", file=sys.stderr, flush=True)
    # exec replaces this process (PID 1 in the container), so `docker stop`'s SIGTERM reaches
    # the node's supervisor directly and starts an orderly drain.
    os.execvp(command[0], command)
    return 1  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The `scylla-py stress write|read|mixed` command line (click).

Owns option parsing and turning it into one `StressConfig`; usage errors exit with status 2 (click),
a run that cannot start exits 1 with the reason on stderr. The load itself is `runner.run`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .config import StressConfig, StressError, parse_consistency, parse_duration_s, parse_ratio

F = TypeVar("F", bound=Callable[..., Any])


def _common_options(f: F) -> F:
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Node to connect to."),
        click.option("--port", type=int, default=9042, show_default=True, help="Its CQL port."),
        click.option("--ops", type=int, default=None,
                     help="Operations to run in total (default 100000 unless --duration)."),
        click.option("--duration", default=None, help="Run for this long instead: 30s, 2m, 500ms."),
        click.option("--rows", type=int, default=None,
                     help="Key population: keys 0..rows-1 (default: --ops, or 100000 with --duration)."),
        click.option("--value-size", type=int, default=34, show_default=True, help="Bytes per column value."),
        click.option("--columns", type=int, default=5, show_default=True, help="Value columns C0..Cn-1."),
        click.option("--concurrency", type=int, default=64, show_default=True,
                     help="Requests in flight per process."),
        click.option("--processes", type=int, default=1, show_default=True, help="Client processes."),
        click.option("--consistency", default="LOCAL_ONE", show_default=True, help="Consistency level."),
        click.option("--interval", default="1s", show_default=True, help="Progress line period."),
        click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
                     help="Also write the summary as JSON to this file."),
        click.option("-u", "--user", default=None, help="User name (PasswordAuthenticator)."),
        click.option("-p", "--password", default=None, help="Password."),
        click.option("--keyspace", default="keyspace1", show_default=True),
        click.option("--table", default="standard1", show_default=True),
        click.option("--no-shard-aware", "no_shard_aware", is_flag=True,
                     help="Do not route by shard: use the regular port round-robin."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group()
def stress() -> None:
    """Load generator: prepared writes and reads of a cassandra-stress style table, routed to the
    shard that owns each key (tablets-routing-v1 hints, shard-aware port)."""


@stress.command()
@_common_options
def write(**options: Any) -> None:
    """Insert rows (keys in order)."""
    _run("write", None, options)


@stress.command()
@_common_options
def read(**options: Any) -> None:
    """Read rows by key (keys at random); reports reads that found no row."""
    _run("read", None, options)


@stress.command()
@_common_options
@click.option("--ratio", default="write=1,read=1", show_default=True, help="Op weights, e.g. write=1,read=3.")
def mixed(ratio: str, **options: Any) -> None:
    """Writes and reads mixed by --ratio."""
    _run("mixed", ratio, options)


def _run(command: str, ratio_text: str | None, o: dict[str, Any]) -> None:
    from . import runner

    try:
        cfg = _config(command, ratio_text, o)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        status = runner.run(cfg)
    except StressError as exc:
        click.echo(f"scylla-py stress: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("scylla-py stress: interrupted", err=True)
        sys.exit(130)
    sys.exit(status)


def _config(command: str, ratio_text: str | None, o: dict[str, Any]) -> StressConfig:
    duration_s = parse_duration_s(o["duration"]) if o["duration"] is not None else None
    ops = o["ops"]
    if ops is not None and duration_s is not None:
        raise ValueError("give --ops or --duration, not both")
    if ops is None and duration_s is None:
        ops = 100_000
    rows = o["rows"] if o["rows"] is not None else (ops if ops is not None else 100_000)
    ratio = {"write": 1, "read": 0} if command == "write" else {"write": 0, "read": 1}
    if ratio_text is not None:
        ratio = parse_ratio(ratio_text)
    return StressConfig(
        command=command, host=o["host"], port=o["port"], ops=ops, duration_s=duration_s, rows=rows,
        value_size=o["value_size"], columns=o["columns"], concurrency=o["concurrency"],
        processes=o["processes"], ratio=ratio, consistency=parse_consistency(o["consistency"]),
        interval_s=parse_duration_s(o["interval"]), json_path=o["json_path"], user=o["user"],
        password=o["password"], keyspace=o["keyspace"], table=o["table"],
        shard_aware=not o["no_shard_aware"],
    )

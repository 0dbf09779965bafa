"""The `scylla-py` command line (click): `serve` starts a node.

Owns argument parsing and process set-up (logging, the event loop policy) only; configuration is
validated by `scylla_py.config`, the supervisor lives in `scylla_py.supervisor` and each shard
process in `scylla_py.daemon` (started through the hidden `_shard` command).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from . import __version__
from .config import ConfigError, load_config


@click.group()
@click.version_option(__version__, prog_name="scylla-py")
def main() -> None:
    """scylla-py: a CQL database server that behaves like ScyllaDB 6."""


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="scylla.yaml to read (default: conf/scylla.yaml if it exists).")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), help="Work directory (data, commitlog).")
@click.option("--cluster-name")
@click.option("--listen-address")
@click.option("--rpc-address")
@click.option("--broadcast-address")
@click.option("--broadcast-rpc-address")
@click.option("--api-address")
@click.option("--seeds", help="Comma-separated seed addresses.")
@click.option("--smp", type=int, help="Number of shards (one process each).")
@click.option("--developer-mode/--no-developer-mode", default=None)
@click.option("--native-transport-port", type=int)
@click.option("--native-shard-aware-transport-port", type=int)
@click.option("--api-port", type=int)
@click.option("--prometheus-port", type=int)
@click.option("--commitlog-sync", type=click.Choice(["periodic", "batch"]))
@click.option("--log-level", default=None, help="debug, info, warning, error (default from config).")
def serve(config_path: Path | None, log_level: str | None, **flags: object) -> None:
    """Start a node and serve until SIGTERM/SIGINT, then drain and exit 0."""
    if config_path is None:
        default = Path("conf/scylla.yaml")
        config_path = default if default.exists() else None
    try:
        config = load_config(config_path, flags)
    except ConfigError as e:
        click.echo(f"scylla-py: configuration error: {e}", err=True)
        sys.exit(2)
    level = (log_level or config.default_log_level).upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _install_uvloop()
    from .supervisor import run_supervisor

    sys.exit(asyncio.run(run_supervisor(config)))


@main.command(name="_shard", hidden=True)
@click.option("--shard", type=int, required=True)
@click.option("--shard-count", type=int, required=True)
@click.option("--control-fd", type=int, required=True)
@click.option("--log-level", default="INFO")
def shard_process(shard: int, shard_count: int, control_fd: int, log_level: str) -> None:
    """One shard process; started by `serve` (the supervisor), not by people."""
    import socket

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format=f"%(asctime)s %(levelname)s shard-{shard} %(name)s: %(message)s")
    _install_uvloop()
    from .daemon import run_shard

    channel = socket.socket(fileno=control_fd)
    try:
        asyncio.run(run_shard(shard, shard_count, channel))
    except OSError as e:
        logging.getLogger(__name__).error("shard %d cannot run: %s", shard, e)
        sys.exit(1)


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without it
        logging.getLogger(__name__).warning("uvloop not available; using the default event loop")


from .nodetool import nodetool  # noqa: E402

main.add_command(nodetool)

from .stress import stress  # noqa: E402

main.add_command(stress)

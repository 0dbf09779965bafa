"""`scylla-py nodetool`: inspect and operate a node through its REST API, as ScyllaDB's nodetool.

Owns the commands (click), which REST calls each makes, and the text they print. Output follows
the layout of ScyllaDB's/Cassandra's nodetool (same headings, labels and column order) so people
and scripts used to it can read it. It prints only figures the node really measures: lines of
the original whose figure we do not have (latencies, caches, heap, bloom filter counters...) are
left out rather than shown as invented zeros, and an unknown value is printed as "?", as nodetool
does.

Talks only JSON over HTTP (`scylla_py.rest.client`); it imports nothing of the node itself.
Failures (node unreachable, an error answer such as an unknown keyspace) are printed to stderr
with the node's message, and the command exits with status 1; bad arguments exit with 2.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import click

from .rest.client import RestClient, RestError, rest_path

__all__ = ["nodetool"]

_OWNERSHIP_NOTE = ("Note: Non-system keyspaces don't have the same replication settings, "
                   "effective ownership information is meaningless")
_RING_WARNING = ('  Warning: "nodetool ring" is used to output all the tokens of a node.\n'
                 '  To view status related info of a node use "nodetool status" instead.\n')
_UNITS = (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10))
_NODE_STATES = ("joining", "leaving", "moving")
# (label in `tablestats`, key in its JSON output, ScyllaDB metric, is a size in bytes)
_TABLE_FIGURES = (
    ("SSTable count", "sstable_count", "live_ss_table_count", False),
    ("Space used (live)", "space_used_live", "live_disk_space_used", True),
    ("Number of partitions (estimate)", "number_of_partitions_estimate", "estimated_row_count", False),
    ("Memtable data size", "memtable_data_size", "all_memtables_live_data_size", True),
)


# -- formatting -------------------------------------------------------------------------------


def file_size(size: float) -> str:
    """A byte count as nodetool prints loads: 1024-based units, at most two decimals."""
    for unit, scale in _UNITS:
        if size >= scale:
            return f"{_two_decimals(size / scale)} {unit}"
    return f"{_two_decimals(size)} bytes"


def _two_decimals(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def tabulate(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by one space (nodetool's layout), no trailing blanks."""
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))] if rows else []
    return [" ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _pairs(mapper: Any) -> list[tuple[str, Any]]:
    """A ScyllaDB "mapper" answer ([{"key": k, "value": v}, ...]) as (k, v) pairs, in order."""
    return [(entry["key"], entry["value"]) for entry in mapper]


def _bool(value: Any) -> str:
    return "true" if value else "false"


# -- the command group ----------------------------------------------------------------------


class _NodetoolGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RestError as e:
            raise click.ClickException(e.message) from e


@click.group(cls=_NodetoolGroup)
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address of the node's REST API.")
@click.option("-p", "--port", type=click.IntRange(1, 65535), default=10000, show_default=True,
              help="The node's REST API port (api_port).")
@click.pass_context
def nodetool(ctx: click.Context, host: str, port: int) -> None:
    """Inspect and operate a node through its REST API (a subset of ScyllaDB's nodetool)."""
    client = RestClient(host, port)
    ctx.call_on_close(client.close)
    ctx.obj = client


class _Topology:
    """What status and ring show about every node: liveness, topology state, load, location."""

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self.live = set(client.get("/gossiper/endpoint/live"))
        self.down = set(client.get("/gossiper/endpoint/down"))
        self.states = {state: set(client.get(f"/storage_service/nodes/{state}")) for state in _NODE_STATES}
        self.load = dict(_pairs(client.get("/storage_service/load_map")))
        self.host_ids: dict[str, str] = dict(_pairs(client.get("/storage_service/host_id")))
        self._locations: dict[str, tuple[str, str]] = {}

    def location(self, endpoint: str) -> tuple[str, str]:
        """(datacenter, rack) of a node, asked once per node."""
        if endpoint not in self._locations:
            params = {"host": endpoint}
            self._locations[endpoint] = (self.client.get("/snitch/datacenter", params),
                                         self.client.get("/snitch/rack", params))
        return self._locations[endpoint]

    def status(self, endpoint: str) -> str:
        return "Up" if endpoint in self.live else "Down" if endpoint in self.down else "?"

    def state(self, endpoint: str) -> str:
        for state in _NODE_STATES:
            if endpoint in self.states[state]:
                return state.capitalize()
        return "Normal"

    def load_of(self, endpoint: str) -> str:
        return file_size(self.load[endpoint]) if endpoint in self.load else "?"

    def by_datacenter(self, endpoints: Iterable[str]) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for endpoint in dict.fromkeys(endpoints):
            groups[self.location(endpoint)[0]].append(endpoint)
        return dict(sorted(groups.items()))


def _ownership(client: RestClient, keyspace: str, table: str | None) -> dict[str, float]:
    answer = client.get(rest_path("storage_service", "ownership", keyspace), {"cf": table} if table else None)
    return {endpoint: float(fraction) for endpoint, fraction in _pairs(answer)}


def _uses_tablets(client: RestClient, keyspace: str) -> bool:
    return keyspace in client.get("/storage_service/keyspaces", {"replication": "tablets"})


# -- status -----------------------------------------------------------------------------------


@nodetool.command()
@click.argument("keyspace", required=False)
@click.argument("table", required=False)
@click.pass_obj
def status(client: RestClient, keyspace: str | None, table: str | None) -> None:
    """Each node: up/down, state, load, tokens, ownership, host id and rack.

    With KEYSPACE (and TABLE for a tablets keyspace), "Owns (effective)" is the share of the
    token ring the node holds replicas of; for a tablets table, "Tokens" counts its tablets
    whose primary replica is the node.
    """
    topology = _Topology(client)
    tablets_keyspace = keyspace is not None and _uses_tablets(client, keyspace)
    ownership: dict[str, float] | None = None
    if keyspace is not None and (table is not None or not tablets_keyspace):
        ownership = _ownership(client, keyspace, table)
    token_params = {"keyspace": keyspace, "cf": table} if tablets_keyspace and keyspace and table else None
    tokens = Counter(endpoint for _token, endpoint in _pairs(client.get("/storage_service/tokens_endpoint",
                                                                        token_params)))
    token_count_known = not (tablets_keyspace and table is None)
    endpoints = [*tokens, *topology.host_ids]
    for dc, members in topology.by_datacenter(endpoints).items():
        heading = f"Datacenter: {dc}"
        click.echo(f"{heading}\n{'=' * len(heading)}\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving")
        rows = [["--", "Address", "Load", "Tokens", "Owns (effective)" if keyspace else "Owns", "Host ID", "Rack"]]
        for endpoint in sorted(members):
            owns = "?"
            if ownership is not None and endpoint in ownership:
                owns = f"{ownership[endpoint] * 100:.1f}%"
            rows.append([
                topology.status(endpoint)[0] + topology.state(endpoint)[0],
                endpoint,
                topology.load_of(endpoint),
                str(tokens[endpoint]) if token_count_known else "?",
                owns,
                topology.host_ids.get(endpoint, "?"),
                topology.location(endpoint)[1],
            ])
        for line in tabulate(rows):
            click.echo(line)
    click.echo()
    if keyspace is None:
        click.echo(_OWNERSHIP_NOTE)


# -- info -------------------------------------------------------------------------------------


@nodetool.command()
@click.option("-T", "--tokens", "all_tokens", is_flag=True, help="Show every token of the node.")
@click.pass_obj
def info(client: RestClient, all_tokens: bool) -> None:
    """This node: host id, what is running, load, generation, uptime, location, tokens."""
    lines: list[tuple[str, object]] = [
        ("ID", client.get("/storage_service/hostid/local")),
        ("Gossip active", _bool(client.get("/storage_service/gossiping"))),
        ("Native Transport active", _bool(client.get("/storage_service/native_transport"))),
        ("Load", file_size(client.get("/storage_service/load"))),
        ("Generation No", client.get("/storage_service/generation_number")),
        ("Uptime (seconds)", client.get("/system/uptime_ms") // 1000),
        ("Data Center", client.get("/snitch/datacenter")),
        ("Rack", client.get("/snitch/rack")),
    ]
    tokens = client.get("/storage_service/tokens")
    if len(tokens) == 1 or all_tokens:
        lines += [("Token", token) for token in tokens]
    else:
        lines.append(("Token", f"(invoke with -T/--tokens to see all {len(tokens)} tokens)"))
    for label, value in lines:
        click.echo(f"{label:<23}: {value}")


# -- ring and tablets -------------------------------------------------------------------------


def _ring_lines(rows: list[list[str]], wrap_token: str | None) -> list[str]:
    """ScyllaDB's ring layout: the address column as wide as needed, then fixed-width columns;
    with more than one row, a first line carrying the last token (where the ring wraps)."""
    address_width = max([len("Address"), *(len(row[0]) for row in rows)])
    widths = (12, 7, 8, 16, 20, 44)

    def line(cells: Sequence[str]) -> str:
        head, *rest = cells
        tail = "".join(cell.ljust(width) for cell, width in zip(rest, widths))
        tail += "".join(" " + cell for cell in rest[len(widths):])  # the Shard column, if any
        return (head.ljust(address_width) + "  " + tail).rstrip()

    header = ["Address", "Rack", "Status", "State", "Load", "Owns", "Token"]
    if rows and len(rows[0]) > len(header):
        header.append("Shard")
    out = [line(header)]
    out.append(line(["", "", "", "", "", "", wrap_token]) if wrap_token is not None and len(rows) > 1 else "")
    out += [line(row) for row in rows]
    return out


@nodetool.command()
@click.argument("keyspace", required=False)
@click.argument("table", required=False)
@click.pass_obj
def ring(client: RestClient, keyspace: str | None, table: str | None) -> None:
    """Every token of every node (the vnode ring), with status, load and ownership.

    With KEYSPACE and TABLE: that table's tablets instead, one line per tablet replica, showing
    the tablet's last token, the replica's node and its shard.
    """
    if keyspace is not None and table is None and _uses_tablets(client, keyspace):
        raise click.UsageError(f"keyspace {keyspace} uses tablets: give a table (nodetool ring {keyspace} <table>)")
    topology = _Topology(client)
    ownership = _ownership(client, keyspace, table) if keyspace is not None else {}
    entries: list[tuple[str, str, str | None]]  # (token, endpoint, shard)
    if keyspace is not None and table is not None:
        entries = [(t["last_token"], r["endpoint"] or r["host_id"], str(r["shard"]))
                   for t in client.get(rest_path("scylla_py", "tablets", keyspace, table)) for r in t["replicas"]]
    else:
        entries = [(token, endpoint, None) for token, endpoint in _pairs(client.get("/storage_service/tokens_endpoint"))]
    for dc, members in topology.by_datacenter(endpoint for _token, endpoint, _shard in entries).items():
        rows = []
        for token, endpoint, shard in entries:
            if endpoint not in members:
                continue
            owns = f"{ownership[endpoint] * 100:.2f}%" if endpoint in ownership else "?"
            row = [endpoint, topology.location(endpoint)[1], topology.status(endpoint), topology.state(endpoint),
                   topology.load_of(endpoint), owns, token]
            rows.append(row if shard is None else [*row, shard])
        click.echo(f"\nDatacenter: {dc}\n==========")
        for line in _ring_lines(rows, rows[-1][6] if rows else None):
            click.echo(line)
    if any(count > 1 for count in Counter(endpoint for _token, endpoint, _shard in entries).values()):
        click.echo("\n" + _RING_WARNING + "\n")
    if keyspace is None:
        click.echo("  " + _OWNERSHIP_NOTE)


@nodetool.command()
@click.argument("keyspace")
@click.argument("table")
@click.pass_obj
def tablets(client: RestClient, keyspace: str, table: str) -> None:
    """The tablets of a table: each one's token range (first, last] and its replicas (node, shard).

    (scylla-py's own command; ScyllaDB shows this in the CQL table system.tablets.)
    """
    listing = client.get(rest_path("scylla_py", "tablets", keyspace, table))
    click.echo(f"Keyspace: {keyspace}\nTable: {table}\nTablet count: {len(listing)}\n")
    rows = [["Tablet", "First token", "Last token", "Replicas"]]
    for i, t in enumerate(listing):
        replicas = ", ".join(f"{r['endpoint'] or r['host_id']} (shard {r['shard']})" for r in t["replicas"])
        rows.append([str(i), t["first_token"], t["last_token"], replicas])
    for line in tabulate(rows):
        click.echo(line)


# -- flush, compact, drain, version -----------------------------------------------------------


def _table_params(tables: Sequence[str]) -> dict[str, str]:
    return {"cf": ",".join(tables)} if tables else {}


@nodetool.command()
@click.argument("keyspace", required=False)
@click.argument("tables", nargs=-1)
@click.pass_obj
def flush(client: RestClient, keyspace: str | None, tables: tuple[str, ...]) -> None:
    """Flush memtables to sstables: every table, a keyspace's, or the given tables of a keyspace."""
    if keyspace is None:
        client.post("/storage_service/flush")
    else:
        client.post(rest_path("storage_service", "keyspace_flush", keyspace), _table_params(tables))


@nodetool.command()
@click.argument("keyspace", required=False)
@click.argument("tables", nargs=-1)
@click.option("--flush-memtables/--no-flush-memtables", default=True, show_default=True,
              help="Flush memtables first, so their data is compacted too.")
@click.pass_obj
def compact(client: RestClient, keyspace: str | None, tables: tuple[str, ...], flush_memtables: bool) -> None:
    """Major compaction: every table, a keyspace's, or the given tables of a keyspace."""
    params = {**_table_params(tables), "flush_memtables": _bool(flush_memtables)}
    if keyspace is None:
        client.post("/storage_service/compact", params)
    else:
        client.post(rest_path("storage_service", "keyspace_compaction", keyspace), params)


@nodetool.command()
@click.pass_obj
def drain(client: RestClient) -> None:
    """Flush every memtable and stop taking writes (before stopping the node)."""
    client.post("/storage_service/drain")


@nodetool.command()
@click.pass_obj
def version(client: RestClient) -> None:
    """The Cassandra-compatible release version the node reports."""
    click.echo(f"ReleaseVersion: {client.get('/storage_service/release_version')}")


# -- tablestats / cfstats ---------------------------------------------------------------------


def _parse_table_filter(spec: str) -> tuple[str, str | None]:
    """"ks", "ks.table" or "ks/table" (the slash form allows dots in names; "ks.x/" is keyspace
    "ks.x" alone), as ScyllaDB's nodetool reads them."""
    keyspace, sep, table = spec.partition("/") if "/" in spec else spec.partition(".")
    if not keyspace or (sep == "." and not table):
        raise click.BadParameter(f"{spec!r} is not keyspace, keyspace.table or keyspace/table", param_hint="TABLES")
    return keyspace, table or None


def _select_tables(all_tables: list[tuple[str, str]], specs: Sequence[str]) -> list[tuple[str, str]]:
    if not specs:
        return all_tables
    keyspaces = {ks for ks, _table in all_tables}
    wanted: set[tuple[str, str]] = set()
    for keyspace, table in map(_parse_table_filter, specs):
        # The node's own wording for unknown names (as flush and compact report them).
        if keyspace not in keyspaces:
            raise click.ClickException(f"Can't find a keyspace {keyspace}")
        if table is not None and (keyspace, table) not in all_tables:
            raise click.ClickException(f"Can't find a column family {table} in keyspace {keyspace}")
        wanted |= {(ks, t) for ks, t in all_tables if ks == keyspace and table in (None, t)}
    return [kt for kt in all_tables if kt in wanted]


@nodetool.command()
@click.argument("tables", nargs=-1)
@click.option("-H", "--human-readable", is_flag=True, help="Sizes in KB, MB, GB... instead of bytes.")
@click.option("-F", "--format", "output_format", type=click.Choice(["plain", "json"]), default="plain",
              show_default=True)
@click.pass_obj
def tablestats(client: RestClient, tables: tuple[str, ...], human_readable: bool, output_format: str) -> None:
    """This node's figures for each table: sstables, space used, partitions, memtable size.

    TABLES selects keyspaces and tables (ks, ks.table or ks/table); default: all. Only figures
    the node measures are shown.
    """
    all_tables = [(entry["ks"], entry["cf"]) for entry in client.get("/column_family/")]
    by_keyspace: dict[str, dict[str, dict[str, int | str]]] = defaultdict(dict)
    for keyspace, table in _select_tables(all_tables, tables):
        figures: dict[str, int | str] = {}
        for _label, key, metric, is_size in _TABLE_FIGURES:
            value = client.get(rest_path("column_family", "metrics", metric, f"{keyspace}:{table}"))
            figures[key] = file_size(value) if is_size and human_readable else value
        by_keyspace[keyspace][table] = figures
    if output_format == "json":
        document: dict[str, object] = {"total_number_of_tables": len(all_tables)}
        document.update({ks: {"tables": stats} for ks, stats in sorted(by_keyspace.items())})
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"Total number of tables: {len(all_tables)}\n----------------")
    for keyspace, stats in sorted(by_keyspace.items()):
        click.echo(f"Keyspace : {keyspace}")
        for table, figures in stats.items():
            click.echo(f"\t\tTable: {table}")
            for label, key, _metric, _is_size in _TABLE_FIGURES:
                click.echo(f"\t\t{label}: {figures[key]}")
            click.echo()
        click.echo("----------------")


nodetool.add_command(tablestats, "cfstats")

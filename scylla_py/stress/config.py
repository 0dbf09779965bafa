"""The settings of one `scylla-py stress` run, and the parsing of the option values that need it.

Owns `StressConfig` (one frozen, picklable value handed to every worker process), the parsers of
durations ("30s", "2m", "500ms"), op ratios ("write=1,read=3") and consistency names, the schema
statements of the stress table, and `StressError`, the one exception that ends a run with a clear
message and a nonzero exit status.

Invariant: a StressConfig that exists is valid (its constructor checks every field), so workers
never re-validate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from cql.protocol import Consistency

OP_KINDS: Final = ("write", "read")
_IDENTIFIER: Final = re.compile(r"[A-Za-z0-9_]{1,48}")
_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(ms|s|m|h)?\s*")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class StressError(Exception):
    """A run cannot start or cannot go on (unreachable node, schema failure, lost connection)."""


def parse_duration_s(text: str) -> float:
    """"30s", "2m", "1.5h", "500ms" or a bare number of seconds; ValueError otherwise."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r} (examples: 30s, 2m, 500ms)")
    value = float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
    if value <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return value


def parse_ratio(text: str) -> dict[str, int]:
    """"write=1,read=3" -> {"write": 1, "read": 3}; kinds not named get weight 0."""
    ratio = dict.fromkeys(OP_KINDS, 0)
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in ratio:
            raise ValueError(f"invalid ratio entry {part!r}: expected KIND=WEIGHT with KIND in "
                             f"{', '.join(OP_KINDS)}")
        try:
            ratio[name] = int(weight)
        except ValueError:
            raise ValueError(f"invalid weight {weight!r} for {name}: expected an integer") from None
        if ratio[name] < 0:
            raise ValueError(f"weight of {name} must not be negative")
    if not any(ratio.values()):
        raise ValueError(f"ratio {text!r} gives every operation weight 0")
    return ratio


def parse_consistency(name: str) -> Consistency:
    try:
        return Consistency[name.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown consistency level {name!r} (one of: "
                         f"{', '.join(c.name for c in Consistency)})") from None


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class StressConfig:
    """One run. `ops` None means run for `duration_s`; `ratio` weights op kinds (see OP_KINDS)."""

    command: str
    host: str = "127.0.0.1"
    port: int = 9042
    ops: int | None = 100_000
    duration_s: float | None = None
    rows: int = 100_000
    value_size: int = 34
    columns: int = 5
    concurrency: int = 64
    processes: int = 1
    ratio: dict[str, int] = field(default_factory=lambda: {"write": 1, "read": 0})
    consistency: Consistency = Consistency.LOCAL_ONE
    interval_s: float = 1.0
    json_path: str | None = None
    user: str | None = None
    password: str | None = None
    keyspace: str = "keyspace1"
    table: str = "standard1"
    shard_aware: bool = True
    connect_timeout_s: float = 10.0
    # A request unanswered this long ends the run: the server is stuck, and a load generator that
    # waits forever measures nothing.
    stall_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.command not in ("write", "read", "mixed"):
            raise ValueError(f"unknown stress command {self.command!r}")
        if (self.ops is None) == (self.duration_s is None):
            raise ValueError("give exactly one of --ops and --duration")
        if self.ops is not None and self.ops < 1:
            raise ValueError("--ops must be at least 1")
        for name in ("rows", "columns", "concurrency", "processes"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1")
        if self.value_size < 0:
            raise ValueError("--value-size must not be negative")
        if self.columns > 1000:
            raise ValueError("--columns must be at most 1000")
        if self.concurrency > 30_000:
            raise ValueError("--concurrency must be at most 30000 (stream ids per connection)")
        if not 0 < self.port < 65536:
            raise ValueError(f"--port {self.port} out of range")
        if self.interval_s <= 0:
            raise ValueError("--interval must be positive")
        for name in ("keyspace", "table"):
            if not _IDENTIFIER.fullmatch(getattr(self, name)):
                raise ValueError(f"--{name} must be 1-48 letters, digits or underscores")
        if (self.user is None) != (self.password is None):
            raise ValueError("give both --user and --password, or neither")
        if not any(self.ratio.get(k, 0) for k in OP_KINDS):
            raise ValueError("the op ratio gives every operation weight 0")

    # --- derived facts -------------------------------------------------------------------------

    @property
    def kinds(self) -> tuple[str, ...]:
        """The op kinds this run issues, in OP_KINDS order."""
        return tuple(k for k in OP_KINDS if self.ratio.get(k, 0) > 0)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(f"C{i}" for i in range(self.columns))

    @property
    def qualified_table(self) -> str:
        return f"{quote_identifier(self.keyspace)}.{quote_identifier(self.table)}"

    def schema_statements(self) -> tuple[str, str]:
        """CREATE KEYSPACE and CREATE TABLE, both IF NOT EXISTS, replication factor 1 (tablets
        need NetworkTopologyStrategy in ScyllaDB 6). Columns as cassandra-stress: key blob
        PRIMARY KEY, "C0" blob, ..."""
        keyspace = (f"CREATE KEYSPACE IF NOT EXISTS {quote_identifier(self.keyspace)} WITH replication = "
                    "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}")
        columns = ", ".join(f"{quote_identifier(c)} blob" for c in self.column_names)
        table = f"CREATE TABLE IF NOT EXISTS {self.qualified_table} (key blob PRIMARY KEY, {columns})"
        return keyspace, table

    def insert_statement(self) -> str:
        names = ", ".join(["key", *(quote_identifier(c) for c in self.column_names)])
        markers = ", ".join("?" * (self.columns + 1))
        return f"INSERT INTO {self.qualified_table} ({names}) VALUES ({markers})"

    def select_statement(self) -> str:
        names = ", ".join(quote_identifier(c) for c in self.column_names)
        return f"SELECT {names} FROM {self.qualified_table} WHERE key = ?"

    def ops_of_worker(self, index: int) -> int | None:
        """This worker's share of `ops` (the remainder goes to the first workers)."""
        if self.ops is None:
            return None
        share, extra = divmod(self.ops, self.processes)
        return share + (1 if index < extra else 0)

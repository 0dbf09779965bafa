"""The node's configuration: one typed, frozen `Config`, validated when it is built.

Owns: the option table (name, type, default, validation), reading `scylla.yaml` with ScyllaDB's key
names, merging command-line overrides over it, the values that are derived from others (broadcast
addresses, data/commitlog/hints directories, shard count, datacenter/rack), and the rows of the
`system.config` virtual table.

Invariants:
- A `Config` that exists is valid: `__post_init__` checks (and normalises) every field and the
  cross-field rules, so hand-built configs in tests obey the same rules as loaded ones.
- Precedence: command-line override > `scylla.yaml` > built-in default. An override whose value is
  `None` means "flag not given" and does not override anything.
- A YAML key that ScyllaDB knows but scylla-py does not use is ignored with a DEBUG log; a key that
  neither knows is ignored with a WARNING (ScyllaDB also only warns on unknown options). A key we
  use with a wrong type or value is a `ConfigError` naming the key and where it came from.

Never: touch the filesystem beyond reading the config file (directories are created by the
daemon), resolve host names, or read the environment.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import yaml

logger = logging.getLogger(__name__)

__all__ = [
    "CLI_FLAGS",
    "Config",
    "ConfigError",
    "ConfigRow",
    "ConfigSource",
    "load_config",
    "option_names",
]


class ConfigError(Exception):
    """An invalid configuration value (or an unreadable config file).

    `key` is the option name (None for whole-file problems); `origin` says where the value came
    from: the config file's path, "command line", or "defaults".
    """

    def __init__(self, key: str | None, problem: str, origin: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.origin = origin
        parts = [p for p in (origin, key) if p]
        super().__init__(": ".join([*parts, problem]))


class ConfigSource(enum.Enum):
    """Where an option's value came from; the strings are what `system.config.source` shows."""

    DEFAULT = "default"
    FILE = "config"
    CLI = "cli"


class ConfigRow(NamedTuple):
    """One row of `system.config` (ScyllaDB's columns: name, type, source, value).

    `value` is the option's value rendered as JSON text, as ScyllaDB renders it.
    """

    name: str
    type: str
    source: str
    value: str


# ---------------------------------------------------------------------------------------------
# Field checkers. Each takes the raw value (from YAML, an override or a constructor argument) and
# returns the normalised value, or raises _Invalid with a human-readable problem. They must be
# idempotent: `check(check(x)) == check(x)`, because `Config.__post_init__` re-checks fields
# that load_config already normalised.


class _Invalid(Exception):
    pass


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _int(lo: int, hi: int | None = None) -> Callable[[object], int]:
    def check(value: object) -> int:
        # bool is an int subclass; `port: true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected an integer, got {_describe(value)}")
        if value < lo or (hi is not None and value > hi):
            bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise _Invalid(f"expected an integer {bound}, got {value}")
        return value

    return check


def _optional(check: Callable[[object], Any]) -> Callable[[object], Any]:
    def optional_check(value: object) -> Any:
        return None if value is None else check(value)

    return optional_check


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_describe(value)}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"expected a non-empty string, got {_describe(value)}")
    return value


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def _address(value: object) -> str:
    """An IPv4/IPv6 literal or a host name (resolved later, by whoever binds or connects)."""
    if not isinstance(value, str) or not value:
        raise _Invalid(f"expected an IP address or host name, got {_describe(value)}")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.match(value):
            raise _Invalid(f"{value!r} is neither an IP address nor a host name") from None
    return value


def _is_wildcard(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise _Invalid(f"expected a directory path, got {_describe(value)}")


def _paths(value: object) -> tuple[Path, ...]:
    if isinstance(value, str):
        value = [value]  # a single directory written as a scalar
    if not isinstance(value, (list, tuple)):
        raise _Invalid(f"expected a list of directory paths, got {_describe(value)}")
    return tuple(_path(v) for v in value)


def _seeds(value: object) -> tuple[str, ...]:
    """Seeds as a comma-separated string ("a,b", SimpleSeedProvider's format) or a sequence."""
    if isinstance(value, str):
        items: Sequence[object] = [s.strip() for s in value.split(",") if s.strip()]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise _Invalid(f"expected a comma-separated list of addresses, got {_describe(value)}")
    if not items:
        raise _Invalid("at least one seed address is required")
    return tuple(_address(s) for s in items)


def _choice(*choices: str, prefix: str | None = None) -> Callable[[object], str]:
    """One of `choices`; `prefix` (a Java package) may precede the name, as in Cassandra configs."""

    def check(value: object) -> str:
        if isinstance(value, str):
            name = value[len(prefix):] if prefix and value.startswith(prefix) else value
            if name in choices:
                return name
        raise _Invalid(f"expected one of {', '.join(choices)}, got {_describe(value)}")

    return check


_MURMUR3 = "org.apache.cassandra.dht.Murmur3Partitioner"


def _partitioner(value: object) -> str:
    if value in (_MURMUR3, "Murmur3Partitioner"):
        return _MURMUR3
    raise _Invalid(f"only {_MURMUR3} is supported, got {_describe(value)}")


class _Spec(NamedTuple):
    type_name: str  # system.config `type` column, in ScyllaDB's vocabulary
    check: Callable[[object], Any]


_PORT = _int(0, 65535)  # 0 = let the OS choose (tests)
_TIMEOUT_MS = _int(1)

_SPECS: Final[Mapping[str, _Spec]] = MappingProxyType({
    "cluster_name": _Spec("string", _str),
    "listen_address": _Spec("string", _address),
    "rpc_address": _Spec("string", _address),
    "broadcast_address": _Spec("string", _optional(_address)),
    "broadcast_rpc_address": _Spec("string", _optional(_address)),
    "native_transport_port": _Spec("integer", _PORT),
    "native_shard_aware_transport_port": _Spec("integer", _PORT),
    "storage_port": _Spec("integer", _PORT),
    "api_address": _Spec("string", _address),
    "api_port": _Spec("integer", _PORT),
    "prometheus_address": _Spec("string", _address),
    "prometheus_port": _Spec("integer", _PORT),
    "seeds": _Spec("seed provider type", _seeds),
    "endpoint_snitch": _Spec("string", _choice(
        "SimpleSnitch", "GossipingPropertyFileSnitch", prefix="org.apache.cassandra.locator.")),
    "dc": _Spec("string", _optional(_str)),
    "rack": _Spec("string", _optional(_str)),
    "workdir": _Spec("string", _path),
    "data_file_directories": _Spec("string list", _paths),
    "commitlog_directory": _Spec("string", _optional(_path)),
    "hints_directory": _Spec("string", _optional(_path)),
    "commitlog_sync": _Spec("string", _choice("periodic", "batch")),
    "commitlog_sync_period_in_ms": _Spec("integer", _int(1)),
    "commitlog_sync_batch_window_in_ms": _Spec("integer", _int(0)),
    "commitlog_segment_size_in_mb": _Spec("integer", _int(1, 2047)),
    "commitlog_total_space_in_mb": _Spec("integer", _int(-1)),
    "memtable_total_space_in_mb": _Spec("integer", _int(1)),
    "memtable_flush_threshold_in_mb": _Spec("integer", _int(1)),
    "native_transport_max_frame_size_in_mb": _Spec("integer", _int(1, 2047)),
    "authenticator": _Spec("string", _choice(
        "AllowAllAuthenticator", "PasswordAuthenticator", prefix="org.apache.cassandra.auth.")),
    "authorizer": _Spec("string", _choice(
        "AllowAllAuthorizer", "CassandraAuthorizer", prefix="org.apache.cassandra.auth.")),
    "smp": _Spec("integer", _optional(_int(1, 1024))),
    "developer_mode": _Spec("bool", _bool),
    "num_tokens": _Spec("integer", _int(1, 1536)),
    "enable_tablets": _Spec("bool", _bool),
    "tablets_initial_scale_factor": _Spec("integer", _int(1)),
    "target_tablet_size_in_bytes": _Spec("integer", _int(1)),
    "read_request_timeout_in_ms": _Spec("integer", _TIMEOUT_MS),
    "write_request_timeout_in_ms": _Spec("integer", _TIMEOUT_MS),
    "range_request_timeout_in_ms": _Spec("integer", _TIMEOUT_MS),
    "counter_write_request_timeout_in_ms": _Spec("integer", _TIMEOUT_MS),
    "cas_contention_timeout_in_ms": _Spec("integer", _TIMEOUT_MS),
    "truncate_request_timeout_in_ms": _Spec("integer", _TIMEOUT_MS),
    "request_timeout_in_ms": _Spec("integer", _TIMEOUT_MS),
    "partitioner": _Spec("string", _partitioner),
    "default_log_level": _Spec("string", _choice("trace", "debug", "info", "warn", "error")),
})

# Keys ScyllaDB's scylla.yaml may carry that scylla-py accepts and ignores (DEBUG log). Not
# exhaustive: anything else unknown is ignored with a WARNING, as ScyllaDB does.
_IGNORED_SCYLLA_KEYS: Final = frozenset({
    "alternator_address", "alternator_enforce_authorization", "alternator_port",
    "alternator_write_isolation", "api_doc_dir", "api_ui_dir", "auto_adjust_flush_quota",
    "auto_bootstrap", "auto_snapshot", "batch_size_fail_threshold_in_kb",
    "batch_size_warn_threshold_in_kb", "batchlog_replay_throttle_in_kb", "cache_hit_rate_read_balancing",
    "cas_contention_timeout_in_ms_unused", "client_encryption_options", "column_index_size_in_kb",
    "commit_failure_policy", "commitlog_reuse_segments", "commitlog_use_o_dsync",
    "compaction_large_cell_warning_threshold_mb", "compaction_large_partition_warning_threshold_mb",
    "compaction_large_row_warning_threshold_mb", "compaction_rows_count_warning_threshold",
    "compaction_static_shares", "compaction_throughput_mb_per_sec", "concurrent_compactors",
    "concurrent_counter_writes", "concurrent_reads", "concurrent_writes", "consistent_cluster_management",
    "counter_cache_save_period", "counter_cache_size_in_mb", "cross_node_timeout", "disk_failure_policy",
    "dynamic_snitch", "dynamic_snitch_badness_threshold", "dynamic_snitch_reset_interval_in_ms",
    "dynamic_snitch_update_interval_in_ms", "enable_ipv6_dns_lookup", "enable_keyspace_column_family_metrics",
    "enable_repair_based_node_ops", "enable_sstable_data_integrity_check", "enable_sstables_mc_format",
    "enable_sstables_md_format", "enable_user_defined_functions", "experimental", "experimental_features",
    "force_schema_commit_log", "hinted_handoff_enabled", "hinted_handoff_throttle_in_kb",
    "incremental_backups", "index_summary_capacity_in_mb", "index_summary_resize_interval_in_minutes",
    "initial_token", "inter_dc_stream_throughput_outbound_megabits_per_sec", "internode_authenticator",
    "internode_compression", "internode_recv_buff_size_in_bytes", "internode_send_buff_size_in_bytes",
    "key_cache_keys_to_save", "key_cache_save_period", "key_cache_size_in_mb", "listen_interface",
    "listen_interface_prefer_ipv6", "listen_on_broadcast_address", "live_updatable_config_params_changeable_via_cql",
    "maintenance_socket", "max_hint_window_in_ms", "max_hints_delivery_threads", "memory_allocator",
    "memtable_allocation_type", "memtable_cleanup_threshold", "memtable_flush_static_shares",
    "memtable_flush_writers", "memtable_heap_space_in_mb", "memtable_offheap_space_in_mb",
    "murmur3_partitioner_ignore_msb_bits", "native_transport_max_concurrent_connections",
    "native_transport_max_concurrent_connections_per_ip", "native_transport_max_threads",
    "native_transport_port_ssl", "native_shard_aware_transport_port_ssl", "permissions_cache_max_entries",
    "permissions_update_interval_in_ms", "permissions_validity_in_ms", "phi_convict_threshold",
    "prometheus_prefix", "reader_concurrency_semaphore_cpu_concurrency", "role_manager",
    "row_cache_keys_to_save", "row_cache_save_period", "row_cache_size_in_mb", "rpc_interface",
    "rpc_interface_prefer_ipv6", "rpc_keepalive", "rpc_max_threads", "rpc_min_threads", "rpc_port",
    "rpc_recv_buff_size_in_bytes", "rpc_send_buff_size_in_bytes", "rpc_server_type",
    "saved_caches_directory", "schema_commitlog_segment_size_in_mb", "server_encryption_options",
    "snapshot_before_compaction", "ssl_storage_port", "sstable_preemptive_open_interval_in_mb",
    "sstable_summary_ratio", "start_native_transport", "start_rpc", "stream_throughput_outbound_megabits_per_sec",
    "streaming_socket_timeout_in_ms", "strict_allow_filtering", "thrift_framed_transport_size_in_mb",
    "tombstone_failure_threshold", "tombstone_warn_threshold", "trickle_fsync",
    "trickle_fsync_interval_in_kb", "uuid_sstable_identifiers_enabled", "view_building",
})

# `scylla-py serve` flags that override options (the CLI is implemented in scylla_py/cli.py and
# documented in docs/configuration.md). Flag -> Config field.
CLI_FLAGS: Final[Mapping[str, str]] = MappingProxyType({
    "--workdir": "workdir",
    "--cluster-name": "cluster_name",
    "--listen-address": "listen_address",
    "--rpc-address": "rpc_address",
    "--broadcast-address": "broadcast_address",
    "--broadcast-rpc-address": "broadcast_rpc_address",
    "--api-address": "api_address",
    "--seeds": "seeds",
    "--smp": "smp",
    "--developer-mode": "developer_mode",
    "--native-transport-port": "native_transport_port",
    "--native-shard-aware-transport-port": "native_shard_aware_transport_port",
    "--api-port": "api_port",
    "--prometheus-port": "prometheus_port",
    "--commitlog-sync": "commitlog_sync",
})

_SEED_PROVIDER_CLASS = "org.apache.cassandra.locator.SimpleSeedProvider"


@dataclass(frozen=True, slots=True)
class Config:
    """Every option the node reads. Field names are ScyllaDB's scylla.yaml key names.

    Exceptions: `seeds` (YAML: `seed_provider[0].parameters[0].seeds`), and `dc`/`rack` (ScyllaDB
    reads these from cassandra-rackdc.properties; we take them from scylla.yaml). Units are in the
    names. Derived values are properties; `value_sources` records where each value came from.
    """

    cluster_name: str = "Test Cluster"
    listen_address: str = "127.0.0.1"
    rpc_address: str = "127.0.0.1"
    broadcast_address: str | None = None
    broadcast_rpc_address: str | None = None
    native_transport_port: int = 9042
    native_shard_aware_transport_port: int = 19042
    storage_port: int = 7000
    api_address: str = "127.0.0.1"
    api_port: int = 10000
    prometheus_address: str = "127.0.0.1"
    prometheus_port: int = 9180
    seeds: tuple[str, ...] = ("127.0.0.1",)
    endpoint_snitch: str = "SimpleSnitch"
    dc: str | None = None
    rack: str | None = None
    workdir: Path = Path("./var")
    data_file_directories: tuple[Path, ...] = ()
    commitlog_directory: Path | None = None
    hints_directory: Path | None = None
    commitlog_sync: str = "periodic"
    commitlog_sync_period_in_ms: int = 10000
    commitlog_sync_batch_window_in_ms: int = 2
    commitlog_segment_size_in_mb: int = 32
    commitlog_total_space_in_mb: int = -1
    memtable_total_space_in_mb: int = 256
    memtable_flush_threshold_in_mb: int = 32
    native_transport_max_frame_size_in_mb: int = 256
    authenticator: str = "AllowAllAuthenticator"
    authorizer: str = "AllowAllAuthorizer"
    smp: int | None = None
    developer_mode: bool = False
    num_tokens: int = 256
    enable_tablets: bool = True
    tablets_initial_scale_factor: int = 1
    target_tablet_size_in_bytes: int = 5 * 1024**3
    read_request_timeout_in_ms: int = 5000
    write_request_timeout_in_ms: int = 2000
    range_request_timeout_in_ms: int = 10000
    counter_write_request_timeout_in_ms: int = 5000
    cas_contention_timeout_in_ms: int = 1000
    truncate_request_timeout_in_ms: int = 60000
    request_timeout_in_ms: int = 10000
    partitioner: str = _MURMUR3
    default_log_level: str = "info"
    value_sources: Mapping[str, ConfigSource] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, spec in _SPECS.items():
            try:
                # Normalises too (e.g. strips the org.apache.cassandra.auth. prefix); frozen, so
                # go through object.__setattr__.
                object.__setattr__(self, name, spec.check(getattr(self, name)))
            except _Invalid as e:
                raise ConfigError(name, str(e)) from None
        if not isinstance(self.value_sources, MappingProxyType):
            object.__setattr__(self, "value_sources", MappingProxyType(dict(self.value_sources)))
        self._check_cross_field()

    def _check_cross_field(self) -> None:
        # Other nodes must be able to reach us at the listen/broadcast address (ScyllaDB refuses a
        # wildcard there too); a wildcard rpc_address is fine if we say what to tell clients.
        if _is_wildcard(self.listen_address):
            raise ConfigError("listen_address", "must not be a wildcard address (0.0.0.0 / ::)")
        for key in ("broadcast_address", "broadcast_rpc_address"):
            value = getattr(self, key)
            if value is not None and _is_wildcard(value):
                raise ConfigError(key, "must not be a wildcard address (0.0.0.0 / ::)")
        if _is_wildcard(self.rpc_address) and self.broadcast_rpc_address is None:
            raise ConfigError(
                "rpc_address", "is a wildcard address, so broadcast_rpc_address must be set")
        if self.authorizer == "CassandraAuthorizer" and self.authenticator != "PasswordAuthenticator":
            raise ConfigError("authorizer", "CassandraAuthorizer requires authenticator: PasswordAuthenticator")
        ports = {
            "native_transport_port": self.native_transport_port,
            "native_shard_aware_transport_port": self.native_shard_aware_transport_port,
            "storage_port": self.storage_port,
            "api_port": self.api_port,
            "prometheus_port": self.prometheus_port,
        }
        seen: dict[int, str] = {}
        for key, port in ports.items():
            # Port 0 means "any free port" and never collides.
            if port and port in seen:
                raise ConfigError(key, f"port {port} is already used by {seen[port]}")
            seen[port] = key

    # -- derived values ---------------------------------------------------------------------

    @property
    def effective_broadcast_address(self) -> str:
        """The address other nodes use to reach us (default: listen_address)."""
        return self.broadcast_address or self.listen_address

    @property
    def effective_broadcast_rpc_address(self) -> str:
        """The address advertised to drivers (system.local / peers; default: rpc_address)."""
        return self.broadcast_rpc_address or self.rpc_address

    @property
    def shard_count(self) -> int:
        """Number of shard processes: `smp`, or one per CPU."""
        return self.smp if self.smp is not None else (os.cpu_count() or 1)

    @property
    def data_directories(self) -> tuple[Path, ...]:
        return self.data_file_directories or (self.workdir / "data",)

    @property
    def commitlog_path(self) -> Path:
        return self.commitlog_directory or self.workdir / "commitlog"

    @property
    def hints_path(self) -> Path:
        return self.hints_directory or self.workdir / "hints"

    @property
    def local_dc(self) -> str:
        """This node's datacenter: `dc` if set, else the snitch's default.

        SimpleSnitch reports "datacenter1" (what ScyllaDB and its Docker image show); the
        GossipingPropertyFileSnitch default is "dc1" as in cassandra-rackdc.properties.
        """
        if self.dc is not None:
            return self.dc
        return "datacenter1" if self.endpoint_snitch == "SimpleSnitch" else "dc1"

    @property
    def local_rack(self) -> str:
        return self.rack if self.rack is not None else "rack1"

    @property
    def write_timeout_s(self) -> float:
        return self.write_request_timeout_in_ms / 1000

    @property
    def read_timeout_s(self) -> float:
        return self.read_request_timeout_in_ms / 1000

    def source_of(self, name: str) -> ConfigSource:
        return self.value_sources.get(name, ConfigSource.DEFAULT)

    def as_rows(self) -> list[ConfigRow]:
        """The `system.config` rows, one per option, in option-table order."""
        rows: list[ConfigRow] = []
        for name, spec in _SPECS.items():
            value: object = getattr(self, name)
            row_name = name
            if name == "seeds":
                # Shown under ScyllaDB's key, in the shape scylla.yaml uses.
                row_name = "seed_provider"
                value = {"class_name": _SEED_PROVIDER_CLASS, "parameters": [{"seeds": ",".join(self.seeds)}]}
            rows.append(ConfigRow(row_name, spec.type_name, self.source_of(name).value, _to_json(value)))
        return rows


def _to_json(value: object) -> str:
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, tuple):
        return json.dumps([str(v) if isinstance(v, Path) else v for v in value])
    return json.dumps(value)


def _options_from_yaml(doc: Mapping[object, object]) -> dict[str, object]:
    """Map scylla.yaml keys to Config field names; log and drop what we do not use."""
    values: dict[str, object] = {}
    for key, value in doc.items():
        if not isinstance(key, str):
            raise ConfigError(str(key), "option names must be strings")
        if value is None:
            continue  # `key:` with no value means "not set", as in ScyllaDB
        if key == "seed_provider":
            values["seeds"] = _seeds_from_provider(value)
        elif key in _SPECS and key != "seeds":
            values[key] = value
        elif key in _IGNORED_SCYLLA_KEYS:
            logger.debug("scylla.yaml: ignoring %s (not used by scylla-py)", key)
        else:
            logger.warning("scylla.yaml: unknown option %s ignored", key)
    return values


def _seeds_from_provider(value: object) -> object:
    """`seed_provider: [{class_name: ..., parameters: [{seeds: "a,b"}]}]` -> "a,b"."""
    problem = "expected [{class_name: SimpleSeedProvider, parameters: [{seeds: \"a,b\"}]}]"
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ConfigError("seed_provider", problem)
    provider = value[0]
    class_name = provider.get("class_name", _SEED_PROVIDER_CLASS)
    if class_name not in (_SEED_PROVIDER_CLASS, "SimpleSeedProvider"):
        raise ConfigError("seed_provider", f"only SimpleSeedProvider is supported, got {class_name!r}")
    params = provider.get("parameters")
    if not isinstance(params, list) or not params or not isinstance(params[0], dict) or "seeds" not in params[0]:
        raise ConfigError("seed_provider", problem)
    return params[0]["seeds"]


def _read_yaml(path: Path) -> Mapping[object, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(None, f"cannot read config file: {e.strerror or e}", str(path)) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(None, f"invalid YAML: {e}", str(path)) from None
    if doc is None:
        return {}  # an empty (or all-comments) file sets nothing
    if not isinstance(doc, dict):
        raise ConfigError(None, "the top level must be a mapping of option names to values", str(path))
    return doc


def load_config(path: Path | None = None, overrides: Mapping[str, object] | None = None) -> Config:
    """Build the node's Config from `path` (scylla.yaml, optional) and command-line `overrides`.

    `overrides` is keyed by Config field name; a `None` value means "not given". `seeds` may be a
    "a,b" string or a sequence; `workdir` and directories may be str or Path.
    Raises ConfigError naming the option and the file (or "command line") it came from.
    """
    origin = str(path) if path is not None else None
    values: dict[str, object] = {}
    sources: dict[str, ConfigSource] = {}
    if path is not None:
        try:
            for key, value in _options_from_yaml(_read_yaml(path)).items():
                values[key] = value
                sources[key] = ConfigSource.FILE
        except ConfigError as e:
            raise ConfigError(e.key, e.problem, e.origin or origin) from None
    for key, value in (overrides or {}).items():
        if key not in _SPECS:
            raise ConfigError(key, "unknown option", "command line")
        if value is None:
            continue
        values[key] = value
        sources[key] = ConfigSource.CLI
    try:
        return Config(**values, value_sources=MappingProxyType(sources))  # type: ignore[arg-type]
    except ConfigError as e:
        source = sources.get(e.key or "")
        if source is ConfigSource.CLI:
            where = "command line"
        else:
            # From the file, or a default that conflicts with something the file set.
            where = origin or "defaults"
        raise ConfigError(e.key, e.problem, where) from None


def option_names() -> tuple[str, ...]:
    """All Config option (field) names, in option-table order."""
    return tuple(_SPECS)


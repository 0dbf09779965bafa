"""Table and keyspace options: ScyllaDB 6's defaults, validation and normal form.

Owns what the `WITH ...` clause of CREATE/ALTER TABLE and CREATE/ALTER KEYSPACE may say, and the
normalized values the schema stores (`TableDef.options`, `KeyspaceDef.replication` /
`durable_writes` / `initial_tablets`). `system_schema` rows and DESCRIBE are rendered from this
normal form, so a value normalized here always renders back to CQL that re-creates it.

Invariants of a normalized table options dict (`normalize_table_options`):
- it has every key of `TABLE_OPTION_DEFAULTS` (plus `cdc` / `paxos_grace_seconds` /
  `per_partition_rate_limit` only when the user set them: ScyllaDB stores those as schema
  extensions that exist only once set, and DESCRIBE shows them only then);
- scalars have their CQL type (`float` for doubles, `int` for ints, `str` for text);
- map options (`caching`, `compaction`, `compression`, `tombstone_gc`, `cdc`, ...) are `dict[str, str]`
  with ScyllaDB's canonical spellings (compaction class short name such as
  `SizeTieredCompactionStrategy`, compressor full class name
  `org.apache.cassandra.io.compress.LZ4Compressor`, speculative_retry `99.0PERCENTILE`).

Error classes follow Cassandra/ScyllaDB: an unknown property is a `SyntaxException`
("Unknown property 'foo'"), a bad value a `ConfigurationException`.

This module never touches the schema store or storage; it is pure functions over mappings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from cql.errors import ConfigurationException, SyntaxException
from cql.schema import KeyspaceDef

__all__ = [
    "KEYSPACE_OPTION_NAMES",
    "LOCATOR_PREFIX",
    "TABLE_OPTION_DEFAULTS",
    "TABLE_OPTION_NAMES",
    "format_double",
    "normalize_keyspace_options",
    "normalize_table_options",
    "replication_class_short_name",
    "table_options_with_defaults",
]

LOCATOR_PREFIX = "org.apache.cassandra.locator."
COMPRESSOR_PREFIX = "org.apache.cassandra.io.compress."
COMPACTION_PREFIX = "org.apache.cassandra.db.compaction."

# ScyllaDB 6 defaults, as DESCRIBE TABLE on a fresh table shows them. Maps are copied on use.
TABLE_OPTION_DEFAULTS: Mapping[str, Any] = {
    "bloom_filter_fp_chance": 0.01,
    "caching": {"keys": "ALL", "rows_per_partition": "ALL"},
    "comment": "",
    "compaction": {"class": "SizeTieredCompactionStrategy"},
    "compression": {"sstable_compression": COMPRESSOR_PREFIX + "LZ4Compressor"},
    "crc_check_chance": 1.0,
    # Deprecated in ScyllaDB and always 0, but still columns of system_schema.tables that the
    # driver's SchemaParserV3 reads.
    "dclocal_read_repair_chance": 0.0,
    "default_time_to_live": 0,
    "gc_grace_seconds": 864000,
    "max_index_interval": 2048,
    "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128,
    "read_repair_chance": 0.0,
    "speculative_retry": "99.0PERCENTILE",
    "tombstone_gc": {"mode": "timeout", "propagation_delay_in_seconds": "3600"},
}

# Options stored only once set (ScyllaDB schema extensions), in DESCRIBE order.
_EXTENSION_OPTIONS = ("cdc", "paxos_grace_seconds", "per_partition_rate_limit", "tombstone_gc")

TABLE_OPTION_NAMES: frozenset[str] = frozenset(TABLE_OPTION_DEFAULTS) | frozenset(
    {"cdc", "paxos_grace_seconds", "per_partition_rate_limit", "id", "synchronous_updates"}
)
KEYSPACE_OPTION_NAMES: frozenset[str] = frozenset({"replication", "durable_writes", "tablets"})

_MAX_TTL_S = 20 * 365 * 24 * 60 * 60  # 630720000, Cassandra's MAX_TTL
_MIN_BLOOM_FP = 6.71e-05              # smallest false-positive chance a bloom filter can offer

_COMPACTION_CLASSES = {
    "SizeTieredCompactionStrategy",
    "LeveledCompactionStrategy",
    "TimeWindowCompactionStrategy",
    "IncrementalCompactionStrategy",
    "NullCompactionStrategy",
}
_COMPACTION_COMMON = {
    "enabled", "tombstone_threshold", "tombstone_compaction_interval",
    "unchecked_tombstone_compaction", "min_threshold", "max_threshold",
}
_STCS = {"bucket_high", "bucket_low", "min_sstable_size", "cold_reads_to_omit"}
_COMPACTION_SUBOPTIONS: Mapping[str, set[str]] = {
    "SizeTieredCompactionStrategy": _COMPACTION_COMMON | _STCS,
    "LeveledCompactionStrategy": _COMPACTION_COMMON | {"sstable_size_in_mb", "fanout_size"},
    "TimeWindowCompactionStrategy": _COMPACTION_COMMON | {
        "compaction_window_unit", "compaction_window_size", "timestamp_resolution",
        "expired_sstable_check_frequency_seconds", "unsafe_aggressive_sstable_expiration",
    },
    "IncrementalCompactionStrategy": _COMPACTION_COMMON | _STCS | {
        "sstable_size_in_mb", "space_amplification_goal",
    },
    "NullCompactionStrategy": _COMPACTION_COMMON,
}

_COMPRESSORS = {"LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor"}

_REPLICATION_CLASSES = {
    "SimpleStrategy", "NetworkTopologyStrategy", "LocalStrategy", "EverywhereStrategy",
}


# --------------------------------------------------------------------------------------------------
# value coercion (the parser hands over str / int / float / bool / dict[str, str])


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigurationException(f"Invalid value {value!r}: expected a single value, not a map")


def _as_int(name: str, value: object) -> int:
    if isinstance(value, (bool, dict)):
        raise ConfigurationException(f"Invalid integer value {_show(value)} for '{name}'")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ConfigurationException(f"Invalid integer value {_show(value)} for '{name}'")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigurationException(f"Invalid integer value {_show(value)} for '{name}'") from None


def _as_double(name: str, value: object) -> float:
    if isinstance(value, (bool, dict)):
        raise ConfigurationException(f"Invalid double value {_show(value)} for '{name}'")
    if isinstance(value, (int, float)):
        result = float(value)
    else:
        try:
            result = float(str(value).strip())
        except ValueError:
            raise ConfigurationException(f"Invalid double value {_show(value)} for '{name}'") from None
    if math.isnan(result) or math.isinf(result):
        raise ConfigurationException(f"Invalid double value {_show(value)} for '{name}'")
    return result


def _as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = _as_text(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigurationException(f"Invalid boolean value {_show(value)} for '{name}'")


def _as_map(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        # Cassandra reports a non-map where a map is expected as a syntax error.
        raise SyntaxException(f"Invalid value for property '{name}'. It should be a map.")
    return {str(k): _as_text(v) for k, v in value.items()}


def _show(value: object) -> str:
    return str(value) if not isinstance(value, str) else value


def format_double(value: float) -> str:
    """A double as ScyllaDB prints it in DESCRIBE (C++ ostream default: 6 significant digits,
    no trailing zeros): 0.01 -> '0.01', 1.0 -> '1'."""
    return f"{value:g}"


# --------------------------------------------------------------------------------------------------
# table options


def table_options_with_defaults(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """`options` completed with the defaults for every missing key (maps copied). Use this when
    reading `TableDef.options`, which may have been built without `normalize_table_options`."""
    result: dict[str, Any] = {
        k: (dict(v) if isinstance(v, Mapping) else v) for k, v in TABLE_OPTION_DEFAULTS.items()
    }
    for k, v in (options or {}).items():
        result[k] = dict(v) if isinstance(v, Mapping) else v
    return result


def normalize_table_options(
    props: Mapping[str, object], existing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Validate the WITH properties of CREATE TABLE (`existing` None) or ALTER TABLE ... WITH
    (`existing` = the table's current options) and return the complete normalized options.

    A property given replaces the whole previous value (as in Cassandra: `compaction = {...}` does
    not merge sub-options). `id` (`WITH ID = <uuid>`), if present, is returned under key "id" as
    text: the caller pops it to use as the table id; it is not a stored option.
    Raises SyntaxException for an unknown property, ConfigurationException for a bad value.
    """
    result = table_options_with_defaults(existing)
    for raw_name, value in props.items():
        name = raw_name.lower()
        if name not in TABLE_OPTION_NAMES:
            raise SyntaxException(f"Unknown property '{raw_name}'")
        result[name] = _normalize_table_option(name, value)
    if result["min_index_interval"] > result["max_index_interval"]:
        raise ConfigurationException("max_index_interval must be greater than min_index_interval")
    return result


def _normalize_table_option(name: str, value: object) -> object:
    if name == "bloom_filter_fp_chance":
        fp = _as_double(name, value)
        if not (_MIN_BLOOM_FP <= fp <= 1.0):
            raise ConfigurationException(
                f"bloom_filter_fp_chance must be larger than {_MIN_BLOOM_FP} and less than or equal "
                f"to 1.0 (got {format_double(fp)})"
            )
        return fp
    if name in ("crc_check_chance", "dclocal_read_repair_chance", "read_repair_chance"):
        chance = _as_double(name, value)
        if not (0.0 <= chance <= 1.0):
            raise ConfigurationException(f"{name} should be between 0.0 and 1.0")
        return chance
    if name == "comment":
        return _as_text(value)
    if name == "default_time_to_live":
        ttl = _as_int(name, value)
        if ttl < 0:
            raise ConfigurationException(f"default_time_to_live must be greater than or equal to 0 (got {ttl})")
        if ttl > _MAX_TTL_S:
            raise ConfigurationException(
                f"default_time_to_live must be less than or equal to {_MAX_TTL_S} (got {ttl})"
            )
        return ttl
    if name in ("gc_grace_seconds", "memtable_flush_period_in_ms", "paxos_grace_seconds"):
        n = _as_int(name, value)
        if n < 0:
            raise ConfigurationException(f"{name} must be greater than or equal to 0 (got {n})")
        return n
    if name in ("min_index_interval", "max_index_interval"):
        n = _as_int(name, value)
        if n < 1:
            raise ConfigurationException(f"{name} must be greater than 0 (got {n})")
        return n
    if name == "speculative_retry":
        return _normalize_speculative_retry(_as_text(value))
    if name == "caching":
        return _normalize_caching(_as_map(name, value))
    if name == "compaction":
        return _normalize_compaction(_as_map(name, value))
    if name == "compression":
        return _normalize_compression(_as_map(name, value))
    if name == "tombstone_gc":
        return _normalize_tombstone_gc(_as_map(name, value))
    if name == "cdc":
        return _normalize_cdc(value)
    if name == "per_partition_rate_limit":
        return _normalize_rate_limit(_as_map(name, value))
    if name == "synchronous_updates":
        return _as_bool(name, value)
    if name == "id":
        text = _as_text(value)
        if not re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", text):
            raise ConfigurationException(f"Invalid table id {text!r}: expected a UUID")
        return text.lower()
    raise SyntaxException(f"Unknown property '{name}'")  # pragma: no cover - guarded by caller


_SPECULATIVE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(PERCENTILE|MS|P)\s*$", re.IGNORECASE)


def _normalize_speculative_retry(text: str) -> str:
    upper = text.strip().upper()
    if upper in ("NONE", "ALWAYS"):
        return upper
    m = _SPECULATIVE_RE.match(text)
    if m is None:
        raise ConfigurationException(f"Invalid value {text} for option 'speculative_retry'")
    number = float(m.group(1))
    unit = m.group(2).upper()
    if unit in ("PERCENTILE", "P"):
        if not (0.0 <= number <= 100.0):
            raise ConfigurationException(
                f"Invalid value {text} for PERCENTILE option 'speculative_retry': must be between "
                "(0.0 and 100.0)"
            )
        return f"{number:.1f}PERCENTILE"
    return f"{number:.2f}ms"


def _normalize_caching(m: dict[str, str]) -> dict[str, str]:
    result = {"keys": "ALL", "rows_per_partition": "ALL"}
    for key, value in m.items():
        if key == "keys":
            if value.upper() not in ("ALL", "NONE"):
                raise ConfigurationException(
                    f"Invalid caching value {value!r} for 'keys': must be one of 'ALL', 'NONE'"
                )
            result[key] = value.upper()
        elif key == "rows_per_partition":
            if value.upper() in ("ALL", "NONE"):
                result[key] = value.upper()
            elif value.isdigit():
                result[key] = str(int(value))
            else:
                raise ConfigurationException(
                    f"Invalid caching value {value!r} for 'rows_per_partition': must be 'ALL', "
                    "'NONE' or an integer"
                )
        elif key == "enabled":
            if _as_bool("caching.enabled", value):
                result.pop("enabled", None)
            else:
                result["enabled"] = "false"
        else:
            raise ConfigurationException(f"Invalid caching sub-option '{key}'")
    return result


def _normalize_compaction(m: dict[str, str]) -> dict[str, str]:
    if "class" not in m:
        raise ConfigurationException("Missing sub-option 'class' for the 'compaction' option.")
    cls = m["class"]
    if cls.startswith(COMPACTION_PREFIX):
        cls = cls[len(COMPACTION_PREFIX):]
    if cls not in _COMPACTION_CLASSES:
        raise ConfigurationException(f"Unable to find compaction strategy class '{m['class']}'")
    allowed = _COMPACTION_SUBOPTIONS[cls]
    result = {"class": cls}
    for key, value in m.items():
        if key == "class":
            continue
        if key not in allowed:
            raise ConfigurationException(f"Unrecognized strategy option {{{key}}} passed to {cls}")
        if key == "enabled":
            value = "true" if _as_bool("compaction.enabled", value) else "false"
        elif key in ("min_threshold", "max_threshold"):
            if _as_int(f"compaction.{key}", value) < 2:
                raise ConfigurationException(f"{key} must be at least 2, but was {value}")
        elif key in ("tombstone_threshold", "bucket_high", "bucket_low", "cold_reads_to_omit",
                     "space_amplification_goal"):
            _as_double(f"compaction.{key}", value)
        elif key in ("sstable_size_in_mb", "min_sstable_size", "compaction_window_size",
                     "tombstone_compaction_interval", "expired_sstable_check_frequency_seconds",
                     "fanout_size"):
            if _as_int(f"compaction.{key}", value) < 0:
                raise ConfigurationException(f"{key} must be non-negative, but was {value}")
        elif key == "compaction_window_unit" and value.upper() not in ("MINUTES", "HOURS", "DAYS"):
            raise ConfigurationException(
                f"{value} is not valid for compaction_window_unit: must be MINUTES, HOURS or DAYS"
            )
        result[key] = value
    lo, hi = result.get("min_threshold"), result.get("max_threshold")
    if lo is not None and hi is not None and int(lo) > int(hi):
        raise ConfigurationException("min_threshold cannot be greater than max_threshold")
    return result


def _normalize_compression(m: dict[str, str]) -> dict[str, str]:
    m = dict(m)
    if "class" in m:  # Cassandra 3's spelling of sstable_compression
        m.setdefault("sstable_compression", m.pop("class"))
        m.pop("class", None)
    if "chunk_length_kb" in m:  # old spelling
        m.setdefault("chunk_length_in_kb", m.pop("chunk_length_kb"))
        m.pop("chunk_length_kb", None)
    if "enabled" in m:
        enabled = _as_bool("compression.enabled", m.pop("enabled"))
        if not enabled:
            if m.get("sstable_compression"):
                raise ConfigurationException(
                    "If compression is disabled, sstable_compression must not be set"
                )
            return {}
    if not m:
        return {}
    compressor = m.pop("sstable_compression", None)
    if compressor is None:
        raise ConfigurationException("Missing sub-option 'sstable_compression' for the 'compression' option.")
    if compressor == "":
        if m:
            raise ConfigurationException("If compression is disabled, no other sub-options may be set")
        return {}
    short = compressor[len(COMPRESSOR_PREFIX):] if compressor.startswith(COMPRESSOR_PREFIX) else compressor
    if short not in _COMPRESSORS:
        raise ConfigurationException(f"Unknown compression class '{compressor}'")
    result = {"sstable_compression": COMPRESSOR_PREFIX + short}
    for key, value in m.items():
        if key == "chunk_length_in_kb":
            kb = _as_int("chunk_length_in_kb", value)
            if kb <= 0 or kb & (kb - 1):
                raise ConfigurationException(f"chunk_length_in_kb must be a power of 2, got {value}")
            result[key] = str(kb)
        elif key == "crc_check_chance":
            chance = _as_double("crc_check_chance", value)
            if not (0.0 <= chance <= 1.0):
                raise ConfigurationException("crc_check_chance should be between 0.0 and 1.0")
            result[key] = value
        elif key == "compression_level" and short == "ZstdCompressor":
            level = _as_int("compression_level", value)
            if not (-131072 <= level <= 22):
                raise ConfigurationException(f"compression_level must be between -131072 and 22, got {value}")
            result[key] = str(level)
        else:
            raise ConfigurationException(f"Unknown compression option '{key}'")
    return result


def _normalize_tombstone_gc(m: dict[str, str]) -> dict[str, str]:
    result = {"mode": "timeout", "propagation_delay_in_seconds": "3600"}
    for key, value in m.items():
        if key == "mode":
            if value.lower() not in ("timeout", "repair", "disabled", "immediate"):
                raise ConfigurationException(f"Invalid tombstone_gc mode: {value}")
            result[key] = value.lower()
        elif key == "propagation_delay_in_seconds":
            if _as_int("propagation_delay_in_seconds", value) < 0:
                raise ConfigurationException(f"Invalid propagation_delay_in_seconds: {value}")
            result[key] = str(int(value))
        else:
            raise ConfigurationException(f"Invalid tombstone_gc option: {key}")
    return result


def _normalize_cdc(value: object) -> dict[str, str]:
    result = {"delta": "full", "enabled": "false", "postimage": "false", "preimage": "false", "ttl": "86400"}
    if not isinstance(value, Mapping):  # `cdc = true` is not accepted; ScyllaDB wants the map
        raise SyntaxException("Invalid value for property 'cdc'. It should be a map.")
    for key, raw in value.items():
        text = _as_text(raw)
        if key in ("enabled", "postimage"):
            result[key] = "true" if _as_bool(f"cdc.{key}", text) else "false"
        elif key == "preimage":
            if text.lower() == "full":
                result[key] = "full"
            else:
                result[key] = "true" if _as_bool("cdc.preimage", text) else "false"
        elif key == "delta":
            if text.lower() not in ("full", "keys"):
                raise ConfigurationException(f"Invalid value for CDC option \"delta\": {text}")
            result[key] = text.lower()
        elif key == "ttl":
            if _as_int("cdc.ttl", text) < 0:
                raise ConfigurationException(f"Invalid CDC option: ttl must be non-negative, got {text}")
            result[key] = str(int(text))
        else:
            raise ConfigurationException(f"Invalid CDC option: {key}")
    return result


def _normalize_rate_limit(m: dict[str, str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in m.items():
        if key not in ("max_reads_per_second", "max_writes_per_second"):
            raise ConfigurationException(f"Unknown per_partition_rate_limit option: {key}")
        if _as_int(key, value) < 0:
            raise ConfigurationException(f"{key} must be non-negative, got {value}")
        result[key] = str(int(value))
    return result


def extension_options(options: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The extension-style options present in `options`, in the order DESCRIBE prints them."""
    return [(k, options[k]) for k in _EXTENSION_OPTIONS if k in options and options[k] is not None]


# --------------------------------------------------------------------------------------------------
# keyspace options


def replication_class_short_name(cls: str) -> str:
    return cls[len(LOCATOR_PREFIX):] if cls.startswith(LOCATOR_PREFIX) else cls


def _replication_factor(value: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise ConfigurationException(f"Replication factor must be numeric and non-negative, found '{value}'")
    return int(text)


def normalize_keyspace_options(
    props: Mapping[str, object],
    existing: KeyspaceDef | None = None,
    *,
    keyspace: str = "",
    datacenters: Collection[str] | None = None,
    tablets_by_default: bool = True,
) -> tuple[dict[str, str], bool, int | None]:
    """Validate the WITH properties of CREATE KEYSPACE (`existing` None) or ALTER KEYSPACE
    (`existing` = the keyspace as it is) and return
    `(replication, durable_writes, initial_tablets)`.

    - replication is `{'class': 'org.apache.cassandra.locator.<Strategy>', ...}` with every value
      text; NetworkTopologyStrategy's `replication_factor` shortcut is expanded to each of
      `datacenters` not given explicitly (None: unknown topology, expands to 'datacenter1' and
      any data-center name is accepted).
    - initial_tablets: None for a vnodes keyspace, else the `initial` tablet count (0 = let the
      balancer decide). ScyllaDB 6 rules: only NetworkTopologyStrategy keyspaces use tablets, and
      they do by default (`tablets_by_default`); `tablets = {'enabled': false}` opts out. Asking
      for tablets on another strategy is a ConfigurationException. ALTER cannot switch a keyspace
      between vnodes and tablets.
    """
    replication_prop: Mapping[str, str] | None = None
    durable: bool | None = None
    tablets_prop: dict[str, str] | None = None
    for raw_name, value in props.items():
        name = raw_name.lower()
        if name == "replication":
            replication_prop = _as_map("replication", value)
        elif name == "durable_writes":
            durable = _as_bool("durable_writes", value)
        elif name == "tablets":
            tablets_prop = _as_map("tablets", value)
        else:
            raise SyntaxException(f"Unknown property '{raw_name}'")

    if replication_prop is None:
        if existing is None:
            raise ConfigurationException("Missing mandatory option 'replication'")
        replication = dict(existing.replication)
    else:
        replication = _normalize_replication(replication_prop, keyspace, datacenters)
    durable_writes = durable if durable is not None else (existing.durable_writes if existing is not None else True)

    is_nts = replication["class"] == LOCATOR_PREFIX + "NetworkTopologyStrategy"
    enabled: bool | None = None
    initial: int | None = None
    if tablets_prop is not None:
        for key, value in tablets_prop.items():
            if key == "enabled":
                if value.lower() == "true":
                    enabled = True
                elif value.lower() == "false":
                    enabled = False
                else:
                    raise ConfigurationException(f"Tablets enabled value must be true or false; found: {value}")
            elif key == "initial":
                if not value.strip().isdigit():
                    raise ConfigurationException(f"Initial tablets value should be numeric; found {value}")
                initial = int(value)
            else:
                raise ConfigurationException(f"Unrecognized tablets option {key}")
        if enabled is False and initial is not None:
            raise ConfigurationException("Cannot set the initial tablet count when tablets are disabled")

    initial_tablets: int | None
    if existing is None:
        if not is_nts:
            if enabled or initial is not None:
                raise ConfigurationException(
                    f"Tablets cannot be used with {replication_class_short_name(replication['class'])}: "
                    "only NetworkTopologyStrategy keyspaces support tablets"
                )
            initial_tablets = None
        elif enabled is False:
            initial_tablets = None
        elif enabled or initial is not None or tablets_by_default:
            initial_tablets = initial if initial is not None else 0
        else:
            initial_tablets = None
    else:
        old_tablets = existing.initial_tablets
        wants_tablets = old_tablets is not None if enabled is None else enabled
        if initial is not None:
            wants_tablets = True
        if wants_tablets != (old_tablets is not None):
            raise ConfigurationException("Cannot alter replication strategy vnode/tablets flavor")
        if wants_tablets and not is_nts:
            raise ConfigurationException(
                f"Tablets cannot be used with {replication_class_short_name(replication['class'])}: "
                "only NetworkTopologyStrategy keyspaces support tablets"
            )
        initial_tablets = (initial if initial is not None else old_tablets) if wants_tablets else None
    return replication, durable_writes, initial_tablets


def _normalize_replication(
    m: Mapping[str, str], keyspace: str, datacenters: Collection[str] | None
) -> dict[str, str]:
    options = dict(m)
    raw_cls = options.pop("class", None)
    if raw_cls is None:
        raise ConfigurationException("Missing mandatory replication strategy class")
    short = replication_class_short_name(raw_cls)
    if short not in _REPLICATION_CLASSES:
        raise ConfigurationException(
            f"Unable to find replication strategy class '{raw_cls if '.' in raw_cls else LOCATOR_PREFIX + raw_cls}'"
        )
    full = LOCATOR_PREFIX + short
    ks_part = f" for keyspace {keyspace}" if keyspace else ""
    if short == "LocalStrategy":
        raise ConfigurationException("Unable to use given strategy class: LocalStrategy is reserved for internal use.")
    result = {"class": full}
    if short == "SimpleStrategy":
        if "replication_factor" not in options:
            raise ConfigurationException("SimpleStrategy requires a replication_factor strategy option.")
        for key, value in options.items():
            if key != "replication_factor":
                raise ConfigurationException(f"Unrecognized strategy option {{{key}}} passed to {full}{ks_part}")
            result[key] = str(_replication_factor(value))
        return result
    if short == "EverywhereStrategy":
        for key in options:
            raise ConfigurationException(f"Unrecognized strategy option {{{key}}} passed to {full}{ks_part}")
        return result
    # NetworkTopologyStrategy: data-center names -> factor, plus the replication_factor shortcut.
    known = list(datacenters) if datacenters is not None else None
    per_dc: dict[str, str] = {}
    for key, value in options.items():
        if key == "replication_factor":
            continue
        if known is not None and key not in known:
            raise ConfigurationException(f"Unrecognized strategy option {{{key}}} passed to {full}{ks_part}")
        per_dc[key] = str(_replication_factor(value))
    if "replication_factor" in options:
        rf = str(_replication_factor(options["replication_factor"]))
        for dc in known if known is not None else ["datacenter1"]:
            per_dc.setdefault(dc, rf)
    for dc in sorted(per_dc):
        result[dc] = per_dc[dc]
    return result

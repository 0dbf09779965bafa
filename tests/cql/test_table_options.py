"""Table and keyspace option normalization: ScyllaDB 6 defaults, canonical forms and errors."""

from __future__ import annotations

import pytest

from cql.errors import ConfigurationException, SyntaxException
from cql.schema import KeyspaceDef
from cql.table_options import (
    TABLE_OPTION_DEFAULTS,
    format_double,
    normalize_keyspace_options,
    normalize_table_options,
)

NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"
SIMPLE = "org.apache.cassandra.locator.SimpleStrategy"


def test_defaults_are_scylla_6() -> None:
    o = normalize_table_options({})
    assert o["bloom_filter_fp_chance"] == 0.01
    assert o["caching"] == {"keys": "ALL", "rows_per_partition": "ALL"}
    assert o["comment"] == ""
    assert o["compaction"] == {"class": "SizeTieredCompactionStrategy"}
    assert o["compression"] == {"sstable_compression": "org.apache.cassandra.io.compress.LZ4Compressor"}
    assert o["crc_check_chance"] == 1.0
    assert o["default_time_to_live"] == 0
    assert o["gc_grace_seconds"] == 864000
    assert o["max_index_interval"] == 2048
    assert o["memtable_flush_period_in_ms"] == 0
    assert o["min_index_interval"] == 128
    assert o["speculative_retry"] == "99.0PERCENTILE"
    assert o["tombstone_gc"] == {"mode": "timeout", "propagation_delay_in_seconds": "3600"}
    assert "cdc" not in o and "paxos_grace_seconds" not in o
    # Defaults are copied, never shared.
    o["caching"]["keys"] = "NONE"
    assert TABLE_OPTION_DEFAULTS["caching"]["keys"] == "ALL"


@pytest.mark.parametrize(("props", "key", "expected"), [
    ({"gc_grace_seconds": "5"}, "gc_grace_seconds", 5),
    ({"gc_grace_seconds": 5.0}, "gc_grace_seconds", 5),
    ({"bloom_filter_fp_chance": "0.1"}, "bloom_filter_fp_chance", 0.1),
    ({"bloom_filter_fp_chance": 1}, "bloom_filter_fp_chance", 1.0),
    ({"comment": "x'y"}, "comment", "x'y"),
    ({"speculative_retry": "99percentile"}, "speculative_retry", "99.0PERCENTILE"),
    ({"speculative_retry": "95.5PERCENTILE"}, "speculative_retry", "95.5PERCENTILE"),
    ({"speculative_retry": "50ms"}, "speculative_retry", "50.00ms"),
    ({"speculative_retry": "none"}, "speculative_retry", "NONE"),
    ({"speculative_retry": "ALWAYS"}, "speculative_retry", "ALWAYS"),
    ({"caching": {"keys": "none", "rows_per_partition": "10"}}, "caching",
     {"keys": "NONE", "rows_per_partition": "10"}),
    ({"caching": {"enabled": "false"}}, "caching", {"keys": "ALL", "rows_per_partition": "ALL", "enabled": "false"}),
    ({"compaction": {"class": "org.apache.cassandra.db.compaction.LeveledCompactionStrategy"}}, "compaction",
     {"class": "LeveledCompactionStrategy"}),
    ({"compaction": {"class": "TimeWindowCompactionStrategy", "compaction_window_unit": "DAYS",
                     "compaction_window_size": 1}}, "compaction",
     {"class": "TimeWindowCompactionStrategy", "compaction_window_unit": "DAYS", "compaction_window_size": "1"}),
    ({"compaction": {"class": "SizeTieredCompactionStrategy", "enabled": False}}, "compaction",
     {"class": "SizeTieredCompactionStrategy", "enabled": "false"}),
    ({"compression": {"sstable_compression": "ZstdCompressor", "chunk_length_in_kb": "64"}}, "compression",
     {"sstable_compression": "org.apache.cassandra.io.compress.ZstdCompressor", "chunk_length_in_kb": "64"}),
    ({"compression": {"class": "SnappyCompressor"}}, "compression",
     {"sstable_compression": "org.apache.cassandra.io.compress.SnappyCompressor"}),
    ({"compression": {}}, "compression", {}),
    ({"compression": {"sstable_compression": ""}}, "compression", {}),
    ({"compression": {"enabled": "false"}}, "compression", {}),
    ({"tombstone_gc": {"mode": "repair"}}, "tombstone_gc", {"mode": "repair", "propagation_delay_in_seconds": "3600"}),
    ({"cdc": {"enabled": True}}, "cdc",
     {"delta": "full", "enabled": "true", "postimage": "false", "preimage": "false", "ttl": "86400"}),
    ({"paxos_grace_seconds": 100}, "paxos_grace_seconds", 100),
    ({"ID": "5A1C395E-B41F-11E5-9F22-BA0BE0483C18"}, "id", "5a1c395e-b41f-11e5-9f22-ba0be0483c18"),
])
def test_normalized_forms(props: dict[str, object], key: str, expected: object) -> None:
    assert normalize_table_options(props)[key] == expected


def test_unknown_property_is_a_syntax_error() -> None:
    with pytest.raises(SyntaxException, match="Unknown property 'foo'"):
        normalize_table_options({"foo": 1})


@pytest.mark.parametrize("props", [
    {"gc_grace_seconds": -1},
    {"gc_grace_seconds": "ten"},
    {"gc_grace_seconds": True},
    {"gc_grace_seconds": 1.5},
    {"bloom_filter_fp_chance": 0},
    {"bloom_filter_fp_chance": 1.5},
    {"bloom_filter_fp_chance": "nan"},
    {"crc_check_chance": 2},
    {"default_time_to_live": -5},
    {"default_time_to_live": 630720001},
    {"min_index_interval": 0},
    {"min_index_interval": 4096},
    {"speculative_retry": "sometimes"},
    {"speculative_retry": "101PERCENTILE"},
    {"caching": {"keys": "SOME"}},
    {"caching": {"rows": "ALL"}},
    {"compaction": {"min_threshold": "4"}},
    {"compaction": {"class": "DateTieredCompactionStrategy"}},
    {"compaction": {"class": "LeveledCompactionStrategy", "bucket_high": "2"}},
    {"compaction": {"class": "SizeTieredCompactionStrategy", "min_threshold": "1"}},
    {"compaction": {"class": "SizeTieredCompactionStrategy", "min_threshold": "8", "max_threshold": "4"}},
    {"compression": {"sstable_compression": "GzipCompressor"}},
    {"compression": {"sstable_compression": "LZ4Compressor", "chunk_length_in_kb": "3"}},
    {"compression": {"sstable_compression": "LZ4Compressor", "foo": "1"}},
    {"compression": {"chunk_length_in_kb": "4"}},
    {"tombstone_gc": {"mode": "never"}},
    {"cdc": {"delta": "some"}},
    {"id": "not-a-uuid"},
])
def test_bad_values_are_configuration_errors(props: dict[str, object]) -> None:
    with pytest.raises(ConfigurationException):
        normalize_table_options(props)


def test_map_option_given_a_scalar_is_a_syntax_error() -> None:
    with pytest.raises(SyntaxException, match="It should be a map"):
        normalize_table_options({"compaction": "LeveledCompactionStrategy"})


def test_alter_keeps_existing_and_replaces_whole_maps() -> None:
    first = normalize_table_options({
        "comment": "a",
        "compaction": {"class": "SizeTieredCompactionStrategy", "min_threshold": "6"},
    })
    second = normalize_table_options({"compaction": {"class": "LeveledCompactionStrategy"}}, first)
    assert second["comment"] == "a"
    assert second["compaction"] == {"class": "LeveledCompactionStrategy"}
    assert first["compaction"]["min_threshold"] == "6"


def test_format_double_matches_cpp_ostream() -> None:
    assert format_double(0.01) == "0.01"
    assert format_double(1.0) == "1"
    assert format_double(0.1) == "0.1"
    assert format_double(6.71e-05) == "6.71e-05"


# --------------------------------------------------------------------------------------------------
# keyspaces


def test_nts_uses_tablets_by_default_and_expands_replication_factor() -> None:
    repl, durable, tablets = normalize_keyspace_options(
        {"replication": {"class": "NetworkTopologyStrategy", "replication_factor": "3"}},
        datacenters=["dc1", "dc2"],
    )
    assert repl == {"class": NTS, "dc1": "3", "dc2": "3"}
    assert durable is True
    assert tablets == 0


def test_nts_explicit_dc_overrides_shortcut_and_default_dc() -> None:
    repl, _, _ = normalize_keyspace_options(
        {"replication": {"class": NTS, "replication_factor": 3, "dc2": 1}}, datacenters=["dc1", "dc2"])
    assert repl == {"class": NTS, "dc1": "3", "dc2": "1"}
    repl, _, _ = normalize_keyspace_options({"replication": {"class": NTS, "replication_factor": "1"}})
    assert repl == {"class": NTS, "datacenter1": "1"}


def test_tablets_options() -> None:
    nts = {"class": "NetworkTopologyStrategy", "datacenter1": "1"}
    assert normalize_keyspace_options({"replication": nts, "tablets": {"initial": "8"}})[2] == 8
    assert normalize_keyspace_options({"replication": nts, "tablets": {"enabled": True, "initial": 4}})[2] == 4
    assert normalize_keyspace_options({"replication": nts, "tablets": {"enabled": "false"}})[2] is None
    assert normalize_keyspace_options({"replication": nts}, tablets_by_default=False)[2] is None
    with pytest.raises(ConfigurationException, match="Tablets enabled value must be true or false"):
        normalize_keyspace_options({"replication": nts, "tablets": {"enabled": "maybe"}})
    with pytest.raises(ConfigurationException, match="Initial tablets value should be numeric"):
        normalize_keyspace_options({"replication": nts, "tablets": {"initial": "x"}})
    with pytest.raises(ConfigurationException, match="Unrecognized tablets option foo"):
        normalize_keyspace_options({"replication": nts, "tablets": {"foo": "1"}})


def test_simple_strategy_is_vnodes_only() -> None:
    repl, durable, tablets = normalize_keyspace_options(
        {"replication": {"class": "SimpleStrategy", "replication_factor": 2}, "durable_writes": "false"})
    assert repl == {"class": SIMPLE, "replication_factor": "2"}
    assert durable is False
    assert tablets is None
    with pytest.raises(ConfigurationException, match="only NetworkTopologyStrategy"):
        normalize_keyspace_options({"replication": {"class": "SimpleStrategy", "replication_factor": 1},
                                    "tablets": {"enabled": True}})


@pytest.mark.parametrize(("props", "message"), [
    ({"replication": {"replication_factor": "1"}}, "Missing mandatory replication strategy class"),
    ({"replication": {"class": "FooStrategy"}}, "Unable to find replication strategy class"),
    ({"replication": {"class": "SimpleStrategy"}}, "requires a replication_factor"),
    ({"replication": {"class": "SimpleStrategy", "replication_factor": "-1"}}, "must be numeric and non-negative"),
    ({"replication": {"class": "SimpleStrategy", "replication_factor": "x"}}, "must be numeric and non-negative"),
    ({"replication": {"class": "SimpleStrategy", "replication_factor": "1", "dc1": "1"}},
     "Unrecognized strategy option {dc1}"),
    ({"replication": {"class": "NetworkTopologyStrategy", "dc9": "1"}}, "Unrecognized strategy option {dc9}"),
    ({"replication": {"class": "LocalStrategy"}}, "reserved for internal use"),
    ({"durable_writes": True}, "Missing mandatory option 'replication'"),
    ({"replication": {"class": "SimpleStrategy", "replication_factor": "1"}, "durable_writes": "perhaps"},
     "Invalid boolean value"),
])
def test_keyspace_errors(props: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationException, match=message):
        normalize_keyspace_options(props, datacenters=["dc1"])


def test_keyspace_unknown_property() -> None:
    with pytest.raises(SyntaxException, match="Unknown property 'foo'"):
        normalize_keyspace_options({"replication": {"class": "SimpleStrategy", "replication_factor": "1"},
                                    "foo": 1})


def test_alter_keyspace() -> None:
    old = KeyspaceDef("ks", {"class": NTS, "dc1": "3"}, True, 8)
    assert normalize_keyspace_options({"durable_writes": False}, old) == ({"class": NTS, "dc1": "3"}, False, 8)
    repl, _, tablets = normalize_keyspace_options({"replication": {"class": NTS, "dc1": "1"}}, old,
                                                  datacenters=["dc1"])
    assert repl == {"class": NTS, "dc1": "1"} and tablets == 8
    with pytest.raises(ConfigurationException, match="vnode/tablets"):
        normalize_keyspace_options({"tablets": {"enabled": False}}, old)
    with pytest.raises(ConfigurationException):
        normalize_keyspace_options({"replication": {"class": "SimpleStrategy", "replication_factor": "1"}}, old)
    vnodes = KeyspaceDef("v", {"class": SIMPLE, "replication_factor": "1"}, True, None)
    assert normalize_keyspace_options(
        {"replication": {"class": NTS, "dc1": "1"}}, vnodes, datacenters=["dc1"])[2] is None

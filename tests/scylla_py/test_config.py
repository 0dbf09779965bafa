"""Config: defaults, scylla.yaml parsing, CLI precedence, validation errors, system.config rows."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from scylla_py.config import (
    CLI_FLAGS,
    Config,
    ConfigError,
    ConfigRow,
    ConfigSource,
    load_config,
    option_names,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_YAML = ROOT / "conf" / "scylla.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scylla.yaml"
    path.write_text(text)
    return path


# -- defaults ---------------------------------------------------------------------------------


def test_option_table_matches_dataclass_fields() -> None:
    fields = {f.name for f in dataclasses.fields(Config)} - {"value_sources"}
    assert set(option_names()) == fields


def test_defaults_match_scylladb_and_client_compat() -> None:
    c = Config()
    assert c.cluster_name == "Test Cluster"
    assert (c.listen_address, c.rpc_address, c.api_address) == ("127.0.0.1",) * 3
    assert (c.native_transport_port, c.native_shard_aware_transport_port) == (9042, 19042)
    assert (c.storage_port, c.api_port, c.prometheus_port) == (7000, 10000, 9180)
    assert c.seeds == ("127.0.0.1",)
    assert c.commitlog_sync == "periodic" and c.commitlog_sync_period_in_ms == 10000
    assert c.native_transport_max_frame_size_in_mb == 256
    assert (c.authenticator, c.authorizer) == ("AllowAllAuthenticator", "AllowAllAuthorizer")
    assert (c.read_request_timeout_in_ms, c.write_request_timeout_in_ms) == (5000, 2000)
    assert c.enable_tablets is True and c.developer_mode is False


def test_derived_values_default_from_their_base() -> None:
    c = Config(listen_address="10.0.0.1", rpc_address="10.0.0.2", workdir=Path("/w"))
    assert c.effective_broadcast_address == "10.0.0.1"
    assert c.effective_broadcast_rpc_address == "10.0.0.2"
    assert c.data_directories == (Path("/w/data"),)
    assert c.commitlog_path == Path("/w/commitlog")
    assert c.hints_path == Path("/w/hints")
    assert (c.local_dc, c.local_rack) == ("datacenter1", "rack1")
    assert c.shard_count >= 1


def test_derived_values_follow_explicit_settings() -> None:
    c = Config(
        broadcast_address="1.2.3.4", broadcast_rpc_address="5.6.7.8", smp=3,
        data_file_directories=(Path("/d1"), Path("/d2")), commitlog_directory=Path("/cl"),
        hints_directory=Path("/h"), endpoint_snitch="GossipingPropertyFileSnitch",
    )
    assert (c.effective_broadcast_address, c.effective_broadcast_rpc_address) == ("1.2.3.4", "5.6.7.8")
    assert c.shard_count == 3
    assert c.data_directories == (Path("/d1"), Path("/d2"))
    assert (c.commitlog_path, c.hints_path) == (Path("/cl"), Path("/h"))
    assert (c.local_dc, c.local_rack) == ("dc1", "rack1")
    assert Config(dc="east", rack="r2").local_dc == "east"


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().cluster_name = "x"  # type: ignore[misc]


# -- the shipped scylla.yaml ------------------------------------------------------------------


def test_shipped_yaml_parses_to_the_defaults(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scylla_py.config"):
        loaded = load_config(SHIPPED_YAML, {})
    assert loaded == Config()
    assert not caplog.records, "the shipped file must not contain unknown keys"


def test_shipped_yaml_documents_every_option() -> None:
    text = SHIPPED_YAML.read_text()
    for name in option_names():
        key = "seed_provider" if name == "seeds" else name
        assert f"{key}:" in text, f"conf/scylla.yaml does not mention {key}"


# -- YAML parsing -----------------------------------------------------------------------------


def test_yaml_values_and_seed_provider(tmp_path: Path) -> None:
    path = write(tmp_path, """
cluster_name: prod
native_transport_port: 9043
seed_provider:
    - class_name: org.apache.cassandra.locator.SimpleSeedProvider
      parameters:
          - seeds: "10.0.0.1, 10.0.0.2,node3.example"
data_file_directories:
    - /data/a
commitlog_sync: batch
authenticator: org.apache.cassandra.auth.PasswordAuthenticator
authorizer: CassandraAuthorizer
developer_mode: true
smp: 2
""")
    c = load_config(path, {})
    assert c.cluster_name == "prod" and c.native_transport_port == 9043
    assert c.seeds == ("10.0.0.1", "10.0.0.2", "node3.example")
    assert c.data_directories == (Path("/data/a"),)
    assert c.commitlog_sync == "batch"
    assert c.authenticator == "PasswordAuthenticator"  # Java package prefix dropped
    assert c.developer_mode is True and c.smp == 2
    assert c.source_of("cluster_name") is ConfigSource.FILE
    assert c.source_of("api_port") is ConfigSource.DEFAULT


def test_empty_and_comment_only_files_give_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}) == Config()
    assert load_config(write(tmp_path, "# nothing\n"), {}) == Config()


def test_null_value_means_unset(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "cluster_name:\n"), {}).cluster_name == "Test Cluster"


def test_known_scylladb_keys_are_ignored_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "rpc_port: 9160\nconcurrent_reads: 32\nauto_snapshot: true\n")
    with caplog.at_level(logging.DEBUG, logger="scylla_py.config"):
        assert load_config(path, {}) == Config()
    assert {r.levelno for r in caplog.records} == {logging.DEBUG}
    assert any("rpc_port" in r.getMessage() for r in caplog.records)


def test_unknown_keys_warn_but_do_not_fail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scylla_py.config"):
        assert load_config(write(tmp_path, "native_transport_prot: 1\n"), {}) == Config()
    assert any("native_transport_prot" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("text", "key"), [
    ("native_transport_port: abc\n", "native_transport_port"),
    ("native_transport_port: 70000\n", "native_transport_port"),
    ("api_port: true\n", "api_port"),
    ("developer_mode: 1\n", "developer_mode"),
    ("commitlog_sync: sometimes\n", "commitlog_sync"),
    ("authenticator: LdapAuthenticator\n", "authenticator"),
    ("endpoint_snitch: Ec2Snitch\n", "endpoint_snitch"),
    ("listen_address: 'not an address!'\n", "listen_address"),
    ("listen_address: 0.0.0.0\n", "listen_address"),
    ("rpc_address: 0.0.0.0\n", "rpc_address"),
    ("smp: 0\n", "smp"),
    ("cluster_name: ''\n", "cluster_name"),
    ("data_file_directories: 5\n", "data_file_directories"),
    ("seed_provider: 127.0.0.1\n", "seed_provider"),
    ("seed_provider: [{class_name: X, parameters: [{seeds: a}]}]\n", "seed_provider"),
    ("partitioner: org.apache.cassandra.dht.RandomPartitioner\n", "partitioner"),
    ("api_port: 9042\n", "api_port"),
    ("authorizer: CassandraAuthorizer\n", "authorizer"),
])
def test_invalid_values_name_the_key_and_the_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.key == key
    assert info.value.origin == str(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_malformed_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cluster_name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        load_config(path, {})
    assert info.value.origin == str(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), {})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(tmp_path / "absent.yaml", {})
    assert info.value.origin == str(tmp_path / "absent.yaml")


# -- command-line overrides -------------------------------------------------------------------


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cluster_name: from-file\nnative_transport_port: 9043\n")
    c = load_config(path, {"cluster_name": "from-cli", "seeds": "10.0.0.1,10.0.0.2",
                           "workdir": "/srv/node1", "native_transport_port": None})
    assert c.cluster_name == "from-cli"
    assert c.native_transport_port == 9043  # None = flag not given
    assert c.seeds == ("10.0.0.1", "10.0.0.2")
    assert c.workdir == Path("/srv/node1") and c.commitlog_path == Path("/srv/node1/commitlog")
    assert c.source_of("cluster_name") is ConfigSource.CLI
    assert c.source_of("native_transport_port") is ConfigSource.FILE


def test_overrides_without_a_file() -> None:
    c = load_config(None, {"smp": 2, "developer_mode": True, "api_port": 0})
    assert (c.smp, c.developer_mode, c.api_port) == (2, True, 0)


def test_invalid_override_names_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "cluster_name: x\n"), {"smp": -1})
    assert info.value.key == "smp" and info.value.origin == "command line"
    with pytest.raises(ConfigError, match="unknown option"):
        load_config(None, {"no_such_option": 1})


def test_cross_field_error_names_where_the_trigger_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "cluster_name: x\n"), {"rpc_address": "0.0.0.0"})
    assert (info.value.key, info.value.origin) == ("rpc_address", "command line")
    c = load_config(None, {"rpc_address": "0.0.0.0", "broadcast_rpc_address": "10.0.0.1"})
    assert c.effective_broadcast_rpc_address == "10.0.0.1"


def test_cli_flags_map_to_options() -> None:
    assert set(CLI_FLAGS.values()) <= set(option_names())
    assert CLI_FLAGS["--seeds"] == "seeds" and CLI_FLAGS["--smp"] == "smp"


# -- system.config rows -----------------------------------------------------------------------


def test_as_rows_lists_every_option_with_source_and_json_value(tmp_path: Path) -> None:
    c = load_config(write(tmp_path, "cluster_name: prod\n"), {"smp": 2})
    rows = {r.name: r for r in c.as_rows()}
    assert len(rows) == len(option_names())
    assert all(isinstance(r, ConfigRow) for r in rows.values())
    assert rows["cluster_name"] == ConfigRow("cluster_name", "string", "config", '"prod"')
    assert rows["smp"] == ConfigRow("smp", "integer", "cli", "2")
    assert rows["native_transport_port"] == ConfigRow("native_transport_port", "integer", "default", "9042")
    assert rows["developer_mode"].value == "false"
    assert rows["broadcast_address"].value == "null"
    assert json.loads(rows["workdir"].value) == "var"
    seed = json.loads(rows["seed_provider"].value)
    assert seed["parameters"] == [{"seeds": "127.0.0.1"}]
    assert "seeds" not in rows


def test_docs_list_every_option() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for name in option_names():
        key = "seed_provider" if name == "seeds" else name
        assert f"`{key}`" in doc, f"docs/configuration.md does not document {key}"
    for flag in CLI_FLAGS:
        assert f"`{flag}" in doc, f"docs/configuration.md does not document {flag}"

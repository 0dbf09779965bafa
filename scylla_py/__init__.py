"""The scylla-py node: daemon, CLI, configuration, coordinator, REST API, metrics.

This is the only package that wires concrete implementations together; everything below it
(`cql`, `topology`, `raft`, `storage`) receives its collaborators explicitly.
"""

__version__ = "0.1.0"



def mapping_proxy(d: dict[object, object]) -> object:
    """Rebuilds a `MappingProxyType` on unpickling (see `_pickle_mapping_proxies`)."""
    from types import MappingProxyType

    return MappingProxyType(d)


def _pickle_mapping_proxies() -> None:
    """Let pickle carry `MappingProxyType` (immutable schema and config values use it) between
    this node's own processes: the supervisor hands each shard its config, shards exchange
    responses and schema changes (see `scylla_py.control`, `scylla_py.shard_rpc`)."""
    import copyreg
    from types import MappingProxyType

    def reduce(m: MappingProxyType[object, object]) -> tuple[object, tuple[dict[object, object]]]:
        return mapping_proxy, (dict(m),)

    copyreg.pickle(MappingProxyType, reduce)  # type: ignore[arg-type]


_pickle_mapping_proxies()

"""The scylla-py node: daemon, CLI, configuration, coordinator, REST API, metrics.

This is the only package that wires concrete implementations together; everything below it
(`cql`, `topology`, `raft`, `storage`) receives its collaborators explicitly.
"""

__version__ = "0.1.0"

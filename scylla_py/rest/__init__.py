"""The node's REST API: a ScyllaDB-compatible subset on port 10000, and the client nodetool uses.

Layers, bottom up: `http` (sans-IO HTTP/1.1 parser and response rendering), `router` (path
patterns -> handlers), `ownership` (pure effective-ownership arithmetic), `routes` (ScyllaDB's
paths over a `NodeAdmin`), `server` (asyncio binding). `admin` defines the `NodeAdmin` protocol the
daemon implements. `client` is a small blocking JSON-over-HTTP client for command-line tools.
Nothing here imports the daemon.
"""

from scylla_py.rest.admin import (
    AdminError,
    CompactionSummary,
    EndpointLocation,
    InvalidAdminRequest,
    KeyspaceKind,
    KeyspaceReplication,
    NodeAdmin,
    RingState,
    TableStatistics,
    TabletReplicas,
    UnknownKeyspace,
    UnknownTable,
)
from scylla_py.rest.server import RestServer, start_rest_server

__all__ = [
    "AdminError",
    "CompactionSummary",
    "EndpointLocation",
    "InvalidAdminRequest",
    "KeyspaceKind",
    "KeyspaceReplication",
    "NodeAdmin",
    "RestServer",
    "RingState",
    "TableStatistics",
    "TabletReplicas",
    "UnknownKeyspace",
    "UnknownTable",
    "start_rest_server",
]

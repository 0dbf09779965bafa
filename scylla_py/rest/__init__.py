"""The node's REST API: a ScyllaDB-compatible subset on port 10000.

Layers, bottom up: `http` (sans-IO HTTP/1.1 parser and response rendering), `router` (path
patterns -> handlers), `routes` (ScyllaDB's paths over a `NodeAdmin`), `server` (asyncio binding).
`admin` defines the `NodeAdmin` protocol the daemon implements. Nothing here imports the daemon.
"""

from scylla_py.rest.admin import (
    AdminError,
    CompactionSummary,
    InvalidAdminRequest,
    KeyspaceKind,
    NodeAdmin,
    UnknownKeyspace,
    UnknownTable,
)
from scylla_py.rest.server import RestServer, start_rest_server

__all__ = [
    "AdminError",
    "CompactionSummary",
    "InvalidAdminRequest",
    "KeyspaceKind",
    "NodeAdmin",
    "RestServer",
    "UnknownKeyspace",
    "UnknownTable",
    "start_rest_server",
]

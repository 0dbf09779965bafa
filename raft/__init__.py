"""A Raft consensus library: a deterministic core plus an asyncio server (see docs/raft.md).

Must never import anything else from the project. The names below are the public API; the core
(`raft.core.Core`) is used directly by tests and by anyone driving raft without asyncio.
"""

from raft.errors import (
    CommitStatusUnknown,
    ConfigChangeInProgress,
    CorruptionError,
    DroppedEntry,
    NotLeader,
    ProtocolError,
    RaftError,
    ReadBarrierFailed,
    Stopped,
    TransferInProgress,
)
from raft.fs import MemoryFileSystem, OsFileSystem
from raft.persistence import FilePersistence
from raft.server import RaftServer, ServerConfig
from raft.state_machine import StateMachine
from raft.tcp import TcpTransport
from raft.transport import InMemoryNetwork, Transport
from raft.types import Configuration, Index, ServerId, Term

__all__ = [
    "CommitStatusUnknown",
    "ConfigChangeInProgress",
    "Configuration",
    "CorruptionError",
    "DroppedEntry",
    "FilePersistence",
    "InMemoryNetwork",
    "Index",
    "MemoryFileSystem",
    "NotLeader",
    "OsFileSystem",
    "ProtocolError",
    "RaftError",
    "RaftServer",
    "ReadBarrierFailed",
    "ServerConfig",
    "ServerId",
    "StateMachine",
    "Stopped",
    "TcpTransport",
    "Term",
    "TransferInProgress",
    "Transport",
]

"""The replica side: mutations and cells, per-tablet LSM trees, reads and reconciliation.

Schema-agnostic: keys and clustering prefixes arrive as byte strings whose byte order is the CQL
order. Must never import anything else from the project. The public API (contracts.md section 1)
is re-exported here.
"""

from .clock import Clock, SystemClock
from .commitlog import ReplayStats
from .config import EngineStats, StorageConfig, TableOptions
from .engine import StorageEngine
from .errors import CorruptionError, StorageError, UnknownTabletError
from .fs import FileSystem, RealFileSystem
from .mutation import Cell, CellKey, DeletionTime, LivenessInfo, Mutation, RangeTombstone, Row
from .read import PartitionData, Slice
from .tablet import TabletId

__all__ = [
    "Cell", "CellKey", "Clock", "CorruptionError", "DeletionTime", "EngineStats", "FileSystem",
    "LivenessInfo", "Mutation", "PartitionData", "RangeTombstone", "RealFileSystem", "ReplayStats",
    "Row", "Slice", "StorageConfig", "StorageEngine", "StorageError", "SystemClock", "TableOptions",
    "TabletId", "UnknownTabletError",
]

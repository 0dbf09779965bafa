"""Configuration and statistics shapes of the engine (contracts.md section 1.3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class StorageConfig:
    commitlog_sync: Literal["batch", "periodic"] = "periodic"
    commitlog_sync_period_ms: int = 10000
    commitlog_segment_size_mb: int = 32
    memtable_flush_threshold_bytes: int = 64 << 20  # per tablet
    shard_memtable_limit_bytes: int = 512 << 20  # all tablets of the shard
    compaction_enabled: bool = True
    block_cache_bytes: int = 64 << 20  # decompressed sstable blocks kept in memory, per shard


def _default_compaction() -> Mapping[str, str]:
    return {"class": "SizeTieredCompactionStrategy"}


def _default_compression() -> Mapping[str, str]:
    return {"sstable_compression": "LZ4Compressor", "chunk_length_in_kb": "4"}


@dataclass(frozen=True)
class TableOptions:
    gc_grace_seconds: int = 864000
    bloom_filter_fp_chance: float = 0.01
    compaction: Mapping[str, str] = field(default_factory=_default_compaction)
    compression: Mapping[str, str] = field(default_factory=_default_compression)


@dataclass(frozen=True)
class EngineStats:
    memtable_bytes: int
    memtable_partitions: int
    commitlog_bytes: int
    commitlog_segments: int
    sstable_count: int
    sstable_bytes: int
    compactions_completed: int
    compaction_bytes_in: int
    compaction_bytes_out: int
    flushes_completed: int
    quarantined_sstables: int
    pending_flushes: int


@dataclass(frozen=True)
class TableStats:
    """One table's share of this engine (the tablets of it this engine holds)."""

    tablet_count: int
    memtable_bytes: int
    memtable_partitions: int
    sstable_count: int
    sstable_bytes: int
    sstable_partitions: int  # sum over sstables; a partition in several sstables counts in each
    memtable_writes: int

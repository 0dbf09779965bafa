"""Writing one sstable: partitions in (token, key) order in, durable component files out.

Protocol (crash safety): every component is written to `<name>.tmp`, fsynced, renamed to its
final name; `TOC.txt` goes last the same way, then the directory is fsynced. A generation with
no TOC.txt is an incomplete write and is deleted on load, so a crash at any point leaves either
no sstable or a complete one. Never writes into an existing file.

Layout decisions (formats.md section 3): a data block holds whole partitions and is cut once it
reaches the block size; an index block (sstable_index.py, version 2) is cut only right after a
data block, once it holds at least INDEX_BLOCK_ENTRIES entries, so it covers whole data blocks
and every entry can name its data block's framed length.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate, repeat
from operator import add
from pathlib import Path
from typing import Any

import msgpack

from .bloom import BloomFilter
from .codec import partition_obj, strict_packer
from .fs import FileSystem, WritableFile
from .memtable import Memtable
from .mutation import Mutation
from .sstable_format import (
    COMPONENTS,
    TOC,
    component_name,
    file_header,
    frame_block,
    seal_payload,
)
from .sstable_index import encode_index_block
from .sstable_stats import StatsCollector

INDEX_BLOCK_ENTRIES = 128  # like Cassandra's index_interval: fewer, larger blocks cost less per partition
_WRITE_BUFFER_BYTES = 256 << 10  # framed blocks are handed to the OS in writes of about this size


class SSTableWriter:
    def __init__(self, fs: FileSystem, directory: Path, generation: int, *, expected_partitions: int,
                 bloom_fp_chance: float, block_size_bytes: int, replay_position: tuple[int, int],
                 ancestors: Iterable[int] = (), created_at_s: int = 0) -> None:
        self._fs = fs
        self._dir = directory
        self.generation = generation
        self._block_size = max(1, block_size_bytes)
        self._replay_position = replay_position
        self._ancestors = sorted(ancestors)
        self._created_at_s = created_at_s
        self._bloom = BloomFilter.for_capacity(expected_partitions, bloom_fp_chance)
        self.stats = StatsCollector()
        self._data = _BufferedFile(self._open("Data.db"))
        self._index = _BufferedFile(self._open("Index.db"))
        self._data_off = len(file_header("Data.db"))
        self._index_off = len(file_header("Index.db"))
        self._data.write(file_header("Data.db"))
        self._index.write(file_header("Index.db"))
        # the open data block: packed partitions and their total size
        self._parts: list[bytes] = []
        self._block_bytes = 0
        # the open index block, column by column; entries of the open data block have no
        # data offset/length yet (they are filled in when that block is written)
        self._ix_tokens: list[int] = []
        self._ix_keys: list[bytes] = []
        self._ix_in_block: list[int] = []
        self._ix_lengths: list[int] = []
        self._ix_data_offsets: list[int] = []
        self._ix_data_lengths: list[int] = []
        self._summary_keys: list[Any] = []  # first (token, key) of each index block, flat
        self._summary_offsets: list[int] = []
        self._packer = strict_packer()
        self.data_bytes_uncompressed = 0

    def _open(self, component: str) -> WritableFile:
        return self._fs.open_append(self._dir / (component_name(self.generation, component) + ".tmp"))

    def add(self, m: Mutation) -> None:
        """Requires: strictly ascending (token, key) across calls (all add* methods)."""
        self.stats.add(m)
        self.add_packed(m.token, m.key, self._packer.pack(partition_obj(m, sort_range_tombstones=True)))

    def add_packed(self, token: int, key: bytes, packed: bytes) -> None:
        """Add one encoded partition as is. Statistics are the caller's (`stats.add_plain`,
        or `stats.add_copied` + `stats.absorb` for partitions copied from plain sstables, or
        a memtable's `statistics()` for its encoded partitions)."""
        self._ix_tokens.append(token)
        self._ix_keys.append(key)
        self._ix_in_block.append(self._block_bytes)
        n = len(packed)
        self._ix_lengths.append(n)
        self._parts.append(packed)
        self._block_bytes += n
        self._bloom.add(key)
        if self._block_bytes >= self._block_size:
            self._flush_data_block()

    def add_packed_batch(self, tokens: list[int], keys: list[bytes], packed: list[bytes]) -> None:
        """`add_packed` for many partitions at once, with per-block rather than per-partition
        work where it can (compaction's verbatim copies). Counts them in the statistics as
        copied (`stats.add_copied`)."""
        if tokens:
            self.stats.add_copied(len(tokens), tokens[0], tokens[-1])
            self.add_packed_run(tokens, keys, packed)

    def add_packed_run(self, tokens: list[int], keys: list[bytes], packed: list[bytes]) -> None:
        """`add_packed` of each partition (statistics are the caller's)."""
        n = len(tokens)
        if not n:
            return
        self._bloom.add_many(keys)
        lengths = list(map(len, packed))
        cum = list(accumulate(lengths, initial=0))  # cum[j]: bytes of packed[:j]
        size = self._block_size
        i = 0
        while i < n:
            b0 = self._block_bytes
            base = cum[i]
            # the block is cut after the first partition that takes it to `size` bytes
            end = min(n, bisect_left(cum, size - b0 + base, i + 1))
            self._ix_tokens.extend(tokens[i:end])
            self._ix_keys.extend(keys[i:end])
            self._ix_in_block.extend(map(add, cum[i:end], repeat(b0 - base)))
            self._ix_lengths.extend(lengths[i:end])
            self._parts.extend(packed[i:end])
            self._block_bytes = b0 + cum[end] - base
            if self._block_bytes >= size:
                self._flush_data_block()
            i = end

    def _flush_data_block(self) -> None:
        parts = self._parts
        if not parts:
            return
        # a block is a msgpack array of partitions: array header + the packed partitions
        raw = _array_header(len(parts)) + b"".join(parts)
        framed = frame_block(raw)
        self._data.write(framed)
        self._ix_data_offsets.extend(repeat(self._data_off, len(parts)))
        self._ix_data_lengths.extend(repeat(len(framed), len(parts)))
        self._data_off += len(framed)
        self.data_bytes_uncompressed += len(raw)
        self._parts = []
        self._block_bytes = 0
        if len(self._ix_tokens) >= INDEX_BLOCK_ENTRIES:
            self._flush_index_block()

    def _flush_index_block(self) -> None:
        """Requires: the open data block is empty (every entry's data block is written)."""
        if not self._ix_tokens:
            return
        self._summary_keys.extend((self._ix_tokens[0], self._ix_keys[0]))
        self._summary_offsets.append(self._index_off)
        framed = frame_block(encode_index_block(self._ix_tokens, self._ix_keys, self._ix_data_offsets,
                                                self._ix_data_lengths, self._ix_in_block, self._ix_lengths))
        self._index.write(framed)
        self._index_off += len(framed)
        self._ix_tokens = []
        self._ix_keys = []
        self._ix_in_block = []
        self._ix_lengths = []
        self._ix_data_offsets = []
        self._ix_data_lengths = []

    def finish(self) -> list[Path]:
        """Write the remaining components and commit the sstable (TOC last). Returns all paths."""
        self._flush_data_block()
        self._flush_index_block()
        for f in (self._data, self._index):
            f.sync()
            f.close()
        summary = msgpack.packb([self._summary_keys, self._summary_offsets], use_bin_type=True)
        bloom = self._bloom
        filt = msgpack.packb([bloom.k, bloom.m, bytes(bloom.bits)], use_bin_type=True)
        stats = msgpack.packb(self.stats.to_statistics(
            replay_position=self._replay_position, ancestors=self._ancestors,
            data_bytes_uncompressed=self.data_bytes_uncompressed, data_bytes=self._data_off,
            created_at_s=self._created_at_s), use_bin_type=True)
        for component, payload in (("Summary.db", summary), ("Filter.db", filt), ("Statistics.db", stats)):
            out = self._open(component)
            out.write(seal_payload(component, payload))
            out.sync()
            out.close()
        return commit_components(self._fs, self._dir, self.generation)

    def abort(self) -> None:
        for f in (self._data, self._index):
            f.close()
        for component in (*COMPONENTS, TOC):
            p = self._dir / (component_name(self.generation, component) + ".tmp")
            if self._fs.exists(p):
                self._fs.remove(p)


def write_memtable(w: SSTableWriter, mt: Memtable) -> None:
    """Add every partition of sealed memtable `mt` to `w` (which must be empty): those kept
    encoded as they are, with the statistics the memtable collected for them."""
    st = w.stats
    st.merge(mt.statistics())
    for tokens, keys, versions in mt.sorted_chunks():
        st.min_token = min(st.min_token, tokens[0])
        st.max_token = max(st.max_token, tokens[-1])
        if set(map(type, versions)) == _ONLY_BYTES:  # the common case: all written once
            w.add_packed_run(tokens, keys, versions)  # type: ignore[arg-type]
            continue
        for token, key, v in zip(tokens, keys, versions, strict=True):
            if isinstance(v, bytes):
                w.add_packed(token, key, v)
            else:
                w.add(v)


_ONLY_BYTES = {bytes}


class _BufferedFile:
    """Hands blocks to the OS in writes of about _WRITE_BUFFER_BYTES (one syscall per 4 KB
    block costs more than compressing it). `sync` and `close` write what is buffered first."""

    __slots__ = ("_buf", "_buf_bytes", "_f")

    def __init__(self, f: WritableFile) -> None:
        self._f = f
        self._buf: list[bytes] = []
        self._buf_bytes = 0

    def write(self, data: bytes) -> None:
        self._buf.append(data)
        self._buf_bytes += len(data)
        if self._buf_bytes >= _WRITE_BUFFER_BYTES:
            self._drain()

    def _drain(self) -> None:
        if self._buf:
            self._f.write(b"".join(self._buf))
            self._buf = []
            self._buf_bytes = 0

    def sync(self) -> None:
        self._drain()
        self._f.sync()

    def close(self) -> None:
        self._buf = []  # an aborted write drops what it buffered
        self._f.close()


def commit_components(fs: FileSystem, directory: Path, generation: int) -> list[Path]:
    """Rename every synced `<component>.tmp` to its final name, then write the TOC the same way."""
    paths = []
    for component in COMPONENTS:
        final = directory / component_name(generation, component)
        fs.rename(directory / (final.name + ".tmp"), final)
        paths.append(final)
    toc_final = directory / component_name(generation, TOC)
    toc_tmp = directory / (toc_final.name + ".tmp")
    f = fs.open_append(toc_tmp)
    f.write(("\n".join((*COMPONENTS, TOC)) + "\n").encode())
    f.sync()
    f.close()
    fs.rename(toc_tmp, toc_final)
    fs.sync_dir(directory)
    paths.append(toc_final)
    return paths


def is_plain_partition(obj: Any) -> bool:
    """True if the codec-form partition holds only live, non-expiring rows: nothing in it can be
    shadowed, expire or be purged, so compaction may copy it as is."""
    if obj[2] is not None or obj[3] is not None or obj[5]:
        return False
    for r in obj[4][1::2]:
        mk, dl, cells, cd = r
        if dl is not None or cd or (mk is not None and mk[1]):
            return False
        if None in cells[3::7] or any(cells[4::7]):
            return False
    return True


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")

"""Reading one sstable: point lookups through summary -> index block -> data block, and scans.

Loads the small components (TOC, Summary, Filter, Statistics) on open and checks the structure
(every TOC component present, headers, checksums, sizes consistent); Data and Index blocks are
read with pread on demand and verified by checksum on every read. Decoded blocks go into a shared
LRU `BlockCache` (point reads); scans and compaction read sequentially and do not fill the cache.
Reads Index.db versions 1 and 2 (sstable_index.py) and Statistics.db versions 1 and 2.

Lifetime: a reader holds open file descriptors. When compaction obsoletes it, it is closed only
after the last scan that acquired it releases it (files may already be unlinked: POSIX keeps them
readable). Any checksum or structure error raises `CorruptionError(path, offset)`.
"""

from __future__ import annotations

import itertools
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack

from .bloom import BloomFilter
from .codec import mutation_from_obj
from .errors import CorruptionError
from .fs import FileSystem, ReadableFile
from .mutation import Mutation
from .sstable_format import (
    BLOCK_HEADER,
    COMPONENTS,
    FILE_HEADER,
    TOC,
    check_file_header,
    component_name,
    open_payload,
    unframe_block,
)
from .sstable_index import IndexBlock, decode_index_block_v1, decode_index_block_v2

_READ_AHEAD = 8192
_unpackb = msgpack.unpackb
_ids = itertools.count(1)


class BlockCache:
    """LRU of decoded blocks, bounded by their estimated memory. Keys are ints made by
    `SSTableReader` (reader id, block kind, offset): cheaper to hash than tuples, and this is on
    every point read. `put` may run concurrently with the event loop's reads (it takes a lock);
    a racing duplicate put is ignored. `SSTableReader.get_encoded` inlines `get` (keep the two
    in step)."""

    def __init__(self, capacity_bytes: int) -> None:
        self._capacity = capacity_bytes
        self._size = 0
        self._entries: OrderedDict[int, Any] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: int) -> Any:
        e = self._entries.get(key)
        if e is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return e

    def put(self, key: int, value: Any, size: int) -> None:
        if size > self._capacity:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self._sizes[key] = size
            self._size += size
            while self._size > self._capacity:
                old, _ = self._entries.popitem(last=False)
                self._size -= self._sizes.pop(old)


_KEY_BITS = 42  # cache key = reader id << 42 | block offset << 1 | (1 for index blocks)


class SSTableReader:
    def __init__(self, fs: FileSystem, directory: Path, generation: int, cache: BlockCache) -> None:
        self.fs = fs
        self.directory = directory
        self.generation = generation
        self.uid = next(_ids)
        self._key_base = self.uid << _KEY_BITS
        self._cache = cache
        self._refs = 1
        self._obsolete = False
        self._files: list[ReadableFile] = []
        # built once: error reports name these paths, and Path arithmetic is not free
        self._data_path = self.path("Data.db")
        self._index_path = self.path("Index.db")
        toc_path = directory / component_name(generation, TOC)
        toc = fs.read_file(toc_path).decode("utf-8", "replace").split("\n")
        listed = {line.strip() for line in toc if line.strip()}
        for component in COMPONENTS:
            if component not in listed:
                raise CorruptionError(toc_path, 0, f"TOC lacks {component}")
            if not fs.exists(self.path(component)):
                raise CorruptionError(self.path(component), -1, "component listed in TOC is missing")
        st_path = self.path("Statistics.db")
        self.stats: dict[str, Any] = msgpack.unpackb(
            open_payload(st_path, fs.read_file(st_path), "Statistics.db"), raw=False)
        sm_path = self.path("Summary.db")
        try:
            sk, so = msgpack.unpackb(open_payload(sm_path, fs.read_file(sm_path), "Summary.db"),
                                     raw=False, use_list=True)
            self._summary_keys: list[tuple[int, bytes]] = list(zip(sk[0::2], sk[1::2]))
            self._summary_tokens: list[int] = sk[0::2]
            self._summary_offsets: list[int] = so
            f_path = self.path("Filter.db")
            k, m, bits = msgpack.unpackb(open_payload(f_path, fs.read_file(f_path), "Filter.db"), raw=False)
            self.bloom = BloomFilter(m, k, bytearray(bits))
            self.min_token: int = self.stats["min_token"]
            self.max_token: int = self.stats["max_token"]
            self.replay_position: tuple[int, int] = (self.stats["replay_position"][0], self.stats["replay_position"][1])
            self.ancestors: list[int] = list(self.stats["ancestors"])
            self.partitions: int = self.stats["partitions"]
            # Statistics version 1 lacks these: assume the worst (not plain, may never expire)
            self.plain: bool = self.stats.get("plain") is True
            self.non_expiring: bool = self.stats.get("non_expiring_data", True) is not False
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptionError(st_path, 0, f"malformed metadata: {e}") from e
        self._data, _ = self._open_checked("Data.db")
        self._index, self.index_version = self._open_checked("Index.db")
        if self._data.size() != self.stats["data_bytes"]:
            raise CorruptionError(self._data_path, self._data.size(), "data file size mismatch")
        if self._summary_offsets and self._index.size() <= self._summary_offsets[-1]:
            raise CorruptionError(self._index_path, self._index.size(), "index file truncated")
        # index blocks are contiguous: block i ends where block i+1 starts (one exact pread)
        self._index_ends = [*self._summary_offsets[1:], self._index.size()]
        self.size_bytes = sum(fs.file_size(self.path(c)) for c in COMPONENTS)

    def estimated_droppable_tombstones(self, gc_before_s: int) -> float:
        """Fraction of this sstable's cells and tombstones that are tombstones (or expired TTL
        cells) older than `gc_before_s`, from the drop-time histogram (minute resolution)."""
        droppable = sum(c for minute, c in self.stats["tombstone_drop_times"] if minute + 60 <= gc_before_s)
        total = self.stats["cells"] + self.stats["tombstones"]
        return droppable / total if total else 0.0

    def _open_checked(self, component: str) -> tuple[ReadableFile, int]:
        f = self.fs.open_read(self.path(component))
        self._files.append(f)
        return f, check_file_header(self.path(component), f.pread(0, FILE_HEADER.size), component)

    def path(self, component: str) -> Path:
        return self.directory / component_name(self.generation, component)

    def all_paths(self) -> list[Path]:
        return [self.path(c) for c in (*COMPONENTS, TOC)]

    # -- lifetime -----------------------------------------------------------------------------

    def acquire(self) -> None:
        self._refs += 1

    def release(self) -> None:
        self._refs -= 1
        if self._refs <= 0:
            self.close()

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []

    # -- blocks -------------------------------------------------------------------------------

    def _read_framed(self, f: ReadableFile, path: Path, offset: int, length: int = 0) -> tuple[bytes, int]:
        """(uncompressed block, framed length) at `offset`; `length`: its framed length if
        known (one exact pread), else 0 (read ahead, then fetch the rest)."""
        if length:
            buf = f.pread(offset, length)
            need = length
        else:
            buf = f.pread(offset, _READ_AHEAD)
            if len(buf) >= BLOCK_HEADER.size:
                clen = BLOCK_HEADER.unpack_from(buf, 0)[0]
                need = BLOCK_HEADER.size + clen
                if len(buf) < need and clen < (1 << 30):
                    buf += f.pread(offset + len(buf), need - len(buf))
            else:
                need = BLOCK_HEADER.size
        return unframe_block(path, offset, buf), need

    def _decode(self, path: Path, offset: int, raw: bytes) -> tuple[Any, ...]:
        try:
            out = msgpack.unpackb(raw, raw=False, use_list=False)
        except Exception as e:  # msgpack raises several types on malformed input
            raise CorruptionError(path, offset, f"malformed block: {e}") from e
        if not isinstance(out, tuple):
            raise CorruptionError(path, offset, "block is not an array")
        return out

    def _load_index_block(self, i: int) -> IndexBlock:
        off = self._summary_offsets[i]
        raw, _ = self._read_framed(self._index, self._index_path, off, self._index_ends[i] - off)
        try:
            if self.index_version >= 2:
                return decode_index_block_v2(raw)
            return decode_index_block_v1(self._decode(self._index_path, off, raw))
        except (ValueError, TypeError) as e:
            raise CorruptionError(self._index_path, off, f"malformed index: {e}") from e

    def _index_block(self, i: int) -> IndexBlock:
        key = self._key_base | self._summary_offsets[i] << 1 | 1
        blk: IndexBlock | None = self._cache.get(key)
        if blk is None:
            blk = self._load_index_block(i)
            self._cache.put(key, blk, blk.size_bytes())
        return blk

    def _body_start(self, off: int, raw: bytes) -> int:
        """Where a data block's partitions start: after its msgpack array header (partition
        offsets count from there)."""
        first = raw[0] if raw else 0
        hdr = 1 if 0x90 <= first <= 0x9F else 3 if first == 0xDC else 5 if first == 0xDD else -1
        if hdr < 0:
            raise CorruptionError(self._data_path, off, "block is not an array")
        return hdr

    def _load_data_block(self, off: int, length: int) -> tuple[bytes, int]:
        """(uncompressed data block at `off`, where its partitions start), into the cache."""
        raw = self._read_framed(self._data, self._data_path, off, length)[0]
        blk = (raw, self._body_start(off, raw))
        self._cache.put(self._key_base | off << 1, blk, len(raw) + 100)
        return blk

    # -- lookups ------------------------------------------------------------------------------

    def might_contain(self, token: int, key: bytes) -> bool:
        return self.min_token <= token <= self.max_token and self.bloom.might_contain(key)

    def get(self, token: int, key: bytes) -> Mutation | None:
        obj = self.get_encoded(token, key)
        if obj is None:
            return None
        try:
            return mutation_from_obj(obj)
        except (ValueError, TypeError, IndexError) as e:
            raise CorruptionError(self._data_path, -1, f"malformed partition: {e}") from e

    def get_encoded(self, token: int, key: bytes) -> Any:
        """The partition in codec form (a tuple, see codec.py), or None."""
        st = self._summary_tokens
        i = bisect_right(st, token) - 1
        if i >= 0 and st[i] == token:
            # index blocks may start with this very token: the key decides which one holds it
            pk = (token, key)
            sk = self._summary_keys
            while i >= 0 and sk[i] > pk:
                i -= 1
        if i < 0:
            return None
        # BlockCache.get inlined (twice): this is on every point read
        cache = self._cache
        entries = cache._entries
        ckey = self._key_base | self._summary_offsets[i] << 1 | 1
        ib: IndexBlock | None = entries.get(ckey)
        if ib is None:
            cache.misses += 1
            ib = self._load_index_block(i)
            cache.put(ckey, ib, ib.size_bytes())
        else:
            cache.hits += 1
            entries.move_to_end(ckey)
        # IndexBlock.find inlined
        tokens = ib.tokens
        j = bisect_left(tokens, token)
        n = ib.count
        ke = ib.key_ends
        blob = ib.keys_blob
        while j < n and tokens[j] == token:
            if blob[ke[j - 1] if j else 0:ke[j]] == key:
                break
            j += 1
        else:
            return None
        off = ib.data_offsets[j]
        ckey = self._key_base | off << 1
        blk: tuple[bytes, int] | None = entries.get(ckey)
        if blk is None:
            cache.misses += 1
            raw, start = self._load_data_block(off, ib.data_lengths[j])
        else:
            cache.hits += 1
            entries.move_to_end(ckey)
            raw, start = blk
        start += ib.offsets_in_block[j]
        try:
            obj = _unpackb(raw[start:start + ib.lengths[j]], raw=False, use_list=False)
        except Exception as e:  # msgpack raises several types on malformed input
            raise CorruptionError(self._data_path, off, f"malformed partition: {e}") from e
        if type(obj) is not tuple or len(obj) != 6 or obj[0] != token or obj[1] != key:
            raise CorruptionError(self._data_path, off, "partition does not match its index entry")
        return obj

    def _to_mutation(self, off: int, obj: Any) -> Mutation:
        try:
            return mutation_from_obj(obj)
        except (ValueError, TypeError, IndexError) as e:
            raise CorruptionError(self._data_path, off, f"malformed partition: {e}") from e

    def _start(self, after: tuple[int, bytes] | None) -> int | None:
        """Offset of the data block holding the first partition strictly after `after`."""
        if after is None:
            return FILE_HEADER.size if self.partitions else None
        i = max(0, bisect_right(self._summary_keys, after) - 1)
        while i < len(self._summary_offsets):
            ib = self._index_block(i)
            j = ib.upper_bound(after[0], after[1])
            if j < ib.count:
                return ib.data_offsets[j]
            i += 1
        return None

    def iter_range(self, after: tuple[int, bytes] | None, end_token: int) -> Iterator[Mutation]:
        """Partitions strictly after `after` with token <= end_token, ascending."""
        for off, obj in self.iter_range_objs(after, end_token):
            yield self._to_mutation(off, obj)

    def iter_range_objs(self, after: tuple[int, bytes] | None, end_token: int) -> Iterator[tuple[int, Any]]:
        """`iter_range` in codec form (rows in clustering order): (offset of the partition's
        data block, partition object)."""
        if self.partitions == 0 or end_token < self.min_token or (after is not None and after[0] > self.max_token):
            return
        off = self._start(after)
        if off is None:
            return
        end = self._data.size()
        while off < end:
            raw, flen = self._read_framed(self._data, self._data_path, off)
            for obj in self._decode(self._data_path, off, raw):
                if after is not None and (obj[0], obj[1]) <= after:
                    continue
                if obj[0] > end_token:
                    return
                yield off, obj
            after = None  # only the first block can hold partitions at or before `after`
            off += flen

    def iter_objs(self) -> Iterator[tuple[int, Any]]:
        """Every raw partition object in order with its block offset (verify)."""
        off = FILE_HEADER.size
        end = self._data.size()
        while off < end:
            raw, flen = self._read_framed(self._data, self._data_path, off)
            for obj in self._decode(self._data_path, off, raw):
                yield off, obj
            off += flen

    def iter_chunks(self) -> Iterator[tuple[list[int], list[bytes], list[bytes]]]:
        """Every partition in order, still encoded, one index block at a time:
        (tokens, keys, encoded partitions) -- compaction copies most of them without decoding.
        Sequential; does not fill the block cache."""
        last_off = -1
        raw = b""
        hdr = 0
        for i in range(len(self._summary_offsets)):
            ib = self._load_index_block(i)
            offs = ib.data_offsets
            lens = ib.data_lengths
            inb = ib.offsets_in_block
            plen = ib.lengths
            n = ib.count
            packed: list[bytes] = []
            # version 2: the index block's data blocks are contiguous and their lengths known,
            # so one pread fetches them all
            span_at = offs[0] if n and lens[0] else -1
            span = memoryview(self._data.pread(span_at, offs[n - 1] + lens[n - 1] - span_at)) \
                if span_at >= 0 else None
            j = 0
            while j < n:
                off = offs[j]
                e = bisect_right(offs, off, j)  # entries of one data block are contiguous
                if off != last_off:  # (a version-1 index block may end inside a data block)
                    if span is not None:
                        raw = unframe_block(self._data_path, off, span[off - span_at:off - span_at + lens[j]])
                    else:
                        raw = self._read_framed(self._data, self._data_path, off, lens[j])[0]
                    hdr = self._body_start(off, raw)
                    last_off = off
                if hdr + inb[e - 1] + plen[e - 1] > len(raw):
                    raise CorruptionError(self._index_path, self._summary_offsets[i],
                                          "index entry beyond its data block")
                packed.extend([raw[a:a + b] for a, b in zip(map(hdr.__add__, inb[j:e]), plen[j:e])])
                j = e
            yield ib.tokens.tolist(), ib.keys(), packed

    def iter_keys(self) -> Iterator[tuple[Sequence[int], list[bytes]]]:
        """(tokens, keys) of every partition, one index block at a time (reads Index.db only)."""
        for i in range(len(self._summary_offsets)):
            ib = self._load_index_block(i)
            yield ib.tokens, ib.keys()

    def verify(self) -> None:
        """Read and checksum every block of Data and Index."""
        for _ in self.iter_objs():
            pass
        for i in range(len(self._summary_offsets)):
            self._load_index_block(i)

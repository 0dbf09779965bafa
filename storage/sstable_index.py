"""Index blocks of an sstable (`Index.db`, docs/storage/formats.md section 3): encoding (version 2)
and decoding (versions 1 and 2) into one lookup shape, `IndexBlock`.

Grammar of an index block, version 2 (what the writer produces; all integers little-endian):

    index block := count u32
                   tokens            i64[count]   ascending (token, key) order
                   data_offsets      u64[count]   offset in Data.db of the entry's data block
                   data_lengths      u32[count]   framed length of that data block
                   offsets_in_block  u32[count]   from the end of the block's msgpack array header
                   lengths           u32[count]   encoded partition length
                   key_ends          u32[count]   entry j's key is keys[key_ends[j-1]:key_ends[j]]
                   keys              the partition keys, concatenated

Columns rather than records: a reader views each column in place (a memoryview cast on
little-endian hosts, an `array` copy elsewhere) and never builds a Python object per entry, so
decoding costs about a microsecond whatever the count, and a cached block is a handful of
objects the cyclic GC never has to walk. A version-2
index block covers whole data blocks (the writer cuts it only at a data block boundary), so
`data_lengths` is always known and a point read preads exactly one data block.

Version 1 (read only): a msgpack flat array `[token, key, data_block_offset, offset_in_block,
length, ...]`; its data block lengths are unknown (reported as 0), and a data block may be
shared by two consecutive index blocks.

Invariant: every decoded block satisfies count == len(each column), and key_ends is the running
total of key lengths; a block that does not is reported with `ValueError` (the reader turns it
into `CorruptionError` with the block's offset).
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, Literal, Union

# a column of an index block: a memoryview cast or an array, indexable and sliceable like a list
Column = Union["memoryview[int]", "array[int]"]

_U32 = struct.Struct("<I")
_BIG_ENDIAN = sys.byteorder == "big"
ENTRY_FIXED_BYTES = 8 + 8 + 4 + 4 + 4 + 4
if array("I").itemsize != 4 or array("q").itemsize != 8 or array("Q").itemsize != 8:
    raise ImportError("storage needs 4-byte 'I' and 8-byte 'q'/'Q' arrays")


def _column(code: str, values: Sequence[int]) -> bytes:
    a = array(code, values)
    if _BIG_ENDIAN:
        a.byteswap()
    return a.tobytes()


def encode_index_block(tokens: Sequence[int], keys: Sequence[bytes], data_offsets: Sequence[int],
                       data_lengths: Sequence[int], offsets_in_block: Sequence[int],
                       lengths: Sequence[int]) -> bytes:
    """One version-2 index block (uncompressed). Requires: equal lengths, ascending order."""
    return b"".join((
        _U32.pack(len(tokens)),
        _column("q", tokens),
        _column("Q", data_offsets),
        _column("I", data_lengths),
        _column("I", offsets_in_block),
        _column("I", lengths),
        _column("I", list(accumulate(map(len, keys)))),
        b"".join(keys),
    ))


class IndexBlock:
    """A decoded index block: parallel columns, entry j = partition (tokens[j], key(j))."""

    __slots__ = ("count", "data_lengths", "data_offsets", "key_ends", "keys_blob", "lengths",
                 "offsets_in_block", "tokens")

    def __init__(self, tokens: Column, keys_blob: bytes, key_ends: Column, data_offsets: Column,
                 data_lengths: Column, offsets_in_block: Column, lengths: Column) -> None:
        n = len(tokens)
        if not (len(key_ends) == len(data_offsets) == len(data_lengths) == len(offsets_in_block)
                == len(lengths) == n):
            raise ValueError("index block columns differ in length")
        if (key_ends[-1] if n else 0) != len(keys_blob):
            raise ValueError("index block keys do not add up")
        self.count = n
        self.tokens = tokens  # bisecting an int array needs no tuple comparisons
        self.keys_blob = keys_blob
        self.key_ends = key_ends
        self.data_offsets = data_offsets
        self.data_lengths = data_lengths  # 0: unknown (version 1)
        self.offsets_in_block = offsets_in_block
        self.lengths = lengths

    def key(self, j: int) -> bytes:
        ke = self.key_ends
        return self.keys_blob[ke[j - 1] if j else 0:ke[j]]

    def keys(self) -> list[bytes]:
        ke = self.key_ends
        blob = self.keys_blob
        return [blob[a:b] for a, b in zip((0, *ke), ke)]

    def find(self, token: int, key: bytes) -> int:
        """Index of the entry for (token, key), or -1."""
        tokens = self.tokens
        j = bisect_left(tokens, token)
        n = self.count
        while j < n and tokens[j] == token:
            if self.key(j) == key:
                return j
            j += 1
        return -1

    def upper_bound(self, token: int, key: bytes, lo: int = 0) -> int:
        """Index of the first entry at or after `lo` strictly after (token, key)."""
        tokens = self.tokens
        j = bisect_left(tokens, token, lo)
        n = self.count
        while j < n and tokens[j] == token and self.key(j) <= key:
            j += 1
        return j

    def size_bytes(self) -> int:
        """Memory estimate, for the block cache."""
        return len(self.keys_blob) + self.count * ENTRY_FIXED_BYTES + 200


def _view(code: Literal["q", "Q", "I"], data: memoryview) -> Column:
    """A little-endian column of `data` as a sequence of ints: a zero-copy view where the
    host's order is little-endian, a byte-swapped copy elsewhere."""
    if not _BIG_ENDIAN:
        return data.cast(code)
    a = array(code)
    a.frombytes(data)
    a.byteswap()
    return a


def decode_index_block_v2(raw: bytes) -> IndexBlock:
    if len(raw) < _U32.size:
        raise ValueError("index block shorter than its count")
    (n,) = _U32.unpack_from(raw, 0)
    keys_at = _U32.size + n * ENTRY_FIXED_BYTES
    if len(raw) < keys_at:
        raise ValueError("index block shorter than its columns")
    mv = memoryview(raw)
    o = _U32.size + 16 * n
    return IndexBlock(_view("q", mv[_U32.size:_U32.size + 8 * n]), raw[keys_at:],
                      _view("I", mv[o + 12 * n:o + 16 * n]), _view("Q", mv[_U32.size + 8 * n:o]),
                      _view("I", mv[o:o + 4 * n]), _view("I", mv[o + 4 * n:o + 8 * n]),
                      _view("I", mv[o + 8 * n:o + 12 * n]))


def decode_index_block_v1(flat: tuple[Any, ...]) -> IndexBlock:
    """From the msgpack-decoded flat array of a version-1 block."""
    if len(flat) % 5:
        raise ValueError("index block length is not a multiple of 5")
    keys: tuple[bytes, ...] = flat[1::5]
    if not all(isinstance(k, bytes) for k in keys):
        raise ValueError("index block key is not bytes")
    try:
        return IndexBlock(array("q", flat[0::5]), b"".join(keys), array("I", accumulate(map(len, keys))),
                          array("Q", flat[2::5]), array("I", bytes(4 * (len(flat) // 5))),
                          array("I", flat[3::5]), array("I", flat[4::5]))
    except OverflowError as e:
        raise ValueError(f"index block value out of range: {e}") from e

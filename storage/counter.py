"""Counter cell values: a set of per-host shards (contracts.md section 1.4).

Encoding (version 1, never renumber): a sequence of 32-byte shards, each
`host_id (16 bytes) | clock (i64 big-endian) | value (i64 big-endian)`, sorted by host id.
Merging keeps, per host id, the shard with the larger clock (on a tie, the larger value, so the
merge is commutative). The counter's value is the sum of the shard values.
"""

from __future__ import annotations

import struct

_SHARD = struct.Struct(">16sqq")

CounterShard = tuple[bytes, int, int]  # (host_id, clock, value)


def encode_shards(shards: list[CounterShard] | tuple[CounterShard, ...]) -> bytes:
    out = bytearray()
    for host, clock, value in sorted(shards):
        if len(host) != 16:
            raise ValueError("counter host id must be 16 bytes")
        out += _SHARD.pack(host, clock, value)
    return bytes(out)


def decode_shards(data: bytes) -> list[CounterShard]:
    if len(data) % _SHARD.size:
        raise ValueError("counter value length is not a multiple of 32")
    return [(bytes(h), c, v) for h, c, v in _SHARD.iter_unpack(data)]


def merge_counter_values(a: bytes, b: bytes) -> bytes:
    shards: dict[bytes, tuple[int, int]] = {}
    for host, clock, value in decode_shards(a) + decode_shards(b):
        old = shards.get(host)
        if old is None or (clock, value) > old:
            shards[host] = (clock, value)
    return encode_shards([(h, c, v) for h, (c, v) in shards.items()])


def counter_total(data: bytes) -> int:
    return sum(v for _, _, v in decode_shards(data))

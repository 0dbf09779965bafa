"""Murmur3 partitioner tokens: partition key bytes -> signed 64-bit token, exactly as Cassandra's
and ScyllaDB's Murmur3Partitioner compute them.

Owns `murmur3_token` and the token <-> string helpers. Cassandra's MurmurHash.hash3_x64_128 reads
the tail bytes as signed Java bytes, so a tail byte >= 0x80 is sign-extended before it is shifted
into place; stock murmur3 (the `mmh3` package) zero-extends and disagrees on such keys. We use
`mmh3` (C, fast) when no tail byte has its high bit set, and our own port of the Java variant
otherwise. The token is the first 64 bits of the hash, with LONG_MIN mapped to LONG_MAX (LONG_MIN
is reserved as the minimum token).
"""

from __future__ import annotations

import struct

import mmh3

MIN_TOKEN = -(1 << 63)
MAX_TOKEN = (1 << 63) - 1

_M64 = 0xFFFFFFFFFFFFFFFF
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
_BLOCK = struct.Struct("<QQ")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def _cassandra_hash64(key: bytes) -> int:
    """First 64 bits of Cassandra's hash3_x64_128(key, seed 0), unsigned."""
    length = len(key)
    nblocks = length // 16
    h1 = h2 = 0
    for i in range(nblocks):
        k1, k2 = _BLOCK.unpack_from(key, i * 16)
        k1 = _rotl((k1 * _C1) & _M64, 31)
        h1 ^= (k1 * _C2) & _M64
        h1 = (_rotl(h1, 27) + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        k2 = _rotl((k2 * _C2) & _M64, 33)
        h2 ^= (k2 * _C1) & _M64
        h2 = (_rotl(h2, 31) + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = key[nblocks * 16:]
    k1 = k2 = 0
    for i in range(len(tail) - 1, -1, -1):
        b = tail[i]
        v = (b - 256) & _M64 if b & 0x80 else b     # Java's (long) of a signed byte
        if i >= 8:
            k2 ^= (v << ((i - 8) * 8)) & _M64
        else:
            k1 ^= (v << (i * 8)) & _M64
    if len(tail) > 8:
        k2 = _rotl((k2 * _C2) & _M64, 33)
        h2 ^= (k2 * _C1) & _M64
    if tail:
        k1 = _rotl((k1 * _C1) & _M64, 31)
        h1 ^= (k1 * _C2) & _M64
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    return (h1 + h2) & _M64


def murmur3_token(key: bytes) -> int:
    """The Murmur3Partitioner token of serialized partition key bytes."""
    tail = len(key) & 15
    if not tail or max(key[-tail:]) < 0x80:
        h: int = mmh3.hash64(key, 0, True, True)[0]
    else:
        h = _cassandra_hash64(bytes(key))
        if h >= 1 << 63:
            h -= 1 << 64
    return MAX_TOKEN if h == MIN_TOKEN else h


def token_to_string(token: int) -> str:
    return str(token)


def token_from_string(text: str) -> int:
    """Parse a token as Murmur3Partitioner's TokenFactory does; ValueError if malformed."""
    t = int(text.strip())
    if not MIN_TOKEN <= t <= MAX_TOKEN:
        raise ValueError(f"Token {text} out of range for Murmur3Partitioner")
    return t

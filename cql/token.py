"""Murmur3 partitioner tokens: partition key bytes -> signed 64-bit token, exactly as Cassandra's
and ScyllaDB's Murmur3Partitioner compute them.

Owns `murmur3_token` and the token <-> string helpers. Cassandra's MurmurHash.hash3_x64_128 reads
the tail bytes as signed Java bytes, so a tail byte >= 0x80 is sign-extended before it is shifted
into place; stock murmur3 (the `mmh3` package) zero-extends and disagrees on such keys. We use
`mmh3` (C, fast) for every key. When a tail byte has its high bit set: if the sign extension stays
within the tail's first 8-byte word, mmh3 hashes the key with that word rewritten; otherwise we
correct mmh3's result for the sign extension (`_java_tail_hash64`). `_cassandra_hash64` is a direct
port of the Java variant kept as the reference the tests compare against. The token is the first 64 bits of the
hash, with LONG_MIN mapped to LONG_MAX (LONG_MIN is reserved as the minimum token).
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


def _finalize(h1: int, h2: int, length: int) -> int:
    """murmur3 x64-128's finalization, first 64 bits."""
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    return (h1 + h2) & _M64


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
    return _finalize(h1, h2, length)


# Inverses used to step back through murmur3's finalization (multiplication by an odd constant
# is a bijection mod 2**64; `x ^= x >> 33` undoes itself because 2 * 33 >= 64).
_FMIX_C1_INV = pow(0xFF51AFD7ED558CCD, -1, 1 << 64)
_FMIX_C2_INV = pow(0xC4CEB9FE1A85EC53, -1, 1 << 64)


def _unfmix(k: int) -> int:
    k ^= k >> 33
    k = (k * _FMIX_C2_INV) & _M64
    k ^= k >> 33
    k = (k * _FMIX_C1_INV) & _M64
    k ^= k >> 33
    return k


def _tail_mix1(k1: int) -> int:
    return (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64


def _tail_mix2(k2: int) -> int:
    return (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64


_HIGH_BIT = bytes(b >> 7 for b in range(256))  # bytes.translate table: byte -> its top bit
_sign_extensions: dict[bytes, int] = {}  # high-bit pattern of a tail -> its sign extension (<= 2**15 keys)


def _sign_extension(tail: bytes) -> int:
    """What Java's sign extension of the tail bytes XORs into the tail word (k2 << 64 | k1):
    a byte >= 0x80 at position i turns on every bit from 8 * (i + 1) up to the top of its word."""
    pattern = tail.translate(_HIGH_BIT)
    ext = _sign_extensions.get(pattern)
    if ext is None:
        ext = 0
        for i, high in enumerate(pattern):
            if high:
                top = 64 if i < 8 else 128
                ext ^= ((1 << top) - 1) ^ ((1 << (8 * (i + 1))) - 1)
        _sign_extensions[pattern] = ext
    return ext


# For one 8-byte tail word read as a little-endian int: its bytes' top bits -> what Java's sign
# extension XORs into it (`_sign_extension` of those bytes); 256 entries, made at import.
_WORD_HIGH_BITS = 0x8080808080808080
_WORD_EXTENSIONS: dict[int, int] = {
    int.from_bytes(bytes(0x80 * ((p >> i) & 1) for i in range(8)), "little"):
        _sign_extension(bytes(0x80 * ((p >> i) & 1) for i in range(8)))
    for p in range(256)
}


def _java_tail_hash64(key: bytes, tail_len: int) -> int:
    """Cassandra's hash of `key` (first 64 bits, unsigned) from stock murmur3's 128-bit result.

    The two hashes differ only in the tail word, which enters the state by XOR just before the
    invertible finalization. So: undo the finalization of mmh3's (h1, h2), swap the zero-extended
    tail's contribution for the sign-extended one, and finalize again. Constant work, whatever the
    key length (the pure-Python hash costs ~10 µs even for an 8-byte key)."""
    length = len(key)
    out1, out2 = mmh3.hash64(key, 0, True, False)
    # undo: h1 += h2; h2 += h1 (after fmix), fmix, h1 += h2; h2 += h1, h ^= length
    f2 = (out2 - out1) & _M64
    f1 = (out1 - f2) & _M64
    a1, a2 = _unfmix(f1), _unfmix(f2)
    x2 = (a2 - a1) & _M64
    x1 = (a1 - x2) & _M64
    h1, h2 = x1 ^ length, x2 ^ length
    tail = key[length - tail_len:]
    plain = int.from_bytes(tail, "little")
    java = plain ^ _sign_extension(tail)
    h1 ^= _tail_mix1(plain & _M64) ^ _tail_mix1(java & _M64)
    if tail_len > 8:
        h2 ^= _tail_mix2(plain >> 64) ^ _tail_mix2(java >> 64)
    return _finalize(h1, h2, length)


def murmur3_token(key: bytes) -> int:
    """The Murmur3Partitioner token of serialized partition key bytes."""
    # "No tail byte >= 0x80" (Java's sign extension then changes nothing) is asked with
    # bytes.isascii(), one C call: max() over a slice cost ~3k instructions, twice the hash
    # itself. An ASCII key (text keys, stress keys) needs no slice at all.
    if key.isascii():
        h: int = mmh3.hash64(key, 0, True, True)[0]
        return MAX_TOKEN if h == MIN_TOKEN else h
    tail = len(key) & 15
    if not tail or key[-tail:].isascii():
        h = mmh3.hash64(key, 0, True, True)[0]
    elif tail == 8 or (tail > 8 and key[-(tail - 8):].isascii()):
        # The sign extension stays inside the tail's first 8-byte word (k1), so Cassandra's hash is
        # stock murmur3 of the key with that word replaced by its sign-extended form: same length,
        # same blocks. This covers every 8-byte key (bigint, timestamp, double).
        head = len(key) - tail
        if head or tail != 8:
            w = int.from_bytes(key[head:head + 8], "little")
            java_word = (w ^ _WORD_EXTENSIONS[w & _WORD_HIGH_BITS]).to_bytes(8, "little")
            h = mmh3.hash64(b"".join((key[:head], java_word, key[head + 8:])), 0, True, True)[0]
        else:  # an 8-byte key is its tail word
            w = int.from_bytes(key, "little")
            h = mmh3.hash64((w ^ _WORD_EXTENSIONS[w & _WORD_HIGH_BITS]).to_bytes(8, "little"), 0, True, True)[0]
    else:
        h = _java_tail_hash64(bytes(key), tail)
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

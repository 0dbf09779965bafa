"""Bloom filter over partition keys (mmh3), stored as the sstable Filter.db component.

Probes use double hashing of the two 64-bit halves of MurmurHash3 x64_128 (Kirsch-Mitzenmacher);
k and m are stored with the bits, so sizing may change without touching the format.

Sizing trades a little memory for CPU: the optimum for a false-positive chance p is
m/n = -ln(p) / ln(2)^2 bits per key with k = m/n ln 2 probes (7 for p = 1%), but every probe is
a few Python operations on the write path (flush, compaction) and on every read. So k is the
fewest probes whose bits per key, -k / ln(1 - p^(1/k)), stay within 10% of the optimum (4 for
p = 1%, with 10.5 instead of 9.6 bits per key) -- the same p, with ~40% fewer probes.
Invariant: `might_contain` never returns False for an added key.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable

import mmh3

# (h1, h2): the unsigned 64-bit halves of MurmurHash3 x64_128. mmh3 >= 5 has a function taking
# no keywords: keyword parsing costs hash64(key, signed=False) almost as much as the hashing
# (and hash64's positional form does not honour `signed` for the first half).
_hash_pair: Callable[[bytes, int], tuple[int, int]] = getattr(
    mmh3, "mmh3_x64_128_utupledigest", lambda key, seed: mmh3.hash64(key, seed, signed=False))
_BIT = tuple(1 << i for i in range(8))


_BITS_SLACK = 1.1  # bits per key we accept over the optimum to need fewer probes


@functools.lru_cache(maxsize=64)
def probes_and_bits(fp_chance: float) -> tuple[int, float]:
    """(k, bits per key) for false-positive chance `fp_chance` (see the module docstring)."""
    p = min(max(fp_chance, 1e-9), 0.999)
    optimum = -math.log(p) / (math.log(2) ** 2)
    k = 1
    while True:
        bits = -k / math.log(1 - p ** (1 / k))
        if bits <= _BITS_SLACK * optimum:
            return k, bits
        k += 1


class BloomFilter:
    __slots__ = ("bits", "k", "m")

    def __init__(self, m: int, k: int, bits: bytearray | None = None) -> None:
        self.m = max(8, m)
        self.k = max(1, k)
        self.bits = bits if bits is not None else bytearray((self.m + 7) // 8)

    @classmethod
    def for_capacity(cls, n: int, fp_chance: float) -> BloomFilter:
        n = max(1, n)
        k, bits_per_key = probes_and_bits(fp_chance)
        return cls(math.ceil(n * bits_per_key), k)

    # Probe i is (h1 + i*h2) mod m. It is computed as a running sum reduced mod m at each step
    # (the same bits as the formula): the operands stay below 2m, small ints Python adds fast,
    # instead of 64-bit-plus values that grow with every probe.

    def add(self, key: bytes) -> None:
        h, h2 = _hash_pair(key, 0)
        m = self.m
        bits = self.bits
        pos = h % m
        step = h2 % m
        for _ in range(self.k):
            bits[pos >> 3] |= _BIT[pos & 7]
            pos += step
            if pos >= m:
                pos -= m

    def add_many(self, keys: Iterable[bytes]) -> None:
        m = self.m
        k = self.k
        bits = self.bits
        bit = _BIT
        for key in keys:
            h, h2 = _hash_pair(key, 0)
            pos = h % m
            step = h2 % m
            for _ in range(k):
                bits[pos >> 3] |= bit[pos & 7]
                pos += step
                if pos >= m:
                    pos -= m

    def might_contain(self, key: bytes) -> bool:
        h, h2 = _hash_pair(key, 0)
        m = self.m
        bits = self.bits
        pos = h % m
        step = h2 % m
        for _ in range(self.k):
            if not bits[pos >> 3] & _BIT[pos & 7]:
                return False
            pos += step
            if pos >= m:
                pos -= m
        return True

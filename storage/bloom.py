"""Bloom filter over partition keys (mmh3), stored as the sstable Filter.db component.

Sizing: m = -n ln(p) / ln(2)^2 bits, k = round(m/n ln 2) probes, using double hashing of the two
64-bit halves of MurmurHash3 x64_128 (Kirsch-Mitzenmacher). Invariant: `might_contain` never
returns False for an added key.
"""

from __future__ import annotations

import math

import mmh3


class BloomFilter:
    __slots__ = ("bits", "k", "m")

    def __init__(self, m: int, k: int, bits: bytearray | None = None) -> None:
        self.m = max(8, m)
        self.k = max(1, k)
        self.bits = bits if bits is not None else bytearray((self.m + 7) // 8)

    @classmethod
    def for_capacity(cls, n: int, fp_chance: float) -> BloomFilter:
        n = max(1, n)
        p = min(max(fp_chance, 1e-9), 0.999)
        m = math.ceil(-n * math.log(p) / (math.log(2) ** 2))
        k = round(m / n * math.log(2))
        return cls(m, k)

    def add(self, key: bytes) -> None:
        h, h2 = mmh3.hash64(key, signed=False)
        m = self.m
        bits = self.bits
        for _ in range(self.k):
            pos = h % m
            bits[pos >> 3] |= 1 << (pos & 7)
            h += h2

    def might_contain(self, key: bytes) -> bool:
        h, h2 = mmh3.hash64(key, signed=False)
        m = self.m
        bits = self.bits
        for _ in range(self.k):
            pos = h % m
            if not bits[pos >> 3] & (1 << (pos & 7)):
                return False
            h += h2
        return True

"""Bloom filter over partition keys (mmh3), stored as the sstable Filter.db component.

Probes use double hashing of the two 64-bit halves of MurmurHash3 x64_128 (Kirsch-Mitzenmacher);
k and m are stored with the bits, so sizing may change without touching the format.

Sizing trades a little memory for CPU: the optimum for a false-positive chance p is
m/n = -ln(p) / ln(2)^2 bits per key with k = m/n ln 2 probes (7 for p = 1%), but every probe is
a few Python operations and a likely cache miss on the write path (flush, compaction) and on
every read. So k is the fewest probes whose bits per key, -k / ln(1 - p^(1/k)), stay within 30%
of the optimum (3 for p = 1%, with 12.4 instead of 9.6 bits per key: 1.5 bytes per partition)
-- the same p, with less than half the probes. (With 10% slack it was k = 4 and 10.5 bits per
key; the fourth probe was ~5% of a compaction's CPU time.)
Invariant: `might_contain` never returns False for an added key.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

import mmh3

# (h1, h2): the unsigned 64-bit halves of MurmurHash3 x64_128. mmh3 >= 5 has a function taking
# no keywords: keyword parsing costs hash64(key, signed=False) almost as much as the hashing
# (and hash64's positional form does not honour `signed` for the first half).
_hash_pair: Callable[[bytes, int], tuple[int, int]] = getattr(
    mmh3, "mmh3_x64_128_utupledigest", lambda key, seed: mmh3.hash64(key, seed, signed=False))
_BIT = tuple(1 << i for i in range(8))


_BITS_SLACK = 1.3  # bits per key we accept over the optimum to need fewer probes


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
    __slots__ = ("_add", "bits", "k", "m", "might_contain")

    # might_contain(key): False if `key` was surely never added. An attribute (a partial of
    # the compiled checker), not a method: one Python call per point read instead of two.
    might_contain: Callable[[bytes], bool]

    def __init__(self, m: int, k: int, bits: bytearray | None = None) -> None:
        self.m = max(8, m)
        self.k = max(1, k)
        self.bits = bits if bits is not None else bytearray((self.m + 7) // 8)
        self._add = _adder(self.k)
        self.might_contain = functools.partial(_checker(self.k), self.bits, self.m)

    @classmethod
    def for_capacity(cls, n: int, fp_chance: float) -> BloomFilter:
        n = max(1, n)
        k, bits_per_key = probes_and_bits(fp_chance)
        return cls(math.ceil(n * bits_per_key), k)

    # Probe i is (h1 + i*h2) mod m. It is computed as a running sum reduced mod m at each step
    # (the same bits as the formula): the operands stay below 2m, small ints Python adds fast,
    # instead of 64-bit-plus values that grow with every probe. The loops over probes are
    # unrolled for this k (`_probe_code`): on flush and compaction this runs once per partition.

    def add(self, key: bytes) -> None:
        self._add(self.bits, self.m, (key,))

    def add_many(self, keys: Iterable[bytes]) -> None:
        self._add(self.bits, self.m, keys)


def _probe_code(k: int, probe: str) -> str:
    """Statements running `probe` at positions (h1 + i*h2) mod m for i < k; h1, h2 in p, s."""
    advance = "p += s\nif p >= m:\n    p -= m\n"
    return (probe + advance) * (k - 1) + probe


def _compile(name: str, src: str) -> Any:
    namespace: dict[str, Any] = {"_BIT": _BIT, "_hash_pair": _hash_pair, "repeat": repeat}
    exec(compile(src, f"<bloom {name}>", "exec"), namespace)
    return namespace[name]


@functools.lru_cache(maxsize=32)
def _adder(k: int) -> Callable[[bytearray, int, Iterable[bytes]], None]:
    body = textwrap.indent(_probe_code(k, "bits[p >> 3] |= bit[p & 7]\n"), " " * 8)
    fn: Callable[[bytearray, int, Iterable[bytes]], None] = _compile("add_many", (
        "def add_many(bits, m, keys):\n"
        "    bit = _BIT\n"
        "    for p, s in map(_hash_pair, keys, repeat(0)):\n"  # no Python-level call per key
        "        p %= m\n"
        "        s %= m\n"
        f"{body}"))
    return fn


@functools.lru_cache(maxsize=32)
def _checker(k: int) -> Callable[[bytearray, int, bytes], bool]:
    body = textwrap.indent(_probe_code(k, "if not bits[p >> 3] & _BIT[p & 7]:\n    return False\n"), " " * 4)
    fn: Callable[[bytearray, int, bytes], bool] = _compile("might_contain", (
        "def might_contain(bits, m, key):\n"
        "    p, s = _hash_pair(key, 0)\n"
        "    p %= m\n"
        "    s %= m\n"
        f"{body}"
        "    return True\n"))
    return fn

"""Clustering and partition key encodings (contracts.md 2.3)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cql.types import (
    INT,
    TEXT,
    CQLTypeError,
    decode_clustering,
    encode_clustering,
    encode_clustering_prefix,
    parse_type,
    prefix_end,
    prefix_start,
    serialize_partition_key,
    split_partition_key,
)

from .strategies import BY_NAME, Case

COMPONENTS = [BY_NAME[n] for n in ("int", "text", "timeuuid", "double", "decimal", "blob")]


def _cql_key(cases: list[Case], desc: list[bool], values: list[Any]) -> tuple[Any, ...]:
    out = []
    for c, d, v in zip(cases, desc, values):
        k = c.key(v)
        out.append(_Rev(k) if d else k)
    return tuple(out)


class _Rev:
    def __init__(self, k: Any) -> None:
        self.k = k

    def __lt__(self, other: _Rev) -> bool:
        return bool(other.k < self.k)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and bool(self.k == other.k)


@st.composite
def _schema_and_rows(draw: st.DrawFn) -> tuple[list[Case], list[bool], list[list[Any]]]:
    cases = draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=3))
    desc = draw(st.lists(st.booleans(), min_size=len(cases), max_size=len(cases)))
    rows = draw(st.lists(st.tuples(*[c.values for c in cases]).map(list), min_size=2, max_size=6))
    return cases, desc, rows


@settings(max_examples=150, deadline=None)
@given(_schema_and_rows())
def test_clustering_order_asc_desc_and_prefixes(data: Any) -> None:
    cases, desc, rows = data
    types = [parse_type(c.cql) for c in cases]
    encoded = []
    for row in rows:
        wires = [t.serialize(v) for t, v in zip(types, row)]
        key = encode_clustering(types, desc, wires)
        decoded = decode_clustering(types, desc, key)
        assert [t.to_comparable(w) for t, w in zip(types, decoded)] == \
            [t.to_comparable(w) for t, w in zip(types, wires)]
        encoded.append((key, row, wires))
    for k1, r1, _ in encoded:
        for k2, r2, _ in encoded:
            a, b = _cql_key(cases, desc, r1), _cql_key(cases, desc, r2)
            assert (k1 < k2) == (a < b) and (k1 == k2) == (a == b)
    # every prefix bound brackets exactly the keys that start with the prefix
    for _, _row, wires in encoded:
        for n in range(len(types) + 1):
            p = encode_clustering_prefix(types, desc, wires[:n])
            assert decode_clustering(types, desc, p) == decode_clustering(types, desc, p)
            assert len(decode_clustering(types, desc, p)) == n
            for k, _, _ in encoded:
                inside = k.startswith(p)
                assert (prefix_start(p) < k < prefix_end(p)) == inside


def test_clustering_worked_example() -> None:
    key = encode_clustering([INT, TEXT], [False, True], [INT.serialize(1), TEXT.serialize("a")])
    assert key.hex() == "40" + "0180000001" + "40" + "9effff" + "38"


def test_decode_clustering_rejects_garbage() -> None:
    with pytest.raises(CQLTypeError):
        decode_clustering([INT], [False], b"\x41\x01")
    with pytest.raises(CQLTypeError):
        decode_clustering([INT], [False], b"\x40\x01\x80\x00\x00\x01\x38\x00")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=30), min_size=1, max_size=4))
def test_partition_key_round_trip(values: list[bytes]) -> None:
    types = [TEXT] * len(values)
    data = serialize_partition_key(values)
    assert split_partition_key(types, data) == values
    if len(values) == 1:
        assert data == values[0]


def test_partition_key_matches_driver_routing_key() -> None:
    from cassandra.query import BoundStatement
    parts = [INT.serialize(1), TEXT.serialize("x")]
    assert serialize_partition_key(parts) == b"".join(BoundStatement._key_parts_packed(None, parts))
    with pytest.raises(CQLTypeError):
        split_partition_key([INT, TEXT], serialize_partition_key(parts)[:-1])

"""Reconciliation rules (contracts.md 1.1) and counters."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from storage.counter import counter_total, decode_shards, encode_shards, merge_counter_values
from storage.mutation import Cell
from storage.reconcile import reconcile_cells

cells = st.builds(
    Cell,
    timestamp_us=st.integers(0, 5),
    value=st.one_of(st.none(), st.binary(max_size=3)),
    ttl_s=st.sampled_from([0, 10]),
    expiry_s=st.integers(0, 3),
)


def test_rules() -> None:
    assert reconcile_cells(Cell(2, b"a"), Cell(1, b"z")).value == b"a"  # higher timestamp
    assert reconcile_cells(Cell(1, b"z"), Cell(1, None, expiry_s=5)).value is None  # tombstone on tie
    assert reconcile_cells(Cell(1, b"a"), Cell(1, b"b")).value == b"b"  # larger value
    assert reconcile_cells(Cell(1, b"z"), Cell(1, b"a", ttl_s=5, expiry_s=9)).ttl_s == 5  # expiring wins


@given(cells, cells, cells)
def test_commutative_and_associative(a: Cell, b: Cell, c: Cell) -> None:
    assert reconcile_cells(a, b) == reconcile_cells(b, a)
    assert reconcile_cells(reconcile_cells(a, b), c) == reconcile_cells(a, reconcile_cells(b, c))


def test_counter_merge() -> None:
    h1, h2 = b"\x01" * 16, b"\x02" * 16
    a = encode_shards([(h1, 1, 5), (h2, 3, 7)])
    b = encode_shards([(h1, 2, 6)])
    m = merge_counter_values(a, b)
    assert decode_shards(m) == [(h1, 2, 6), (h2, 3, 7)] and counter_total(m) == 13
    ca = Cell(1, a, counter=True)
    cb = Cell(5, b, counter=True)
    assert reconcile_cells(ca, cb).value == m == reconcile_cells(cb, ca).value
    assert reconcile_cells(ca, Cell(0, None, counter=True)).value is None  # counter deletes are final

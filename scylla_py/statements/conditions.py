"""LWT conditions (`IF c = v AND m[k] > w ...`): evaluation against the current row.

Owns the semantics of Cassandra's column conditions: `=` and `!=` compare with null allowed
(`IF c = null` holds when c is unset), ordering operators are false against null, `IN` holds when
any listed value matches, element conditions read a map value by key or a list element by index,
field conditions read one field of a UDT.
"""

from __future__ import annotations

from cql import ast as A
from cql.errors import InvalidRequest
from cql.types import CQLType, TupleType

from .modification import ModificationPlan
from .selection import RowView, column_value_getter
from .typeinfo import element_type, field_names, key_type, kind_of, list_of, split_elements, value_type
from .values import UNSET, BindValues


def _cmp(t: CQLType, op: A.Operator, actual: bytes | None, expected: bytes | None) -> bool:
    if op is A.Operator.EQ:
        if actual is None or expected is None:
            return actual is None and expected is None
        return t.to_comparable(actual) == t.to_comparable(expected)
    if op is A.Operator.NEQ:
        return not _cmp(t, A.Operator.EQ, actual, expected)
    if actual is None or expected is None:
        if expected is None and op in (A.Operator.LT, A.Operator.LTE, A.Operator.GT, A.Operator.GTE):
            raise InvalidRequest(f"Invalid comparison with null for operator \"{op.value}\"")
        return False
    a, e = t.to_comparable(actual), t.to_comparable(expected)
    if op is A.Operator.LT:
        return a < e
    if op is A.Operator.LTE:
        return a <= e
    if op is A.Operator.GT:
        return a > e
    if op is A.Operator.GTE:
        return a >= e
    raise InvalidRequest(f"Unsupported operator {op.value} in IF condition")


def _element(t: CQLType, whole: bytes | None, key: bytes) -> tuple[CQLType, bytes | None]:
    kind = kind_of(t)
    if whole is None:
        return (value_type(t) if kind == "map" else element_type(t)), None
    elems = split_elements(t, whole)
    if kind == "map":
        kt = key_type(t)
        wanted = kt.to_comparable(key)
        for i in range(0, len(elems), 2):
            if kt.to_comparable(elems[i]) == wanted:
                return value_type(t), elems[i + 1]
        return value_type(t), None
    index = int.from_bytes(key, "big", signed=True)
    return element_type(t), elems[index] if 0 <= index < len(elems) else None


def evaluate_conditions(plan: ModificationPlan, bind: BindValues, view: RowView) -> bool:
    for cond, column, getter, key_getter in plan.condition_getters:
        actual = column_value_getter(column)(view)
        t: CQLType = column.type.freeze()
        if cond.key is not None and key_getter is not None:
            key = key_getter(bind)
            if not isinstance(key, bytes):
                raise InvalidRequest(f"Invalid null value for {column.name} element")
            t, actual = _element(column.type, actual, key)
        elif cond.field is not None:
            names = field_names(column.type)
            idx = names.index(cond.field)
            assert isinstance(column.type, TupleType)
            parts = column.type.split(actual) if actual is not None else []
            t = column.type.types[idx]
            actual = parts[idx] if idx < len(parts) else None
        expected = getter(bind)
        if expected is UNSET:
            raise InvalidRequest(f"Invalid 'unset' value in condition on {column.name}")
        assert expected is None or isinstance(expected, bytes)
        if cond.operator is A.Operator.IN:
            options = split_elements(list_of(t), expected) if expected is not None else []
            if not any(_cmp(t, A.Operator.EQ, actual, o) for o in options):
                return False
            continue
        if cond.operator in (A.Operator.CONTAINS, A.Operator.CONTAINS_KEY):
            if actual is None or expected is None:
                return False
            elems = split_elements(column.type, actual)
            pool = elems[0::2] if (cond.operator is A.Operator.CONTAINS_KEY or kind_of(column.type) == "map") \
                and cond.operator is A.Operator.CONTAINS_KEY else (elems[1::2] if kind_of(column.type) == "map" else elems)
            if expected not in pool:
                return False
            continue
        if not _cmp(t, cond.operator, actual, expected):
            return False
    return True

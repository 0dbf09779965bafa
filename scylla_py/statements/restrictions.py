"""WHERE clauses: which partitions, which clustering ranges, and what is left to filter.

Owns the analysis of a statement's relations against a table, done once at prepare time, and the
per-execution evaluation that turns bind values into storage terms:

- partition keys: every partition-key column restricted by `=` or `IN` -> the list of serialized
  keys (the cartesian product of the IN lists, in the order given, deduplicated);
- token range: `token(pk...) op value` relations -> inclusive `[start, end]` token bounds;
- clustering: `=`/`IN` on a prefix of the clustering columns, then at most one slice
  (`<`, `<=`, `>`, `>=`, or a multi-column relation on the prefix) -> half-open byte ranges in
  storage's order (contracts.md 2.3; DESC columns flip the direction of a bound);
- everything else -> row filters, which need ALLOW FILTERING on stored tables (Cassandra's rule).

Invariant: the ranges returned are sorted by byte order and disjoint, as storage requires.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cql import ast as A
from cql import terms as T
from cql.errors import InvalidRequest
from cql.schema import ColumnKind
from cql.types import CQLType, parse_type
from cql.types.keys import TERMINATOR

from .table_info import AFTER, BEFORE, ColumnInfo, TableInfo
from .typeinfo import element_type, key_type, kind_of, list_of, split_elements, split_fields, value_type
from .values import UNSET, BindValues, BoundValue, FunctionResolver, Receiver, ValueGetter, compile_term

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1
_BIGINT = parse_type("bigint")


def _require(v: BoundValue, what: str) -> bytes:
    if v is None:
        raise InvalidRequest(f"Invalid null value in condition for column {what}")
    if v is UNSET:
        raise InvalidRequest(f"Invalid unset value for column {what}")
    assert isinstance(v, bytes)
    return v


class ValuesGetter:
    """The values one column is restricted to: `= x` (one) or `IN (...)` / `IN ?` (many)."""

    def __init__(self, column: ColumnInfo, getters: list[ValueGetter] | None,
                 list_getter: ValueGetter | None = None, list_type: CQLType | None = None) -> None:
        self.column = column
        self._getters = getters
        self._list_getter = list_getter
        self._list_type = list_type

    def values(self, bind: BindValues) -> list[bytes]:
        if self._getters is not None:
            return [_require(g(bind), self.column.name) for g in self._getters]
        assert self._list_getter is not None and self._list_type is not None
        data = _require(self._list_getter(bind), self.column.name)
        elems = split_elements(self._list_type, data)
        for e in elems:
            self.column.type.validate(e)
        return elems

    @property
    def is_single(self) -> bool:
        return self._getters is not None and len(self._getters) == 1

    @property
    def single_getter(self) -> ValueGetter:
        assert self._getters is not None and len(self._getters) == 1
        return self._getters[0]


@dataclass
class Bound:
    getter: Callable[[BindValues], list[bytes]]   # values of the bounded columns (a prefix)
    inclusive: bool


@dataclass
class ColumnFilter:
    """A relation the storage cannot serve, checked on each materialized row."""

    column: ColumnInfo
    operator: A.Operator
    getter: Callable[[BindValues], list[bytes]]   # one value, or many for IN
    key_getter: ValueGetter | None = None         # m[k] = v


@dataclass
class Restrictions:
    table: TableInfo
    partition: list[ValuesGetter] | None = None
    token_lower: tuple[ValueGetter, bool] | None = None   # (getter, inclusive)
    token_upper: tuple[ValueGetter, bool] | None = None
    clustering_eq: list[ValuesGetter] = field(default_factory=list)   # a prefix, in order
    # A multi-column `(a, b) = (..)` / `IN ((..), (..))` right after `clustering_eq`: whole tuples.
    clustering_tuples: Callable[[BindValues], list[list[bytes]]] | None = None
    clustering_tuple_len: int = 0
    slice_lower: Bound | None = None
    slice_upper: Bound | None = None
    slice_columns: int = 0          # how many clustering columns (from the eq prefix end) the slice spans
    filters: list[ColumnFilter] = field(default_factory=list)
    partition_filtered: bool = False  # partition key partly restricted: filtered, not looked up

    # --- evaluation -----------------------------------------------------------------------

    @property
    def has_partition_keys(self) -> bool:
        return self.partition is not None

    @property
    def has_clustering_slice(self) -> bool:
        return self.slice_lower is not None or self.slice_upper is not None

    @property
    def eq_prefix_len(self) -> int:
        return len(self.clustering_eq) + self.clustering_tuple_len

    @property
    def full_clustering_eq(self) -> bool:
        return self.eq_prefix_len == len(self.table.clustering_key) and not self.has_clustering_slice

    @functools.cached_property
    def _partition_eq(self) -> list[tuple[ValueGetter, str]] | None:
        """(getter, column) per partition key column when each is restricted by a single `=`
        (the common case, which needs no IN expansion)."""
        if self.partition is None or not all(vg.is_single for vg in self.partition):
            return None
        return [(vg.single_getter, vg.column.name) for vg in self.partition]

    @functools.cached_property
    def names_one_row(self) -> bool:
        """Whether the relations name exactly one row and nothing else: every partition key
        column by one `=`, every clustering column (if any) by one single-column `=`; no token,
        slice, multi-column or filtered relation."""
        return (self._partition_eq is not None and self.token_lower is None and self.token_upper is None
                and not self.filters and not self.partition_filtered and self.clustering_tuples is None
                and not self.has_clustering_slice
                and len(self.clustering_eq) == len(self.table.clustering_key)
                and all(vg.is_single for vg in self.clustering_eq))

    def row_clustering(self, bind: BindValues) -> tuple[bytes, tuple[tuple[bytes, bytes], ...] | None]:
        """For relations that name one row (`names_one_row`): its full clustering key (b"" on a
        table without clustering columns) and `clustering_ranges(bind)`, evaluated (and raising)
        exactly as `clustering_ranges` does."""
        eq = self.clustering_eq
        if not eq:
            return b"", None
        prefix = self.table.clustering_prefix([_require(vg.single_getter(bind), vg.column.name) for vg in eq])
        return prefix + TERMINATOR, ((prefix + BEFORE, prefix + AFTER),)

    def single_partition_key(self, bind: BindValues) -> bytes | None:
        """The partition key when every partition key column is restricted by one `=`, else None."""
        eq = self._partition_eq
        if eq is None:
            return None
        if len(eq) == 1:  # `partition_keys`' first case, without the list
            g, name = eq[0]
            return _require(g(bind), name)
        return self.partition_keys(bind)[0]

    def partition_keys(self, bind: BindValues) -> list[bytes]:
        eq = self._partition_eq
        if eq is not None:
            if len(eq) == 1:
                g, name = eq[0]
                return [_require(g(bind), name)]
            return [self.table.partition_key_bytes([_require(g(bind), name) for g, name in eq])]
        assert self.partition is not None
        per_column = [vg.values(bind) for vg in self.partition]
        seen: dict[bytes, None] = {}
        for combo in itertools.product(*per_column):
            key = self.table.partition_key_bytes(combo)
            seen.setdefault(key, None)
        return list(seen)

    def token_bounds(self, bind: BindValues) -> tuple[int, int]:
        lo, hi = MIN_TOKEN, MAX_TOKEN
        if self.token_lower is not None:
            g, inclusive = self.token_lower
            t = int.from_bytes(_require(g(bind), "token"), "big", signed=True)
            lo = t if inclusive else t + 1
        if self.token_upper is not None:
            g, inclusive = self.token_upper
            t = int.from_bytes(_require(g(bind), "token"), "big", signed=True)
            hi = t if inclusive else t - 1
        return lo, hi

    def clustering_prefixes(self, bind: BindValues) -> list[list[bytes]]:
        per_column = [vg.values(bind) for vg in self.clustering_eq]
        prefixes = [list(p) for p in itertools.product(*per_column)]
        if self.clustering_tuples is not None:
            tuples = self.clustering_tuples(bind)
            prefixes = [p + t for p in prefixes for t in tuples]
        return prefixes

    def clustering_keys(self, bind: BindValues) -> list[bytes]:
        """Full clustering keys (UPDATE / INSERT / single-row DELETE)."""
        if not self.table.clustering_key:
            return [b""]
        keys = {self.table.clustering_bytes(p): None for p in self.clustering_prefixes(bind)}
        return sorted(keys)

    def clustering_ranges(self, bind: BindValues) -> tuple[tuple[bytes, bytes], ...] | None:
        """Half-open byte ranges for the clustering restrictions, or None for the whole
        partition."""
        if not self.eq_prefix_len and not self.has_clustering_slice:
            return None
        ranges = []
        for prefix_values in self.clustering_prefixes(bind):
            if self.has_clustering_slice:
                start, end = self._slice_bytes(prefix_values, bind)
            else:
                prefix = self.table.clustering_prefix(prefix_values) if prefix_values else b""
                start, end = prefix + BEFORE, prefix + AFTER
            if start < end:
                ranges.append((start, end))
        ranges.sort()
        merged: list[tuple[bytes, bytes]] = []
        for s, e in ranges:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        return tuple(merged)

    def _slice_bytes(self, prefix_values: list[bytes], bind: BindValues) -> tuple[bytes, bytes]:
        t = self.table
        prefix = t.clustering_prefix(prefix_values) if prefix_values else b""
        start, end = prefix + BEFORE, prefix + AFTER
        # All columns of a slice sort the same direction (checked at prepare time), so the CQL
        # lower bound is the byte lower bound for ASC and the byte upper bound for DESC.
        desc = t.ck_desc[len(prefix_values)]
        for bound, is_lower in ((self.slice_lower, True), (self.slice_upper, False)):
            if bound is None:
                continue
            full = t.clustering_prefix(prefix_values + bound.getter(bind))
            if is_lower != desc:
                start = full + (BEFORE if bound.inclusive else AFTER)
            else:
                end = full + (AFTER if bound.inclusive else BEFORE)
        return start, end

    def row_filter(self, bind: BindValues) -> Callable[[Callable[[ColumnInfo], bytes | None]], bool] | None:
        """A predicate over a row (given a column -> value accessor), or None if nothing to
        filter."""
        if not self.filters:
            return None
        evaluated = [(f, f.getter(bind), f.key_getter(bind) if f.key_getter else None) for f in self.filters]

        def matches(value_of: Callable[[ColumnInfo], bytes | None]) -> bool:
            for f, operands, key in evaluated:
                if not _filter_matches(f, value_of(f.column), operands, key):
                    return False
            return True

        return matches


def _filter_matches(f: ColumnFilter, value: bytes | None, operands: list[bytes], key: BoundValue) -> bool:
    op = f.operator
    t = f.column.type
    if op is A.Operator.IN:
        return value is not None and any(_equal(t, value, o) for o in operands)
    if value is None:
        return False
    operand = operands[0]
    if op is A.Operator.EQ:
        if key is not None and isinstance(key, bytes):
            return _map_get(t, value, key) == operand
        return _equal(t, value, operand)
    if op is A.Operator.NEQ:
        return not _equal(t, value, operand)
    if op in (A.Operator.LT, A.Operator.LTE, A.Operator.GT, A.Operator.GTE):
        a, b = t.to_comparable(value), t.to_comparable(operand)
        return {
            A.Operator.LT: a < b, A.Operator.LTE: a <= b, A.Operator.GT: a > b, A.Operator.GTE: a >= b,
        }[op]
    if op is A.Operator.CONTAINS:
        return operand in _collection_values(t, value)
    if op is A.Operator.CONTAINS_KEY:
        return operand in _collection_keys(t, value)
    if op is A.Operator.LIKE:
        return _like(value.decode("utf-8", "replace"), operand.decode("utf-8", "replace"))
    raise InvalidRequest(f"Unsupported operator {op.value} in filter")


def _equal(t: CQLType, a: bytes, b: bytes) -> bool:
    return a == b or t.to_comparable(a) == t.to_comparable(b)


def _collection_values(t: CQLType, data: bytes) -> list[bytes]:
    elems = split_elements(t, data)
    return elems[1::2] if kind_of(t) == "map" else elems


def _collection_keys(t: CQLType, data: bytes) -> list[bytes]:
    return split_elements(t, data)[0::2]


def _map_get(t: CQLType, data: bytes, key: bytes) -> bytes | None:
    elems = split_elements(t, data)
    for i in range(0, len(elems), 2):
        if elems[i] == key:
            return elems[i + 1]
    return None


def _like(value: str, pattern: str) -> bool:
    import fnmatch

    translated = pattern.replace("*", "[*]").replace("?", "[?]").replace("%", "*").replace("_", "?")
    return fnmatch.fnmatchcase(value, translated)


# --- analysis -----------------------------------------------------------------------------------


def analyze(
    table: TableInfo,
    relations: Sequence[A.Relation],
    functions: FunctionResolver | None,
    *,
    for_select: bool,
) -> Restrictions:
    """Sort `relations` into partition/token/clustering/filter restrictions, raising
    InvalidRequest for what CQL does not allow."""
    r = Restrictions(table)
    pk_values: dict[str, ValuesGetter] = {}
    ck_eq: dict[str, ValuesGetter] = {}
    ck_slices: dict[str, list[tuple[A.Operator, T.Term]]] = {}
    multi: list[A.MultiColumnRelation | A.MultiColumnInRelation] = []

    def col(name: str) -> ColumnInfo:
        c = table.column(name)
        if c is None:
            raise InvalidRequest(f"Undefined column name {name} in table {table.keyspace}.{table.name}")
        return c

    for rel in relations:
        if isinstance(rel, A.TokenRelation):
            names = tuple(rel.columns)
            if names != tuple(c.name for c in table.partition_key):
                raise InvalidRequest(
                    "The token function arguments must be in the partition key order: "
                    + ", ".join(c.name for c in table.partition_key)
                )
            g = compile_term(rel.value, Receiver("partition key token", _BIGINT), functions)
            op = rel.operator
            if op in (A.Operator.GT, A.Operator.GTE, A.Operator.EQ):
                if r.token_lower is not None:
                    raise InvalidRequest("More than one restriction was found for the start bound on token")
                r.token_lower = (g, op is not A.Operator.GT)
            if op in (A.Operator.LT, A.Operator.LTE, A.Operator.EQ):
                if r.token_upper is not None:
                    raise InvalidRequest("More than one restriction was found for the end bound on token")
                r.token_upper = (g, op is not A.Operator.LT)
            if op not in (A.Operator.GT, A.Operator.GTE, A.Operator.EQ, A.Operator.LT, A.Operator.LTE):
                raise InvalidRequest(f"Unsupported operator {op.value} on token")
            continue
        if isinstance(rel, A.MultiColumnRelation | A.MultiColumnInRelation):
            multi.append(rel)
            continue
        if isinstance(rel, A.IsNotNullRelation):
            raise InvalidRequest("IS NOT NULL is only supported in materialized view definitions")
        c = col(rel.column)
        if isinstance(rel, A.InRelation):
            vg = _in_getter(c, rel.values, functions)
            if c.kind is ColumnKind.PARTITION_KEY:
                _no_dup(pk_values, c)
                pk_values[c.name] = vg
            elif c.kind is ColumnKind.CLUSTERING:
                _no_dup(ck_eq, c)
                ck_eq[c.name] = vg
            else:
                r.filters.append(ColumnFilter(c, A.Operator.IN, vg.values))
            continue
        assert isinstance(rel, A.ColumnRelation)
        op = rel.operator
        if rel.key is not None:
            kt = key_type(c.type) if kind_of(c.type) == "map" else None
            if kt is None:
                raise InvalidRequest(f"Column {c.name} is not a map: element restriction not allowed")
            kg = compile_term(rel.key, Receiver(f"key({c.name})", kt), functions)
            vg2 = compile_term(rel.value, Receiver(f"value({c.name})", value_type(c.type)), functions)
            r.filters.append(ColumnFilter(c, op, _one(vg2, c.name), kg))
            continue
        if op in (A.Operator.CONTAINS, A.Operator.CONTAINS_KEY):
            if not c.type.is_collection:
                raise InvalidRequest(f"Cannot use {op.value} on non-collection column {c.name}")
            et = key_type(c.type) if (op is A.Operator.CONTAINS_KEY or kind_of(c.type) != "map") and \
                kind_of(c.type) == "map" else (value_type(c.type) if kind_of(c.type) == "map" else element_type(c.type))
            g = compile_term(rel.value, Receiver(c.name, et), functions)
            r.filters.append(ColumnFilter(c, op, _one(g, c.name)))
            continue
        g = compile_term(rel.value, Receiver(c.name, c.type), functions)
        if op is A.Operator.EQ and c.kind is ColumnKind.PARTITION_KEY:
            _no_dup(pk_values, c)
            pk_values[c.name] = ValuesGetter(c, [g], None)
        elif op is A.Operator.EQ and c.kind is ColumnKind.CLUSTERING:
            _no_dup(ck_eq, c)
            ck_eq[c.name] = ValuesGetter(c, [g], None)
        elif c.kind is ColumnKind.CLUSTERING and op in (
            A.Operator.LT, A.Operator.LTE, A.Operator.GT, A.Operator.GTE
        ):
            ck_slices.setdefault(c.name, []).append((op, rel.value))
        else:
            if c.kind is ColumnKind.PARTITION_KEY and op is not A.Operator.EQ and not for_select:
                raise InvalidRequest(f"Only EQ and IN relation are supported on the partition key "
                                     f"(unless you use the token() function) for column {c.name}")
            r.filters.append(ColumnFilter(c, op, _one(g, c.name)))

    # Partition key: all or nothing.
    if pk_values:
        if len(pk_values) == len(table.partition_key):
            r.partition = [pk_values[c.name] for c in table.partition_key]
        else:
            if not for_select:
                missing = [c.name for c in table.partition_key if c.name not in pk_values]
                raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")
            r.partition_filtered = True
            for name, vg in pk_values.items():
                r.filters.append(ColumnFilter(table.by_name[name], A.Operator.IN, vg.values))
    elif not for_select and table.partition_key:
        raise InvalidRequest("Some partition key parts are missing: "
                             + ", ".join(c.name for c in table.partition_key))
    if r.partition is not None and (r.token_lower or r.token_upper):
        raise InvalidRequest("Partition key and token restrictions cannot be mixed")

    # Clustering: an = / IN prefix, then one slice.
    prefix: list[ValuesGetter] = []
    ck = table.clustering_key
    i = 0
    while i < len(ck) and ck[i].name in ck_eq:
        prefix.append(ck_eq.pop(ck[i].name))
        i += 1
    r.clustering_eq = prefix
    if multi:
        _apply_multi(r, multi, i, functions)
    elif i < len(ck) and ck[i].name in ck_slices:
        c = ck[i]
        for op, term in ck_slices.pop(c.name):
            g = compile_term(term, Receiver(c.name, c.type), functions)
            bound = Bound(_prefix_getter([g], [c]), op in (A.Operator.LTE, A.Operator.GTE))
            if op in (A.Operator.GT, A.Operator.GTE):
                if r.slice_lower is not None:
                    raise InvalidRequest(f"More than one restriction was found for the start bound on {c.name}")
                r.slice_lower = bound
            else:
                if r.slice_upper is not None:
                    raise InvalidRequest(f"More than one restriction was found for the end bound on {c.name}")
                r.slice_upper = bound
        r.slice_columns = 1
    # Whatever clustering restriction is left out of the prefix must be filtered.
    for name, vg in ck_eq.items():
        if not for_select:
            raise InvalidRequest(
                f"PRIMARY KEY column \"{name}\" cannot be restricted as preceding column "
                f"\"{ck[i].name if i < len(ck) else name}\" is not restricted"
            )
        r.filters.append(ColumnFilter(table.by_name[name], A.Operator.IN, vg.values))
    for name, slices in ck_slices.items():
        if not for_select:
            raise InvalidRequest(f"Clustering column \"{name}\" cannot be restricted "
                                 f"(preceding column is restricted by a non-EQ relation)")
        c = table.by_name[name]
        for op, term in slices:
            g = compile_term(term, Receiver(c.name, c.type), functions)
            r.filters.append(ColumnFilter(c, op, _one(g, c.name)))
    return r


def _no_dup(d: dict[str, ValuesGetter], c: ColumnInfo) -> None:
    if c.name in d:
        raise InvalidRequest(f"{c.name} cannot be restricted by more than one relation if it includes an Equal")


def _one(g: ValueGetter, name: str) -> Callable[[BindValues], list[bytes]]:
    return lambda bind: [_require(g(bind), name)]


def _prefix_getter(getters: list[ValueGetter], cols: list[ColumnInfo]) -> Callable[[BindValues], list[bytes]]:
    return lambda bind: [_require(g(bind), c.name) for g, c in zip(getters, cols, strict=True)]


def _in_getter(c: ColumnInfo, values: tuple[T.Term, ...] | T.BindMarker,
               functions: FunctionResolver | None) -> ValuesGetter:
    if isinstance(values, T.BindMarker):
        if c.type.is_multicell:
            raise InvalidRequest(f"IN is not supported on non-frozen collection column {c.name}")
        list_type = list_of(c.type)
        return ValuesGetter(c, None, compile_term(values, Receiver(f"in({c.name})", list_type), functions),
                            list_type)
    return ValuesGetter(c, [compile_term(v, Receiver(c.name, c.type), functions) for v in values], None)


def _apply_multi(r: Restrictions, multi: list[A.MultiColumnRelation | A.MultiColumnInRelation],
                 eq_len: int, functions: FunctionResolver | None) -> None:
    t = r.table
    ck = t.clustering_key
    for rel in multi:
        if rel.columns and r.clustering_tuples is not None:
            raise InvalidRequest("Mixing multi-column equality and slice restrictions is not supported")
        cols = []
        for k, name in enumerate(rel.columns):
            c = t.column(name)
            if c is None:
                raise InvalidRequest(f"Undefined column name {name}")
            if c.kind is not ColumnKind.CLUSTERING:
                raise InvalidRequest(f"Multi-column relations can only be applied to clustering columns but was applied to: {name}")
            if eq_len + k >= len(ck) or ck[eq_len + k].name != name:
                raise InvalidRequest("Clustering columns must appear in the PRIMARY KEY order in multi-column relations")
            cols.append(c)
        if len({c.definition.reversed for c in cols}) > 1:
            raise InvalidRequest("Multi-column slices over clustering columns of mixed order are not supported")
        tuple_type = parse_type("frozen<tuple<" + ", ".join(c.type.freeze().cql_name() for c in cols) + ">>")
        if isinstance(rel, A.MultiColumnInRelation) or rel.operator is A.Operator.EQ:
            items: list[ValueGetter] = []
            if isinstance(rel, A.MultiColumnInRelation):
                if isinstance(rel.values, T.BindMarker):
                    raise InvalidRequest("Multi-column IN with a single bind marker is not supported yet")
                items = [compile_term(v, Receiver("(" + ",".join(rel.columns) + ")", tuple_type), functions)
                         for v in rel.values]
            else:
                items = [compile_term(rel.value, Receiver("(" + ",".join(rel.columns) + ")", tuple_type),
                                      functions)]
            # Expand to per-column prefix values: each tuple is one full prefix.
            n = len(cols)

            def prefixes(bind: BindValues, items: list[ValueGetter] = items,
                         tuple_type: CQLType = tuple_type) -> list[list[bytes]]:
                out = []
                for g in items:
                    vals = split_fields(tuple_type, _require(g(bind), "tuple"))
                    if any(v is None for v in vals):
                        raise InvalidRequest("Invalid null value in multi-column relation")
                    out.append([v for v in vals if v is not None])
                return out

            if r.clustering_tuples is not None:
                raise InvalidRequest("More than one multi-column equality restriction on clustering columns")
            r.clustering_tuples = prefixes
            r.clustering_tuple_len = n
            continue
        g = compile_term(rel.value, Receiver("(" + ",".join(rel.columns) + ")", tuple_type), functions)
        n = len(cols)

        def tuple_values(bind: BindValues, g: ValueGetter = g, tuple_type: CQLType = tuple_type) -> list[bytes]:
            vals = split_fields(tuple_type, _require(g(bind), "tuple"))
            return [v for v in vals if v is not None]

        bound = Bound(tuple_values, rel.operator in (A.Operator.LTE, A.Operator.GTE))
        if rel.operator in (A.Operator.GT, A.Operator.GTE):
            r.slice_lower = bound
        elif rel.operator in (A.Operator.LT, A.Operator.LTE):
            r.slice_upper = bound
        else:
            raise InvalidRequest(f"Unsupported operator {rel.operator.value} in multi-column relation")
        r.slice_columns = n

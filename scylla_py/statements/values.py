"""Compiling statement terms into value getters.

Owns turning a `cql.terms.Term` plus the type of the column receiving it into a `ValueGetter`: a
function from the request's bind values to wire bytes (or None for null, or `UNSET`). Literals and
constant function calls are converted once, when the statement is prepared; bind markers become an
index lookup plus a validation of the bound bytes. This keeps parsing and literal conversion off the
per-execution path.

Invariant: a getter either returns bytes valid for its receiver type, None, or UNSET, or raises
`InvalidRequest` naming the column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cql import terms as T
from cql.errors import InvalidRequest
from cql.protocol.wire import UNSET as UNSET
from cql.protocol.wire import Value
from cql.types import CollectionType, CQLType, TupleType, from_literal

from .typeinfo import element_type, field_names, field_types, key_type, kind_of, value_type

BoundValue = Value

BindValues = Sequence[BoundValue]
ValueGetter = Callable[[BindValues], BoundValue]


@dataclass(frozen=True, slots=True)
class Receiver:
    """Who receives a value: a column name (for messages) and its type."""

    name: str
    type: CQLType


class FunctionResolver:
    """The compile context of one statement: resolves and evaluates native function calls in
    terms (supplied by the caller so the clock and the function registry stay explicit), and
    records the receiver of every bind marker, which becomes the statement's bind metadata."""

    def __init__(self, call: Callable[[T.FunctionCall, Receiver, BindValues], bytes | None],
                 is_constant: Callable[[T.FunctionCall], bool]) -> None:
        self.call = call
        self.is_constant = is_constant
        self.bind_receivers: dict[int, Receiver] = {}


def _bind_getter(marker: T.BindMarker, receiver: Receiver) -> ValueGetter:
    index = marker.index
    validate = receiver.type.validate
    name = receiver.name

    if receiver.type.accepts_any_bytes:

        def get_unvalidated(values: BindValues) -> BoundValue:
            try:
                return values[index]
            except IndexError:
                raise InvalidRequest(
                    f"There were {len(values)} markers(?) in CQL but {index + 1} or more values expected"
                ) from None

        return get_unvalidated

    def get(values: BindValues) -> BoundValue:
        try:
            v = values[index]
        except IndexError:
            raise InvalidRequest(
                f"There were {len(values)} markers(?) in CQL but {index + 1} or more values expected"
            ) from None
        if v is None or v is UNSET:
            return v
        assert isinstance(v, bytes)
        try:
            validate(v)
        except InvalidRequest as e:
            raise InvalidRequest(f"Exception while binding column {name}: {e.message}") from None
        return v

    return get


def compile_term(term: T.Term, receiver: Receiver, functions: FunctionResolver | None = None) -> ValueGetter:
    """A getter producing `term`'s value for `receiver`, resolving literals now."""
    if isinstance(term, T.BindMarker):
        if functions is not None:
            functions.bind_receivers.setdefault(term.index, receiver)
        return _bind_getter(term, receiver)
    if isinstance(term, T.FunctionCall):
        if functions is None:
            raise InvalidRequest(f"Function {term.name} is not allowed here")
        if functions.is_constant(term):
            constant = functions.call(term, receiver, ())
            return lambda _values: constant
        call = functions.call
        return lambda values: call(term, receiver, values)
    if isinstance(term, T.TypeCast):
        return compile_term(term.term, receiver, functions)
    if _contains_bind_or_call(term):
        return _compile_collection_with_binds(term, receiver, functions)
    constant_value = from_literal(receiver.type, term, receiver.name)
    return lambda _values: constant_value


def _contains_bind_or_call(term: T.Term) -> bool:
    if isinstance(term, T.BindMarker | T.FunctionCall):
        return True
    if isinstance(term, T.ListLiteral | T.SetLiteral | T.TupleLiteral):
        return any(_contains_bind_or_call(t) for t in term.items)
    if isinstance(term, T.MapLiteral):
        return any(_contains_bind_or_call(k) or _contains_bind_or_call(v) for k, v in term.entries)
    if isinstance(term, T.UserTypeLiteral):
        return any(_contains_bind_or_call(v) for _, v in term.fields)
    return False


def _compile_collection_with_binds(
    term: T.Term, receiver: Receiver, functions: FunctionResolver | None
) -> ValueGetter:
    """A collection literal with markers or calls inside (`[?, ?]`, `{k: ?}`, `(1, ?)`): compile
    each element against its element type, then assemble the wire value per execution.

    Sets and maps are emitted in the order of their elements' comparable encoding (deduplicated),
    which is the order the type's own serializer produces, so the bytes are canonical.
    """
    t = receiver.type
    name = receiver.name
    kind = kind_of(t)
    if kind in ("list", "set") and isinstance(term, T.ListLiteral | T.SetLiteral):
        elem = Receiver(f"value({name})", element_type(t))
        getters = [compile_term(x, elem, functions) for x in term.items]
        sort = kind == "set"
        to_comparable = element_type(t).to_comparable

        def get_seq(values: BindValues) -> BoundValue:
            items = [_require_present(g(values), name) for g in getters]
            if sort:
                items = [v for _, v in sorted({to_comparable(v): v for v in items}.items())]
            return CollectionType.join(items, len(items))

        return get_seq
    if kind == "map" and isinstance(term, T.MapLiteral):
        kr = Receiver(f"key({name})", key_type(t))
        vr = Receiver(f"value({name})", value_type(t))
        pairs = [(compile_term(k, kr, functions), compile_term(v, vr, functions)) for k, v in term.entries]
        key_comparable = key_type(t).to_comparable

        def get_map(values: BindValues) -> BoundValue:
            entries: dict[bytes, tuple[bytes, bytes]] = {}
            for kg, vg in pairs:
                k = _require_present(kg(values), name)
                entries[key_comparable(k)] = (k, _require_present(vg(values), name))
            flat: list[bytes] = []
            for _, (k, v) in sorted(entries.items()):
                flat.extend((k, v))
            return CollectionType.join(flat, len(entries))

        return get_map
    if kind in ("tuple", "udt") and isinstance(term, T.TupleLiteral | T.UserTypeLiteral):
        ftypes: Sequence[CQLType] = field_types(t)
        if isinstance(term, T.TupleLiteral):
            if len(term.items) > len(ftypes):
                raise InvalidRequest(f"Invalid tuple literal for {name}: too many elements")
            item_terms: list[T.Term | None] = list(term.items)
        else:
            index = {n: i for i, n in enumerate(field_names(t))}
            item_terms = [None] * len(ftypes)
            for fname, fterm in term.fields:
                if fname not in index:
                    raise InvalidRequest(f"Unknown field '{fname}' in value of user defined type {t.cql_name()}")
                item_terms[index[fname]] = fterm
        getters_or_none = [
            compile_term(x, Receiver(f"{name}[{i}]", ftypes[i]), functions) if x is not None else None
            for i, x in enumerate(item_terms)
        ]
        # Trailing fields not given are null.
        getters_or_none += [None] * (len(ftypes) - len(getters_or_none))

        def get_tuple(values: BindValues) -> BoundValue:
            fields: list[bytes | None] = []
            for g in getters_or_none:
                v = g(values) if g is not None else None
                fields.append(v if isinstance(v, bytes) else None)  # null and unset fields are null
            return TupleType.join(fields)

        return get_tuple
    raise InvalidRequest(f"Invalid collection literal for {name} of type {t.cql_name()}")


def _require_present(v: BoundValue, name: str) -> bytes:
    if v is None or v is UNSET:
        raise InvalidRequest(f"null is not supported inside collections (column {name})")
    assert isinstance(v, bytes)
    return v

"""Native functions as the statement layer uses them: in terms (`now()`, `toTimestamp(?)`) and in
select lists (`toTimestamp(now())`, `max(v)`).

Owns the adapter between `cql.functions` (the definitions, pure over wire bytes) and the statement
compiler: it supplies the clock (the node's timestamp generator, never a hidden global), decides
which calls are constant at prepare time (deterministic functions of literals) and which must run
per execution (`now()`, `uuid()`, anything over bind markers), and types a call's arguments from
the overloads of the function.
"""

from __future__ import annotations

from collections.abc import Sequence

from cql import functions as F
from cql import terms as T
from cql.errors import InvalidRequest
from cql.types import ASCII, TEXT, TIMEUUID, UUID, CQLType

from ..clock import TimestampGenerator
from .selection import Aggregate, FunctionImpl
from .values import UNSET, BindValues, FunctionResolver, Receiver, compile_term


class _Impl:
    """A resolved function seen through selection's `FunctionImpl` protocol."""

    def __init__(self, fn: F.Function, clock: F.FunctionClock) -> None:
        self._fn = fn
        self.name = fn.name
        self.return_type = fn.return_type
        self.is_aggregate = fn.is_aggregate
        self._clock = clock

    def execute(self, args: Sequence[bytes | None]) -> bytes | None:
        return self._fn.execute(list(args), self._clock)

    def new_aggregate(self) -> Aggregate:
        return self._fn.new_aggregate()


def _assignable(receiver: CQLType, produced: CQLType) -> bool:
    """Can a value of type `produced` be stored in `receiver` unchanged (same wire format)?"""
    return (receiver.freeze() == produced or (receiver == UUID and produced == TIMEUUID)
            or (receiver in (TEXT, ASCII) and produced == ASCII))


class FunctionRegistry:
    def __init__(self, timestamps: TimestampGenerator) -> None:
        self._clock = F.FunctionClock(timestamps.next_us)

    def lookup(self, name: str, arg_types: Sequence[CQLType]) -> FunctionImpl:
        return _Impl(F.resolve(name, list(arg_types)), self._clock)

    def compile_context(self) -> FunctionResolver:
        def is_constant(call: T.FunctionCall) -> bool:
            return _is_constant(call)

        def call(fc: T.FunctionCall, receiver: Receiver, values: BindValues) -> bytes | None:
            return self._call(fc, receiver, values, ctx)

        ctx = FunctionResolver(call, is_constant)
        return ctx

    def _call(self, fc: T.FunctionCall, receiver: Receiver, values: BindValues,
              ctx: FunctionResolver) -> bytes | None:
        if fc.name == "token":
            raise InvalidRequest("token() is only allowed on the left of a token relation or in a token bound")
        overloads = F.candidates(fc.name, len(fc.args))
        if not overloads:
            if F.candidates(fc.name, 0) or any(F.candidates(fc.name, n) for n in range(1, 4)):
                raise InvalidRequest(f"Invalid number of arguments in call to function {fc.name}")
            raise InvalidRequest(f"Unknown function '{fc.name}'")
        last_error: InvalidRequest | None = None
        for param_types in overloads:
            fn = F.resolve(fc.name, list(param_types))
            if not _assignable(receiver.type, fn.return_type):
                last_error = InvalidRequest(
                    f"Type error: cannot assign result of function system.{fc.name} (type "
                    f"{fn.return_type.cql_name()}) to {receiver.name} (type {receiver.type.cql_name()})")
                continue
            try:
                getters = [compile_term(a, Receiver(f"arg{i}({fc.name})", t), ctx)
                           for i, (a, t) in enumerate(zip(fc.args, param_types, strict=True))]
            except InvalidRequest as e:
                last_error = e
                continue
            args = [None if (v := g(values)) is UNSET else v for g in getters]
            return fn.execute([a if isinstance(a, bytes) else None for a in args], self._clock)
        assert last_error is not None
        raise last_error


def _is_constant(term: T.Term) -> bool:
    if isinstance(term, T.Literal):
        return True
    if isinstance(term, T.FunctionCall):
        return not F.is_nondeterministic(term.name) and all(_is_constant(a) for a in term.args)
    return False

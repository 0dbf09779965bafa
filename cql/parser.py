"""The CQL parser: statement text -> `cql.ast.ParsedStatement`.

Owns turning text into AST nodes: `cql/grammar.lark` is analysed by Lark (LALR(1)) once; `_Driver`
runs the resulting table with a single-regex contextual scanner, calling the `_Builder` callbacks
that construct `cql.ast` nodes as rules reduce (no parse tree is built). Lark's own pipeline over
the same table is kept as the tests' reference. Also owns the wording of syntax errors: Cassandra's
`line L:C <reason> at input 'tok'`, with L 1-based and C 0-based as ANTLR reports them, followed by a
snippet of the statement.

Invariants:
- Whatever the input, `parse` returns a ParsedStatement or raises `SyntaxException`; the only other
  error is `InvalidRequest` for the few statements Cassandra also rejects at this stage (INSERT with
  unmatched column/value counts, `x = y + 1` where y is not x, two PRIMARY KEY clauses).
- Bind markers are numbered in source order: LALR reduces `?` before shifting the next token, so the
  builder's counter sees markers left to right.
- The Lark parser is built once per process (its LALR tables are cached on disk, keyed by a hash of
  the grammar, because analysing the grammar takes seconds). `parse` memoizes short texts. Parsing holds a lock because the
  builder carries per-parse state (the marker list); the server parses on its event loop thread.
- Never imports the executor, types or storage: the parser knows no schema.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any, NamedTuple

import lark
from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_analysis import Shift

from cql import ast
from cql.errors import CQLError, InvalidRequest, SyntaxException
from cql.terms import (
    BindMarker,
    FunctionCall,
    ListLiteral,
    Literal,
    LiteralKind,
    MapLiteral,
    SetLiteral,
    Term,
    TupleLiteral,
    TypeCast,
    UserTypeLiteral,
)

__all__ = ["RESERVED_KEYWORDS", "parse", "parse_script"]

# ScyllaDB's reserved keywords (docs/cql/reserved-keywords): never identifiers unless quoted.
RESERVED_KEYWORDS = frozenset({
    "add", "allow", "alter", "and", "apply", "asc", "authorize", "batch", "begin", "by", "columnfamily",
    "create", "delete", "desc", "describe", "drop", "entries", "execute", "from", "full", "grant", "if",
    "in", "index", "infinity", "insert", "into", "keyspace", "limit", "modify", "nan", "norecursive",
    "not", "null", "of", "on", "or", "order", "primary", "rename", "replace", "revoke", "schema",
    "select", "set", "table", "to", "token", "truncate", "unlogged", "update", "use", "using", "view",
    "where", "with", "true", "false",
})

_UNQUOTED_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def quote_if_needed(name: str) -> str:
    """`name` as CQL text: unchanged when it reads back as itself unquoted, else double-quoted."""
    if _UNQUOTED_NAME.match(name) and name not in RESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


class _Scalar(NamedTuple):
    """A property constant: its Python value and its text as written (for map values)."""

    value: str | int | float | bool
    text: str


class _Star:
    """`SELECT *` / `fn(*)` marker."""


_STAR = _Star()


@dataclasses.dataclass(frozen=True, slots=True)
class _PrimaryKey:
    partition_key: tuple[str, ...]
    clustering_columns: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _ClusteringOrder:
    orderings: tuple[ast.Ordering, ...]


class _CompactStorage:
    pass


_COMPACT = _CompactStorage()


@dataclasses.dataclass(frozen=True, slots=True)
class _CastArgs:
    expression: ast.SelectorExpression
    type_text: str


def _unescape_string(token: str) -> str:
    if token.startswith("$$"):
        return token[2:-2]
    return token[1:-1].replace("''", "'")


def _tokens_to_int_term(value: Any) -> Term:
    """An INTEGER token or an already-built bind marker, as a term."""
    if isinstance(value, Token):
        return Literal(LiteralKind.INTEGER, str(value))
    term: Term = value
    return term


def _duration_term(value: Any) -> Term:
    if isinstance(value, Token):
        return Literal(LiteralKind.DURATION, str(value))
    term: Term = value
    return term


class _Builder(Transformer[Token, Any]):
    """Callbacks named after grammar rules/aliases; each receives the rule's kept children (named
    tokens, results of sub-rules, None for an absent `[optional]`) and returns an AST piece."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.bind_names: list[str | None] = []
        self.last_token: Token | None = None
        self.text = ""

    def reset(self, text: str) -> None:
        self.bind_names = []
        self.last_token = None
        self.text = text

    def _error(self, message: str) -> SyntaxException:
        """A syntax error found by a callback, placed at the last token the builder saw."""
        tok = self.last_token
        if tok is None or tok.line is None or tok.column is None or tok.start_pos is None:
            return SyntaxException(message)
        snippet = _snippet(self.text, tok.start_pos, tok.start_pos + len(tok))
        return SyntaxException(f"line {tok.line}:{tok.column - 1} {message}{snippet}")

    # -- identifiers -------------------------------------------------------------------------

    def ident(self, c: list[Any]) -> str:
        tok = c[0]
        if isinstance(tok, Token):
            self.last_token = tok
            if tok.type == "QUOTED_IDENT":
                return tok[1:-1].replace('""', '"')
            if tok.type == "IDENT":
                name = tok.lower()
                if name in RESERVED_KEYWORDS:
                    raise self._error(f"no viable alternative at input '{_shown(tok)}'")
                return name
        name_: str = c[0]
        return name_

    selector_ident = ident

    def unreserved_keyword(self, c: list[Any]) -> str:
        if not isinstance(c[0], Token):  # via describe_safe_keyword
            word: str = c[0]
            return word
        self.last_token = c[0]
        return str(c[0]).lower()

    def describe_safe_keyword(self, c: list[Any]) -> str:
        self.last_token = c[0]
        return str(c[0]).lower()

    def as_keyword(self, c: list[Any]) -> str:
        self.last_token = c[0]
        return "as"

    def qname(self, c: list[Any]) -> ast.QualifiedName:
        if len(c) == 1:
            return ast.QualifiedName(None, c[0])
        return ast.QualifiedName(c[0], c[1])

    def ident_list(self, c: list[Any]) -> tuple[str, ...]:
        return tuple(c)

    def role_name(self, c: list[Any]) -> str:
        v = c[0]
        if isinstance(v, Token):  # STRING
            self.last_token = v
            return _unescape_string(v)
        name: str = v
        return name

    # -- types -------------------------------------------------------------------------------

    def cql_type(self, c: list[Any]) -> str:
        params = [p for p in c[1:] if p is not None]
        if not params:
            name: str = c[0]
            return name
        return f"{c[0]}<{', '.join(params)}>"

    def type_simple(self, c: list[Any]) -> str:
        return quote_if_needed(c[0])

    def type_qualified(self, c: list[Any]) -> str:
        return f"{quote_if_needed(c[0])}.{quote_if_needed(c[1])}"

    def type_set(self, c: list[Any]) -> str:
        return "set"

    def type_custom(self, c: list[Any]) -> str:
        return str(c[0])

    # -- terms -------------------------------------------------------------------------------

    def string_literal(self, c: list[Any]) -> Literal:
        self.last_token = c[0]
        return Literal(LiteralKind.STRING, _unescape_string(c[0]))

    def integer_literal(self, c: list[Any]) -> Literal:
        self.last_token = c[0]
        return Literal(LiteralKind.INTEGER, str(c[0]))

    def float_literal(self, c: list[Any]) -> Literal:
        self.last_token = c[0]
        return Literal(LiteralKind.FLOAT, str(c[0]))

    def nan_literal(self, c: list[Any]) -> Literal:
        return Literal(LiteralKind.FLOAT, "NaN")

    def infinity_literal(self, c: list[Any]) -> Literal:
        return Literal(LiteralKind.FLOAT, "Infinity")

    def neg_infinity_literal(self, c: list[Any]) -> Literal:
        return Literal(LiteralKind.FLOAT, "-Infinity")

    def boolean_literal(self, c: list[Any]) -> Literal:
        self.last_token = c[0]
        return Literal(LiteralKind.BOOLEAN, str(c[0]).lower())

    def uuid_literal(self, c: list[Any]) -> Literal:
        self.last_token = c[0]
        return Literal(LiteralKind.UUID, str(c[0]))

    def blob_literal(self, c: list[Any]) -> Literal:
        self.last_token = c[0]
        return Literal(LiteralKind.BLOB, str(c[0]))

    def duration_literal(self, c: list[Any]) -> Literal:
        self.last_token = c[0]
        return Literal(LiteralKind.DURATION, str(c[0]))

    def null_literal(self, c: list[Any]) -> Literal:
        return Literal(LiteralKind.NULL, "null")

    def anonymous_marker(self, c: list[Any]) -> BindMarker:
        self.bind_names.append(None)
        return BindMarker(len(self.bind_names) - 1)

    def named_marker(self, c: list[Any]) -> BindMarker:
        self.bind_names.append(c[0])
        return BindMarker(len(self.bind_names) - 1, c[0])

    def list_literal(self, c: list[Any]) -> ListLiteral:
        return ListLiteral(tuple(t for t in c if t is not None))

    def empty_map(self, c: list[Any]) -> MapLiteral:
        return MapLiteral(())

    def set_literal(self, c: list[Any]) -> SetLiteral:
        return SetLiteral(tuple(c))

    def map_literal(self, c: list[Any]) -> MapLiteral:
        return MapLiteral(tuple((c[i], c[i + 1]) for i in range(0, len(c), 2)))

    def udt_literal(self, c: list[Any]) -> UserTypeLiteral:
        return UserTypeLiteral(tuple((c[i], c[i + 1]) for i in range(0, len(c), 2)))

    def tuple_literal(self, c: list[Any]) -> TupleLiteral:
        return TupleLiteral(tuple(c))

    def function_name(self, c: list[Any]) -> tuple[str | None, str]:
        if len(c) == 1:
            return (None, c[0])
        return (c[0], c[1])

    def token_function_name(self, c: list[Any]) -> tuple[str | None, str]:
        return (None, "token")

    def function_call(self, c: list[Any]) -> FunctionCall:
        keyspace, name = c[0]
        return FunctionCall(name, tuple(t for t in c[1:] if t is not None), keyspace)

    def type_cast(self, c: list[Any]) -> TypeCast:
        return TypeCast(c[0], c[1])

    # -- common clauses ----------------------------------------------------------------------

    def if_exists(self, c: list[Any]) -> bool:
        return True

    def if_not_exists(self, c: list[Any]) -> bool:
        return True

    def properties(self, c: list[Any]) -> tuple[ast.Property, ...]:
        return tuple(c)

    def property(self, c: list[Any]) -> ast.Property:
        value = c[1]
        return ast.Property(c[0], value.value if isinstance(value, _Scalar) else value)

    def prop_string(self, c: list[Any]) -> _Scalar:
        self.last_token = c[0]
        text = _unescape_string(c[0])
        return _Scalar(text, text)

    def prop_integer(self, c: list[Any]) -> _Scalar:
        self.last_token = c[0]
        return _Scalar(int(c[0]), str(c[0]))

    def prop_float(self, c: list[Any]) -> _Scalar:
        self.last_token = c[0]
        return _Scalar(float(c[0]), str(c[0]))

    def prop_boolean(self, c: list[Any]) -> _Scalar:
        self.last_token = c[0]
        text = str(c[0]).lower()
        return _Scalar(text == "true", text)

    def prop_ident(self, c: list[Any]) -> _Scalar:
        return _Scalar(c[0], c[0])

    def property_entry(self, c: list[Any]) -> tuple[str, str]:
        return (c[0].text, c[1].text)

    def property_map(self, c: list[Any]) -> dict[str, str]:
        return dict(e for e in c if e is not None)

    def using_ttl(self, c: list[Any]) -> tuple[str, Term]:
        return ("ttl", _tokens_to_int_term(c[0]))

    def using_timestamp(self, c: list[Any]) -> tuple[str, Term]:
        return ("timestamp", _tokens_to_int_term(c[0]))

    def using_timeout(self, c: list[Any]) -> tuple[str, Term]:
        return ("timeout", _duration_term(c[0]))

    def using_clause(self, c: list[Any]) -> ast.Using:
        values: dict[str, Term] = {}
        for key, term in c:
            if key in values:
                raise self._error(f"multiple definitions of {key.upper()} in USING")
            values[key] = term
        return ast.Using(**values)

    def asc(self, c: list[Any]) -> bool:
        return False

    def desc(self, c: list[Any]) -> bool:
        return True

    def ordering(self, c: list[Any]) -> ast.Ordering:
        return ast.Ordering(c[0], bool(c[1]))

    # -- relations and conditions ------------------------------------------------------------

    def op_eq(self, c: list[Any]) -> ast.Operator:
        return ast.Operator.EQ

    def op_neq(self, c: list[Any]) -> ast.Operator:
        return ast.Operator.NEQ

    def op_lt(self, c: list[Any]) -> ast.Operator:
        return ast.Operator.LT

    def op_lte(self, c: list[Any]) -> ast.Operator:
        return ast.Operator.LTE

    def op_gt(self, c: list[Any]) -> ast.Operator:
        return ast.Operator.GT

    def op_gte(self, c: list[Any]) -> ast.Operator:
        return ast.Operator.GTE

    def where_clause(self, c: list[Any]) -> tuple[ast.Relation, ...]:
        return tuple(c)

    def rel_column(self, c: list[Any]) -> ast.ColumnRelation:
        return ast.ColumnRelation(c[0], c[1], c[2])

    def rel_in(self, c: list[Any]) -> ast.InRelation:
        return ast.InRelation(c[0], c[1])

    def rel_contains(self, c: list[Any]) -> ast.ColumnRelation:
        return ast.ColumnRelation(c[0], ast.Operator.CONTAINS, c[1])

    def rel_contains_key(self, c: list[Any]) -> ast.ColumnRelation:
        return ast.ColumnRelation(c[0], ast.Operator.CONTAINS_KEY, c[1])

    def rel_like(self, c: list[Any]) -> ast.ColumnRelation:
        return ast.ColumnRelation(c[0], ast.Operator.LIKE, c[1])

    def rel_is_not_null(self, c: list[Any]) -> ast.IsNotNullRelation:
        return ast.IsNotNullRelation(c[0])

    def rel_element(self, c: list[Any]) -> ast.ColumnRelation:
        return ast.ColumnRelation(c[0], c[2], c[3], key=c[1])

    def rel_token(self, c: list[Any]) -> ast.TokenRelation:
        return ast.TokenRelation(c[0], c[1], c[2])

    def rel_multi(self, c: list[Any]) -> ast.MultiColumnRelation:
        return ast.MultiColumnRelation(c[0], c[1], c[2])

    def rel_multi_in(self, c: list[Any]) -> ast.MultiColumnInRelation:
        return ast.MultiColumnInRelation(c[0], c[1])

    def in_list(self, c: list[Any]) -> tuple[Term, ...]:
        return tuple(t for t in c if t is not None)

    def in_marker(self, c: list[Any]) -> BindMarker:
        marker: BindMarker = c[0]
        return marker

    multi_in_list = in_list
    multi_in_marker = in_marker

    def conditions(self, c: list[Any]) -> tuple[ast.Condition, ...]:
        return tuple(c)

    @staticmethod
    def _in_value(values: tuple[Term, ...] | BindMarker) -> Term:
        return values if isinstance(values, BindMarker) else TupleLiteral(values)

    def cond_column(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], c[1], c[2])

    def cond_in(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], ast.Operator.IN, self._in_value(c[1]))

    def cond_contains(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], ast.Operator.CONTAINS, c[1])

    def cond_contains_key(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], ast.Operator.CONTAINS_KEY, c[1])

    def cond_element(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], c[2], c[3], key=c[1])

    def cond_element_in(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], ast.Operator.IN, self._in_value(c[2]), key=c[1])

    def cond_field(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], c[2], c[3], field=c[1])

    def cond_field_in(self, c: list[Any]) -> ast.Condition:
        return ast.Condition(c[0], ast.Operator.IN, self._in_value(c[2]), field=c[1])

    # -- SELECT ------------------------------------------------------------------------------

    def json_flag(self, c: list[Any]) -> bool:
        return True

    distinct_flag = json_flag
    allow_filtering = json_flag
    bypass_cache = json_flag
    static_flag = json_flag
    primary_key_flag = json_flag
    custom_flag = json_flag
    norecursive = json_flag
    only_flag = json_flag
    full_flag = json_flag
    with_internals = json_flag

    def select_star(self, c: list[Any]) -> _Star:
        return _STAR

    def select_list(self, c: list[Any]) -> tuple[ast.Selector, ...]:
        return tuple(c)

    def selector(self, c: list[Any]) -> ast.Selector:
        return ast.Selector(c[0], c[1])

    def sel_path(self, c: list[Any]) -> ast.SelectorExpression:
        expr: ast.SelectorExpression = ast.ColumnSelector(c[0])
        for field in c[1:]:
            expr = ast.FieldSelector(expr, field)
        return expr

    def _call(self, keyspace: str | None, name: str, args: Any) -> ast.SelectorExpression:
        if isinstance(args, _Star):
            if name == "count" and keyspace is None:
                return ast.CountRowsSelector()
            raise self._error(f"no viable alternative at input '*' (only COUNT accepts *, not {name})")
        if isinstance(args, _CastArgs):
            if name == "cast" and keyspace is None:
                return ast.CastSelector(args.expression, args.type_text)
            raise self._error(f"no viable alternative at input 'AS' (only CAST takes AS, not {name})")
        arguments: tuple[ast.SelectorExpression, ...] = args or ()
        if keyspace is None:
            if name == "count" and arguments == (
                ast.TermSelector(Literal(LiteralKind.INTEGER, "1")),
            ):
                return ast.CountRowsSelector()
            if name in ("writetime", "ttl") and len(arguments) == 1 and isinstance(
                arguments[0], ast.ColumnSelector
            ):
                column = arguments[0].name
                return ast.WritetimeSelector(column) if name == "writetime" else ast.TtlSelector(column)
        return ast.FunctionSelector(ast.QualifiedName(keyspace, name), arguments)

    def sel_call(self, c: list[Any]) -> ast.SelectorExpression:
        return self._call(None, c[0], c[1])

    def sel_qualified_call(self, c: list[Any]) -> ast.SelectorExpression:
        return self._call(c[0], c[1], c[2])

    def sel_token_call(self, c: list[Any]) -> ast.SelectorExpression:
        return self._call(None, "token", c[0])

    def sel_element(self, c: list[Any]) -> ast.ElementSelector:
        return ast.ElementSelector(c[0], c[1])

    def sel_field(self, c: list[Any]) -> ast.FieldSelector:
        return ast.FieldSelector(c[0], c[1])

    def fn_args_star(self, c: list[Any]) -> _Star:
        return _STAR

    def fn_args_cast(self, c: list[Any]) -> _CastArgs:
        return _CastArgs(c[0], c[1])

    def fn_args_list(self, c: list[Any]) -> tuple[ast.SelectorExpression, ...]:
        return tuple(c)

    def sel_literal(self, c: list[Any]) -> ast.TermSelector:
        return ast.TermSelector(c[0])

    def sel_null(self, c: list[Any]) -> ast.TermSelector:
        return ast.TermSelector(Literal(LiteralKind.NULL, "null"))

    def group_by(self, c: list[Any]) -> tuple[str, ...]:
        names: tuple[str, ...] = c[0]
        return names

    def order_by(self, c: list[Any]) -> tuple[ast.Ordering, ...]:
        return tuple(c)

    def per_partition_limit(self, c: list[Any]) -> Term:
        return _tokens_to_int_term(c[0])

    limit = per_partition_limit

    def select_timeout(self, c: list[Any]) -> Term:
        return _duration_term(c[0])

    def select_statement(self, c: list[Any]) -> ast.Select:
        (json, distinct, clause, table, where, group_by, order_by, ppl, limit, allow, bypass,
         timeout) = c
        star = isinstance(clause, _Star)
        return ast.Select(
            table=table,
            selectors=() if star else clause,
            wildcard=star,
            json=bool(json),
            distinct=bool(distinct),
            where=where or (),
            group_by=group_by or (),
            order_by=order_by or (),
            per_partition_limit=ppl,
            limit=limit,
            allow_filtering=bool(allow),
            bypass_cache=bool(bypass),
            timeout=timeout,
        )

    # -- INSERT / UPDATE / DELETE / BATCH ----------------------------------------------------

    def insert_values(self, c: list[Any]) -> ast.Insert:
        table, columns = c[0], c[1]
        values = tuple(c[2:-2])
        if_not_exists, using = c[-2], c[-1]
        if len(columns) != len(values):
            raise InvalidRequest("Unmatched column names/values")
        return ast.Insert(table, columns, values, bool(if_not_exists), using or ast.NO_USING)

    def insert_json(self, c: list[Any]) -> ast.InsertJson:
        table, doc, default_unset, if_not_exists, using = c
        json_term: Term = Literal(LiteralKind.STRING, _unescape_string(doc)) if isinstance(doc, Token) else doc
        return ast.InsertJson(table, json_term, bool(default_unset), bool(if_not_exists),
                              using or ast.NO_USING)

    def default_null(self, c: list[Any]) -> bool:
        return False

    def default_unset(self, c: list[Any]) -> bool:
        return True

    @staticmethod
    def _if_clause(value: Any) -> tuple[bool, tuple[ast.Condition, ...]]:
        if value is None:
            return False, ()
        if value is True:
            return True, ()
        conditions: tuple[ast.Condition, ...] = value
        return False, conditions

    def update_statement(self, c: list[Any]) -> ast.Update:
        table, using = c[0], c[1]
        assignments = tuple(c[2:-2])
        where = c[-2]
        if_exists, conditions = self._if_clause(c[-1])
        return ast.Update(table, assignments, where, using or ast.NO_USING, if_exists, conditions)

    def assign_set(self, c: list[Any]) -> ast.SetColumn:
        return ast.SetColumn(c[0], c[1])

    def _same_column(self, target: str, operand: str, form: str) -> None:
        if target != operand:
            raise InvalidRequest(f"Only expressions of the form {form} are supported.")

    def assign_add(self, c: list[Any]) -> ast.AddToColumn:
        self._same_column(c[0], c[1], "X = X + <value>")
        return ast.AddToColumn(c[0], c[2])

    def assign_subtract(self, c: list[Any]) -> ast.SubtractFromColumn:
        self._same_column(c[0], c[1], "X = X - <value>")
        return ast.SubtractFromColumn(c[0], c[2])

    def assign_prepend(self, c: list[Any]) -> ast.PrependToColumn:
        self._same_column(c[0], c[2], "X = <value> + X")
        return ast.PrependToColumn(c[0], c[1])

    def assign_add_short(self, c: list[Any]) -> ast.AddToColumn:
        return ast.AddToColumn(c[0], c[1])

    def assign_subtract_short(self, c: list[Any]) -> ast.SubtractFromColumn:
        return ast.SubtractFromColumn(c[0], c[1])

    def assign_element(self, c: list[Any]) -> ast.SetElement:
        return ast.SetElement(c[0], c[1], c[2])

    def assign_field(self, c: list[Any]) -> ast.SetField:
        return ast.SetField(c[0], c[1], c[2])

    def delete_statement(self, c: list[Any]) -> ast.Delete:
        targets = tuple(t for t in c[:-4] if t is not None)
        table, using, where, if_clause = c[-4:]
        if_exists, conditions = self._if_clause(if_clause)
        return ast.Delete(table, targets, where, using or ast.NO_USING, if_exists, conditions)

    def delete_column(self, c: list[Any]) -> ast.DeleteTarget:
        return ast.DeleteTarget(c[0])

    def delete_element(self, c: list[Any]) -> ast.DeleteTarget:
        return ast.DeleteTarget(c[0], key=c[1])

    def delete_field(self, c: list[Any]) -> ast.DeleteTarget:
        return ast.DeleteTarget(c[0], field=c[1])

    def batch_statement(self, c: list[Any]) -> ast.Batch:
        kind, using = c[0], c[1]
        return ast.Batch(kind or ast.BatchKind.LOGGED, tuple(c[2:]), using or ast.NO_USING)

    def batch_unlogged(self, c: list[Any]) -> ast.BatchKind:
        return ast.BatchKind.UNLOGGED

    def batch_counter(self, c: list[Any]) -> ast.BatchKind:
        return ast.BatchKind.COUNTER

    def batch_logged(self, c: list[Any]) -> ast.BatchKind:
        return ast.BatchKind.LOGGED

    def truncate_statement(self, c: list[Any]) -> ast.Truncate:
        return ast.Truncate(c[-1])

    def use_statement(self, c: list[Any]) -> ast.Use:
        return ast.Use(c[0])

    # -- keyspaces, tables, types ------------------------------------------------------------

    def create_keyspace(self, c: list[Any]) -> ast.CreateKeyspace:
        return ast.CreateKeyspace(c[1], bool(c[0]), c[2])

    def alter_keyspace(self, c: list[Any]) -> ast.AlterKeyspace:
        return ast.AlterKeyspace(c[0], c[1])

    def drop_keyspace(self, c: list[Any]) -> ast.DropKeyspace:
        return ast.DropKeyspace(c[1], bool(c[0]))

    def column_definition(self, c: list[Any]) -> ast.ColumnDefinition:
        return ast.ColumnDefinition(c[0], c[1], bool(c[2]), bool(c[3]))

    def primary_key_definition(self, c: list[Any]) -> _PrimaryKey:
        return _PrimaryKey(c[0], c[1] or ())

    def partition_key_single(self, c: list[Any]) -> tuple[str, ...]:
        return (c[0],)

    def partition_key_composite(self, c: list[Any]) -> tuple[str, ...]:
        names: tuple[str, ...] = c[0]
        return names

    def table_options(self, c: list[Any]) -> list[Any]:
        return c

    def clustering_order(self, c: list[Any]) -> _ClusteringOrder:
        return _ClusteringOrder(tuple(c))

    def compact_storage(self, c: list[Any]) -> _CompactStorage:
        return _COMPACT

    @staticmethod
    def _split_options(
        options: list[Any] | None,
    ) -> tuple[tuple[ast.Ordering, ...], bool, tuple[ast.Property, ...]]:
        order: tuple[ast.Ordering, ...] = ()
        compact = False
        properties: list[ast.Property] = []
        for option in options or ():
            if isinstance(option, _ClusteringOrder):
                order = option.orderings
            elif isinstance(option, _CompactStorage):
                compact = True
            else:
                properties.append(option)
        return order, compact, tuple(properties)

    def create_table(self, c: list[Any]) -> ast.CreateTable:
        if_not_exists, table = c[0], c[1]
        elements, options = c[2:-1], c[-1]
        columns = tuple(e for e in elements if isinstance(e, ast.ColumnDefinition))
        keys = [e for e in elements if isinstance(e, _PrimaryKey)]
        inline = [col.name for col in columns if col.primary_key]
        if len(keys) + len(inline) > 1:
            raise InvalidRequest("Multiple PRIMARY KEYs specified (exactly one required)")
        if keys:
            partition_key, clustering = keys[0].partition_key, keys[0].clustering_columns
        else:
            partition_key, clustering = tuple(inline), ()
        order, compact, properties = self._split_options(options)
        return ast.CreateTable(table, bool(if_not_exists), columns, partition_key, clustering, order,
                               compact, properties)

    def alter_table(self, c: list[Any]) -> ast.AlterTable:
        return ast.AlterTable(c[0], c[1])

    def column_spec(self, c: list[Any]) -> ast.ColumnDefinition:
        return ast.ColumnDefinition(c[0], c[1], bool(c[2]))

    def alter_add(self, c: list[Any]) -> ast.AddColumns:
        return ast.AddColumns(tuple(c))

    def alter_drop(self, c: list[Any]) -> ast.DropColumns:
        return ast.DropColumns(c[0], c[1])

    def drop_timestamp(self, c: list[Any]) -> Term:
        return _tokens_to_int_term(c[0])

    @staticmethod
    def _pairs(names: list[str]) -> tuple[tuple[str, str], ...]:
        return tuple((names[i], names[i + 1]) for i in range(0, len(names), 2))

    def alter_rename(self, c: list[Any]) -> ast.RenameColumns:
        return ast.RenameColumns(self._pairs(c))

    def alter_column_type(self, c: list[Any]) -> ast.AlterColumnType:
        return ast.AlterColumnType(c[0], c[1])

    def alter_properties(self, c: list[Any]) -> ast.SetTableProperties:
        return ast.SetTableProperties(c[0])

    def drop_table(self, c: list[Any]) -> ast.DropTable:
        return ast.DropTable(c[1], bool(c[0]))

    def field_definition(self, c: list[Any]) -> ast.FieldDefinition:
        return ast.FieldDefinition(c[0], c[1])

    def create_type(self, c: list[Any]) -> ast.CreateType:
        return ast.CreateType(c[1], bool(c[0]), tuple(c[2:]))

    def alter_type_add(self, c: list[Any]) -> ast.AlterType:
        return ast.AlterType(c[0], ast.AddField(c[1]))

    def alter_type_rename(self, c: list[Any]) -> ast.AlterType:
        return ast.AlterType(c[0], ast.RenameFields(self._pairs(c[1:])))

    def drop_type(self, c: list[Any]) -> ast.DropType:
        return ast.DropType(c[1], bool(c[0]))

    # -- indexes and views -------------------------------------------------------------------

    def target_values(self, c: list[Any]) -> ast.IndexTarget:
        return ast.IndexTarget(c[0], ast.IndexTargetKind.VALUES)

    def target_keys(self, c: list[Any]) -> ast.IndexTarget:
        return ast.IndexTarget(c[0], ast.IndexTargetKind.KEYS)

    def target_entries(self, c: list[Any]) -> ast.IndexTarget:
        return ast.IndexTarget(c[0], ast.IndexTargetKind.ENTRIES)

    def target_full(self, c: list[Any]) -> ast.IndexTarget:
        return ast.IndexTarget(c[0], ast.IndexTargetKind.FULL)

    def index_targets_plain(self, c: list[Any]) -> tuple[tuple[str, ...], tuple[ast.IndexTarget, ...]]:
        return (), tuple(c)

    def index_targets_local(self, c: list[Any]) -> tuple[tuple[str, ...], tuple[ast.IndexTarget, ...]]:
        return c[0], tuple(t for t in c[1:] if t is not None)

    def index_using(self, c: list[Any]) -> str:
        return _unescape_string(c[0])

    def create_index(self, c: list[Any]) -> ast.CreateIndex:
        custom, if_not_exists, name, table, (partition_columns, targets), using, properties = c
        if custom and using is None:
            raise self._error("mismatched input: CREATE CUSTOM INDEX requires USING 'class'")
        return ast.CreateIndex(name, table, targets, bool(if_not_exists), using, partition_columns,
                               properties or ())

    def drop_index(self, c: list[Any]) -> ast.DropIndex:
        return ast.DropIndex(c[1], bool(c[0]))

    def create_view(self, c: list[Any]) -> ast.CreateMaterializedView:
        if_not_exists, name, clause, base, where, partition_key, clustering, options = c
        order, _compact, properties = self._split_options(options)
        return ast.CreateMaterializedView(
            name, bool(if_not_exists), base, () if isinstance(clause, _Star) else clause, where,
            partition_key, clustering or (), order, properties,
        )

    def alter_view(self, c: list[Any]) -> ast.AlterMaterializedView:
        return ast.AlterMaterializedView(c[0], c[1])

    def drop_view(self, c: list[Any]) -> ast.DropMaterializedView:
        return ast.DropMaterializedView(c[1], bool(c[0]))

    # -- roles, users, permissions -----------------------------------------------------------

    def role_password(self, c: list[Any]) -> tuple[str, Any]:
        return ("password", _unescape_string(c[0]))

    def role_hashed_password(self, c: list[Any]) -> tuple[str, Any]:
        return ("hashed_password", _unescape_string(c[0]))

    def role_login(self, c: list[Any]) -> tuple[str, Any]:
        return ("login", str(c[0]).lower() == "true")

    def role_superuser(self, c: list[Any]) -> tuple[str, Any]:
        return ("superuser", str(c[0]).lower() == "true")

    def role_custom_options(self, c: list[Any]) -> tuple[str, Any]:
        return ("options", dict(e for e in c if e is not None))

    def role_options(self, c: list[Any]) -> ast.RoleOptions:
        values: dict[str, Any] = {}
        for key, value in c:
            if key in values:
                raise self._error(f"multiple definitions of {key.upper()}")
            values[key] = value
        return ast.RoleOptions(**values)

    def create_role(self, c: list[Any]) -> ast.CreateRole:
        return ast.CreateRole(c[1], bool(c[0]), c[2] or ast.RoleOptions())

    def alter_role(self, c: list[Any]) -> ast.AlterRole:
        return ast.AlterRole(c[0], c[1])

    def drop_role(self, c: list[Any]) -> ast.DropRole:
        return ast.DropRole(c[1], bool(c[0]))

    def user_password(self, c: list[Any]) -> tuple[str, str]:
        return ("password", _unescape_string(c[0]))

    def user_hashed_password(self, c: list[Any]) -> tuple[str, str]:
        return ("hashed_password", _unescape_string(c[0]))

    def user_is_superuser(self, c: list[Any]) -> bool:
        return True

    def user_not_superuser(self, c: list[Any]) -> bool:
        return False

    def create_user(self, c: list[Any]) -> ast.CreateUser:
        if_not_exists, name, password, superuser = c
        if password is not None and password[0] != "password":
            raise self._error("no viable alternative at input 'HASHED' (CREATE USER takes a PASSWORD)")
        return ast.CreateUser(name, bool(if_not_exists), password and password[1], superuser)

    def alter_user(self, c: list[Any]) -> ast.AlterUser:
        name, password, superuser = c
        if password is not None and password[0] != "password":
            raise self._error("no viable alternative at input 'HASHED' (ALTER USER takes a PASSWORD)")
        return ast.AlterUser(name, password and password[1], superuser)

    def drop_user(self, c: list[Any]) -> ast.DropUser:
        return ast.DropUser(c[1], bool(c[0]))

    def list_roles(self, c: list[Any]) -> ast.ListRoles:
        return ast.ListRoles(c[0], not c[1])

    def list_users(self, c: list[Any]) -> ast.ListUsers:
        return ast.ListUsers()

    def list_permissions(self, c: list[Any]) -> ast.ListPermissions:
        return ast.ListPermissions(c[0], c[1], c[2], not c[3])

    def grant_role(self, c: list[Any]) -> ast.GrantRole:
        return ast.GrantRole(c[0], c[1])

    def revoke_role(self, c: list[Any]) -> ast.RevokeRole:
        return ast.RevokeRole(c[0], c[1])

    def grant_permission(self, c: list[Any]) -> ast.GrantPermission:
        return ast.GrantPermission(c[0], c[1], c[2])

    def revoke_permission(self, c: list[Any]) -> ast.RevokePermission:
        return ast.RevokePermission(c[0], c[1], c[2])

    def permission_all(self, c: list[Any]) -> ast.Permission:
        return ast.Permission.ALL

    def permission_spec(self, c: list[Any]) -> ast.Permission:
        permission: ast.Permission = c[0]
        return permission

    def permission(self, c: list[Any]) -> ast.Permission:
        return ast.Permission(str(c[0]).upper())

    def resource_all_keyspaces(self, c: list[Any]) -> ast.Resource:
        return ast.Resource(ast.ResourceKind.ALL_KEYSPACES)

    def resource_keyspace(self, c: list[Any]) -> ast.Resource:
        return ast.Resource(ast.ResourceKind.KEYSPACE, keyspace=c[0])

    def resource_table(self, c: list[Any]) -> ast.Resource:
        name: ast.QualifiedName = c[0]
        return ast.Resource(ast.ResourceKind.TABLE, keyspace=name.keyspace, name=name.name)

    def resource_all_roles(self, c: list[Any]) -> ast.Resource:
        return ast.Resource(ast.ResourceKind.ALL_ROLES)

    def resource_role(self, c: list[Any]) -> ast.Resource:
        return ast.Resource(ast.ResourceKind.ROLE, name=c[0])

    def resource_all_functions(self, c: list[Any]) -> ast.Resource:
        return ast.Resource(ast.ResourceKind.ALL_FUNCTIONS, keyspace=c[0])

    def resource_function(self, c: list[Any]) -> ast.Resource:
        name: ast.QualifiedName = c[0]
        return ast.Resource(ast.ResourceKind.FUNCTION, keyspace=name.keyspace, name=name.name,
                            arg_types=tuple(t for t in c[1:] if t is not None))

    # -- DESCRIBE ----------------------------------------------------------------------------

    def describe_statement(self, c: list[Any]) -> ast.Describe:
        describe: ast.Describe = c[0]
        if c[1]:
            describe = dataclasses.replace(describe, with_internals=True)
        return describe

    def describe_cluster(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.CLUSTER)

    def describe_keyspaces(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.KEYSPACES)

    def describe_keyspace(self, c: list[Any]) -> ast.Describe:
        name = ast.QualifiedName(None, c[1]) if c[1] is not None else None
        return ast.Describe(ast.DescribeKind.KEYSPACE, name, only=bool(c[0]))

    def describe_tables(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.TABLES)

    def describe_table(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.TABLE, c[0])

    def describe_types(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.TYPES)

    def describe_type(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.TYPE, c[0])

    def describe_functions(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.FUNCTIONS)

    def describe_function(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.FUNCTION, c[0])

    def describe_aggregates(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.AGGREGATES)

    def describe_aggregate(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.AGGREGATE, c[0])

    def describe_schema(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.SCHEMA, full=bool(c[0]))

    def describe_index(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.INDEX, c[0])

    def describe_view(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.MATERIALIZED_VIEW, c[0])

    def describe_named(self, c: list[Any]) -> ast.Describe:
        return ast.Describe(ast.DescribeKind.NAME, c[0])

    def describe_name(self, c: list[Any]) -> ast.QualifiedName:
        first = self.ident([c[0]]) if isinstance(c[0], Token) else c[0]
        if c[1] is None:
            return ast.QualifiedName(None, first)
        return ast.QualifiedName(first, c[1])

    # -- scripts -----------------------------------------------------------------------------

    def script(self, c: list[Any]) -> list[Any]:
        return [s for s in c if s is not None]


# --------------------------------------------------------------------------------------------------
# The parser instance

_GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")
_lock = threading.Lock()


# --------------------------------------------------------------------------------------------------
# The LALR loop


class _Driver:
    """The LALR(1) loop over Lark's parse table, fused with a single-regex contextual scanner.

    Lark's own pipeline (a contextual lexer with one regex per parser state, a generator, and a
    general-purpose `feed_token`) costs about twice as much per token. This loop uses the same table
    and the same callbacks, and lexes the way Lark's contextual lexer does, from the grammar's own
    terminal patterns in the same priority order, choosing the token type the current state
    accepts:
    - a word is the keyword it spells when the state accepts that keyword, else IDENT (an unreserved
      keyword thus reads as a name where only a name fits; a reserved one is then rejected by the
      `ident` callback);
    - `true`/`false` and ISO durations (`P1D`) that the state does not accept read as words;
    - a number starting with `-` where the state accepts MINUS but not the number reads as MINUS
      (`c = c -1`).
    One deliberate difference: Lark splits a word at a keyword prefix where a state accepts the
    keyword but no identifier (`users` at the start of a statement reads as `USE rs`); this never
    splits a word. `tests/cql/test_parser_lexer.py` checks both agree on everything else.

    Requires: the builder does not visit tokens (terminal callbacks are not called)."""

    def __init__(self, parser: Lark) -> None:
        conf = parser.lexer_conf
        self.keywords: dict[str, str] = {}
        punctuation: list[tuple[str, str]] = []
        patterns: dict[str, tuple[int, str]] = {}
        for terminal in conf.terminals:
            pattern = terminal.pattern
            if pattern.type == "str":
                if pattern.value.isalpha():
                    self.keywords[pattern.value.lower()] = terminal.name
                else:
                    punctuation.append((terminal.name, re.escape(pattern.value)))
            elif terminal.name != "WS":
                patterns[terminal.name] = (terminal.priority, pattern.to_regexp())
        self.ignored = frozenset(conf.ignore)
        ordered = sorted(patterns, key=lambda n: (n not in self.ignored, -patterns[n][0]))
        alternatives = [f"(?P<{name}>{patterns[name][1]})" for name in ordered]
        punctuation.sort(key=lambda item: -len(item[1]))
        alternatives += [f"(?P<{name}>{regex})" for name, regex in punctuation]
        alternatives.append(r"(?P<_END_OF_INPUT>\Z)")
        # Whitespace (the grammar's WS) is skipped by the same match as the token after it.
        self.scanner = re.compile(r"[ \t\f\r\n]*(?:" + "|".join(alternatives) + ")")
        self.word = re.compile(patterns["IDENT"][1] + r"\Z")
        inner = parser.parser.parser.parser  # ParsingFrontend -> LALR_Parser -> _Parser
        table = inner.parse_table
        callbacks = inner.callbacks
        # Per state: symbol -> (True, next state) for a shift, or (False, (rule length, callback,
        # rule's nonterminal)) for a reduce: the loop then never hashes Lark's Rule objects.
        self.states: dict[Any, dict[str, tuple[bool, Any]]] = {
            state: {
                symbol: (True, arg) if action is Shift
                else (False, (len(arg.expansion), callbacks[arg], arg.origin.name))
                for symbol, (action, arg) in actions.items()
            }
            for state, actions in table.states.items()
        }
        self.start_states: dict[str, Any] = table.start_states
        self.end_states: dict[str, Any] = table.end_states

    def parse(self, text: str, start: str) -> Any:
        states, keywords, ignored = self.states, self.keywords, self.ignored
        scan, word = self.scanner.match, self.word.match
        end_state = self.end_states[start]
        state_stack = [self.start_states[start]]
        value_stack: list[Any] = []
        pos, line, line_start = 0, 1, 0
        while True:
            m = scan(text, pos)
            if m is None:
                pos = _skip_whitespace(text, pos)
                line = text.count("\n", 0, pos) + 1
                line_start = text.rfind("\n", 0, pos) + 1
                raise UnexpectedCharacters(  # type: ignore[no-untyped-call]
                    text, pos, line, pos - line_start + 1)
            kind = m.lastgroup
            assert kind is not None
            begin = m.start(kind)
            if begin > pos and text.find("\n", pos, begin) >= 0:
                line += text.count("\n", pos, begin)
                line_start = text.rfind("\n", pos, begin) + 1
            value = m.group(kind)
            if kind in ignored:
                pos = m.end()
                if "\n" in value:
                    line += value.count("\n")
                    line_start = begin + value.rindex("\n") + 1
                continue
            accepts = states[state_stack[-1]]
            if kind == "IDENT":
                keyword = keywords.get(value.lower())
                if keyword is not None and keyword in accepts:
                    kind = keyword
            elif kind == "_END_OF_INPUT":
                kind = "$END"
            elif kind not in accepts:
                if word(value):
                    keyword = keywords.get(value.lower())
                    kind = keyword if keyword is not None and keyword in accepts else "IDENT"
                elif value[0] == "-" and "MINUS" in accepts:
                    kind, value = "MINUS", "-"
            token = Token(kind, value, begin, line, begin - line_start + 1)
            pos = begin + len(value)
            if (kind == "STRING" or kind == "QUOTED_IDENT") and "\n" in value:
                line += value.count("\n")
                line_start = begin + value.rindex("\n") + 1
            # Feed the token: reduce as far as the table says, then shift it (or accept at $END).
            while True:
                actions = states[state_stack[-1]]
                try:
                    shift, arg = actions[kind]
                except KeyError:
                    expected = {t for t in actions if t.isupper()}
                    raise UnexpectedToken(token, expected) from None  # type: ignore[no-untyped-call]
                if shift:
                    state_stack.append(arg)
                    value_stack.append(token)
                    break
                size, callback, nonterminal = arg
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value_stack.append(callback(children))
                state_stack.append(states[state_stack[-1]][nonterminal][1])
                if kind == "$END" and state_stack[-1] == end_state:
                    return value_stack[-1]


def _skip_whitespace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\f\r\n":
        pos += 1
    return pos


def _cache_path(grammar: str, variant: str) -> str | None:
    """A per-user cache file for the LALR tables, named by a hash of the grammar, the lexer variant,
    Lark's version and Python's (Lark also verifies its own hash inside the file), or None if there
    is nowhere to put it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "scylla-py")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    key = f"{grammar}\0{variant}\0{lark.__version__}\0{sys.version_info[:2]}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(directory, f"cql-grammar-{digest}.lark-cache")


def _make_lark(builder: _Builder) -> Lark:
    """The Lark LALR parser over grammar.lark, calling `builder` as it reduces. `_Driver` runs its
    table; its own `parse` (contextual lexer) is the tests' reference."""
    grammar = _GRAMMAR_PATH.read_text(encoding="utf-8")
    cache = _cache_path(grammar, "contextual")

    def construct() -> Lark:
        return Lark(
            grammar,
            parser="lalr",
            lexer="contextual",
            start=["start", "script"],
            maybe_placeholders=True,
            transformer=builder,
            cache=cache or False,
        )

    if cache is None:
        return construct()
    # Shard processes start together: the first builds and writes the cache under the lock, the
    # others wait and then load it (Lark writes the file in place, so it must not be read early).
    with open(cache + ".lock", "a+b") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            return construct()
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


_builder = _Builder()
_lark = _make_lark(_builder)
_driver = _Driver(_lark)


# --------------------------------------------------------------------------------------------------
# Error messages


def _display_terminal(name: str) -> str:
    try:
        pattern = _lark.get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        value = pattern.value
        return f"K_{value.upper()}" if value.isalpha() else f"'{value}'"
    return name


_SHOWN_TOKEN_MAX_CHARS = 50


def _shown(token: str) -> str:
    """A token as quoted in an error message, cut short so a huge literal cannot flood the log."""
    if len(token) <= _SHOWN_TOKEN_MAX_CHARS:
        return token
    return token[:_SHOWN_TOKEN_MAX_CHARS] + "..."


def _snippet(text: str, start: int, end: int) -> str:
    """Cassandra appends the statement around the error, the offending token in brackets."""
    before = text[max(0, start - 60):start]
    after = text[end:end + 30].split()
    tail = " ".join(after[:2])
    return f" ({before}[{_shown(text[start:end])}]{' ' + tail if tail else ''}...)"


def _syntax_error(text: str, error: UnexpectedInput) -> SyntaxException:
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        tok = error.token
        line, column = tok.line or 1, (tok.column or 1) - 1
        start = tok.start_pos if tok.start_pos is not None else len(text)
        expected = sorted(
            _display_terminal(t) for t in error.expected if not t.startswith("__")
        )
        if len(expected) == 1:
            reason = f"mismatched input '{_shown(tok)}' expecting {expected[0]}"
        else:
            reason = f"no viable alternative at input '{_shown(tok)}'"
        return SyntaxException(f"line {line}:{column} {reason}{_snippet(text, start, start + len(tok))}")
    if isinstance(error, UnexpectedCharacters):
        start = error.pos_in_stream or 0
        return SyntaxException(
            f"line {error.line}:{error.column - 1} no viable alternative at character "
            f"'{error.char}'{_snippet(text, start, start + 1)}"
        )
    # End of input (UnexpectedEOF, or UnexpectedToken at $END).
    lines = text.split("\n")
    line, column = len(lines), len(lines[-1])
    expected_names: list[str] = []
    if isinstance(error, (UnexpectedToken, UnexpectedEOF)):
        expected_names = sorted(_display_terminal(t) for t in error.expected if not t.startswith("__"))
    if len(expected_names) == 1:
        return SyntaxException(f"line {line}:{column} mismatched input '<EOF>' expecting {expected_names[0]}")
    return SyntaxException(f"line {line}:{column} no viable alternative at input '<EOF>'")


def _parse_with_lark(text: str) -> ast.ParsedStatement:
    """`parse` through Lark's own contextual lexer and LALR loop: the tests' reference for
    `_Driver`. Not memoized."""
    with _lock:
        _builder.reset(text)
        try:
            statement: Any = _lark.parse(text, start="start")
        except UnexpectedInput as error:
            raise _syntax_error(text, error) from None
        names = tuple(_builder.bind_names)
    return ast.ParsedStatement(statement, len(names), names)


def _run(text: str, start: str) -> Any:
    with _lock:
        _builder.reset(text)
        try:
            result = _driver.parse(text, start)
        except UnexpectedInput as error:
            raise _syntax_error(text, error) from None
        except CQLError:
            raise
        except LarkError as error:  # grammar-level failures not tied to a position
            raise SyntaxException(f"line 1:0 no viable alternative at input ({error})") from None
        return result, tuple(_builder.bind_names)


_CACHED_TEXT_MAX_CHARS = 2048


def parse(text: str) -> ast.ParsedStatement:
    """Parse one statement (a trailing `;` is allowed). Raises SyntaxException on bad syntax.

    Results for short texts are memoized (the AST is immutable), so a client repeating the same
    simple statement text - drivers' metadata queries, cqlsh's, an application's literal
    statements - pays for the parse once. Callers must never mutate a returned node (the one mutable
    thing in it is a map-valued Property's dict)."""
    if len(text) <= _CACHED_TEXT_MAX_CHARS:
        return _parse_memoized(text)
    return _parse_uncached(text)


def _parse_uncached(text: str) -> ast.ParsedStatement:
    statement, names = _run(text, "start")
    return ast.ParsedStatement(statement, len(names), names)


_parse_memoized = functools.lru_cache(maxsize=4096)(_parse_uncached)


def parse_script(text: str) -> list[ast.ParsedStatement]:
    """Parse `;`-separated statements. Each statement numbers its own bind markers from 0."""
    with _lock:
        _builder.reset(text)
        try:
            statements: Any = _driver.parse(text, "script")
        except UnexpectedInput as error:
            raise _syntax_error(text, error) from None
        except LarkError as error:
            raise SyntaxException(f"line 1:0 no viable alternative at input ({error})") from None
    # Markers were numbered across the whole script; renumber per statement.
    return [_renumber(s) for s in statements]


def _renumber(statement: ast.Statement) -> ast.ParsedStatement:
    markers: list[BindMarker] = []
    _collect_markers(statement, markers)
    markers.sort(key=lambda m: m.index)
    mapping = {m.index: i for i, m in enumerate(markers)}
    if all(k == v for k, v in mapping.items()):
        renumbered = statement
    else:
        renumbered = _remap(statement, mapping)
    names = tuple(m.name for m in markers)
    return ast.ParsedStatement(renumbered, len(names), names)


def _collect_markers(node: Any, out: list[BindMarker]) -> None:
    if isinstance(node, BindMarker):
        out.append(node)
    elif isinstance(node, (tuple, list)):
        for item in node:
            _collect_markers(item, out)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            _collect_markers(getattr(node, f.name), out)


def _remap(node: Any, mapping: dict[int, int]) -> Any:
    if isinstance(node, BindMarker):
        return BindMarker(mapping[node.index], node.name)
    if isinstance(node, tuple):
        return tuple(_remap(item, mapping) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {f.name: _remap(getattr(node, f.name), mapping) for f in dataclasses.fields(node)}
        return dataclasses.replace(node, **changes)
    return node

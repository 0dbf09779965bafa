"""The statement AST: what `cql.parser` produces for each CQL statement.

Owns one frozen, slotted dataclass per statement form (and the small nodes they are made of:
relations, conditions, assignments, selectors, properties). The parser builds these without any
schema knowledge; the executor resolves names, types and validity later (unknown columns, wrong
operator for a type, a relation the engine cannot serve are all the executor's InvalidRequest).

Invariants:
- Identifiers are already normalized: unquoted ones lowercased, quoted ones exactly as written with
  `""` unescaped. Keyword options (permissions, describe kinds) use the enums below.
- Every table/type/view/function reference is a `QualifiedName`; `keyspace` is None when the
  statement did not name one (the executor fills in the session keyspace).
- Values are `cql.terms` terms. Bind markers are `BindMarker(index, name)` numbered 0.. in source
  order across the whole statement (a BATCH numbers across all its children).
- Column types are kept as normalized type text (`frozen<list<int>>`, `map<text, int>`, `ks.udt`,
  quoted names only where needed: `"MyType"`), handed to `cql.types.parse_type` later.
- Nodes never hold mutable state, except that a map-valued `Property` holds a `dict[str, str]`:
  statements with such properties are therefore not hashable; cache parsed statements by their
  query text, never by the node.
- This module imports nothing but `cql.terms`; it must never import the executor, types or storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cql.terms import BindMarker, Term, TupleLiteral

# --------------------------------------------------------------------------------------------------
# Shared pieces


@dataclass(frozen=True, slots=True)
class QualifiedName:
    """`[keyspace.]name` of a table, view, type, index or function."""

    keyspace: str | None
    name: str


PropertyValue = str | int | float | bool | dict[str, str]
"""A property value: a string constant -> str; an integer -> int; a float -> float; true/false ->
bool; an unquoted identifier (e.g. `compression = lz4`) -> str; a map `{...}` -> dict whose keys
are the key strings and whose values are the text as written (numbers as written, booleans
lowercased: `{'class': 'SimpleStrategy', 'replication_factor': 3}` ->
`{'class': 'SimpleStrategy', 'replication_factor': '3'}`)."""


@dataclass(frozen=True, slots=True)
class Property:
    """One `name = value` of a WITH clause. `name` lowercased (unless quoted)."""

    name: str
    value: PropertyValue


@dataclass(frozen=True, slots=True)
class Using:
    """`USING TTL t AND TIMESTAMP ts AND TIMEOUT d` of a write (each optional, any order).

    Terms are literals (INTEGER / DURATION) or bind markers; the executor checks ranges."""

    ttl: Term | None = None
    timestamp: Term | None = None
    timeout: Term | None = None


NO_USING = Using()


class Operator(Enum):
    EQ = "="
    NEQ = "!="
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="
    IN = "IN"
    CONTAINS = "CONTAINS"
    CONTAINS_KEY = "CONTAINS KEY"
    LIKE = "LIKE"
    IS_NOT = "IS NOT"  # only `IS NOT NULL`, see IsNotNullRelation


@dataclass(frozen=True, slots=True)
class Ordering:
    """`column [ASC|DESC]` in CLUSTERING ORDER BY or ORDER BY; ASC when not written."""

    column: str
    descending: bool = False


# --------------------------------------------------------------------------------------------------
# WHERE relations (always a tuple, implicitly ANDed)


@dataclass(frozen=True, slots=True)
class ColumnRelation:
    """`column op value` for op in = != < <= > >= CONTAINS, CONTAINS KEY, LIKE.

    `key` is set for a map element relation `m[k] = v` (filtering)."""

    column: str
    operator: Operator
    value: Term
    key: Term | None = None


@dataclass(frozen=True, slots=True)
class InRelation:
    """`column IN (t1, t2, ...)` (`values` is a tuple, possibly empty) or `column IN ?` (`values`
    is the BindMarker, bound to a list)."""

    column: str
    values: tuple[Term, ...] | BindMarker


@dataclass(frozen=True, slots=True)
class TokenRelation:
    """`token(c1, c2, ...) op value`; op in = < <= > >=. `value` is a literal, a bind marker, or a
    FunctionCall (typically `token(...)` of literals)."""

    columns: tuple[str, ...]
    operator: Operator
    value: Term


@dataclass(frozen=True, slots=True)
class MultiColumnRelation:
    """`(c1, c2) op (t1, t2)` or `(c1, c2) op ?`; op in = != < <= > >=."""

    columns: tuple[str, ...]
    operator: Operator
    value: TupleLiteral | BindMarker


@dataclass(frozen=True, slots=True)
class MultiColumnInRelation:
    """`(c1, c2) IN ((t1, t2), (t3, t4))` — each item a TupleLiteral or a bind marker standing for
    one tuple — or `(c1, c2) IN ?` (`values` is the BindMarker, bound to a list of tuples)."""

    columns: tuple[str, ...]
    values: tuple[TupleLiteral | BindMarker, ...] | BindMarker


@dataclass(frozen=True, slots=True)
class IsNotNullRelation:
    """`column IS NOT NULL` (materialized view definitions)."""

    column: str


Relation = (
    ColumnRelation | InRelation | TokenRelation | MultiColumnRelation | MultiColumnInRelation
    | IsNotNullRelation
)


# --------------------------------------------------------------------------------------------------
# LWT conditions


@dataclass(frozen=True, slots=True)
class Condition:
    """One `IF` condition of UPDATE/DELETE.

    Target: `column`, `column[key]` (key set: list index or map key) or `column.field` (field set).
    `operator` in = != < <= > >= IN CONTAINS CONTAINS KEY. For IN, `value` is a TupleLiteral of the
    listed terms (`c IN (1, 2)`) or a BindMarker (`c IN ?`)."""

    column: str
    operator: Operator
    value: Term
    key: Term | None = None
    field: str | None = None


# --------------------------------------------------------------------------------------------------
# UPDATE assignments


@dataclass(frozen=True, slots=True)
class SetColumn:
    """`c = value`."""

    column: str
    value: Term


@dataclass(frozen=True, slots=True)
class AddToColumn:
    """`c = c + value` or `c += value`: counter increment, list append, set union, map merge."""

    column: str
    value: Term


@dataclass(frozen=True, slots=True)
class PrependToColumn:
    """`c = value + c`: list prepend (the executor rejects it for other types)."""

    column: str
    value: Term


@dataclass(frozen=True, slots=True)
class SubtractFromColumn:
    """`c = c - value` or `c -= value`: counter decrement, list/set element removal, map key
    removal."""

    column: str
    value: Term


@dataclass(frozen=True, slots=True)
class SetElement:
    """`c[key] = value`: list element by index or map entry by key."""

    column: str
    key: Term
    value: Term


@dataclass(frozen=True, slots=True)
class SetField:
    """`c.field = value`: one field of a non-frozen UDT."""

    column: str
    field: str
    value: Term


Assignment = SetColumn | AddToColumn | PrependToColumn | SubtractFromColumn | SetElement | SetField


# --------------------------------------------------------------------------------------------------
# SELECT selectors


@dataclass(frozen=True, slots=True)
class ColumnSelector:
    name: str


@dataclass(frozen=True, slots=True)
class CountRowsSelector:
    """`COUNT(*)` or `COUNT(1)`; result column named `count`."""


@dataclass(frozen=True, slots=True)
class WritetimeSelector:
    """`WRITETIME(c)`."""

    column: str


@dataclass(frozen=True, slots=True)
class TtlSelector:
    """`TTL(c)`."""

    column: str


@dataclass(frozen=True, slots=True)
class FunctionSelector:
    """`[ks.]fn(arg, ...)` with selector arguments: `token(a, b)`, `toTimestamp(now())`, `max(v)`.
    `function.name` lowercased unless quoted."""

    function: QualifiedName
    args: tuple[SelectorExpression, ...]


@dataclass(frozen=True, slots=True)
class CastSelector:
    """`CAST(expr AS type)`."""

    expression: SelectorExpression
    type_text: str


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """`expr.field` (UDT field)."""

    expression: SelectorExpression
    field: str


@dataclass(frozen=True, slots=True)
class ElementSelector:
    """`expr[key]` (map value / list element)."""

    expression: SelectorExpression
    key: Term


@dataclass(frozen=True, slots=True)
class TermSelector:
    """A literal or bind marker in the select list, e.g. `SELECT 1, 'a' FROM t`."""

    term: Term


SelectorExpression = (
    ColumnSelector | CountRowsSelector | WritetimeSelector | TtlSelector | FunctionSelector
    | CastSelector | FieldSelector | ElementSelector | TermSelector
)


@dataclass(frozen=True, slots=True)
class Selector:
    """One item of a select list with its optional `AS alias`."""

    expression: SelectorExpression
    alias: str | None = None


# --------------------------------------------------------------------------------------------------
# DDL pieces


@dataclass(frozen=True, slots=True)
class ColumnDefinition:
    """A column of CREATE TABLE / ALTER TABLE ADD. `primary_key` is True for an inline
    `c int PRIMARY KEY` (CreateTable.partition_key already accounts for it)."""

    name: str
    type_text: str
    static: bool = False
    primary_key: bool = False


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """A field of CREATE TYPE / ALTER TYPE ADD."""

    name: str
    type_text: str


# --------------------------------------------------------------------------------------------------
# Statements: session and keyspaces


@dataclass(frozen=True, slots=True)
class Use:
    keyspace: str


@dataclass(frozen=True, slots=True)
class CreateKeyspace:
    name: str
    if_not_exists: bool
    properties: tuple[Property, ...]  # replication, durable_writes, tablets, ...


@dataclass(frozen=True, slots=True)
class AlterKeyspace:
    name: str
    properties: tuple[Property, ...]


@dataclass(frozen=True, slots=True)
class DropKeyspace:
    name: str
    if_exists: bool


# --------------------------------------------------------------------------------------------------
# Statements: tables


@dataclass(frozen=True, slots=True)
class CreateTable:
    """CREATE TABLE. `partition_key` and `clustering_columns` list names in key order, from an
    inline `PRIMARY KEY` or a `PRIMARY KEY ((a, b), c)` clause. The parser rejects two primary key
    definitions (InvalidRequest, as Cassandra does) but does not check that key columns are defined;
    a table with no primary key at all parses with an empty partition_key and the executor rejects
    it.
    `clustering_order` and `compact_storage` are kept out of `properties`."""

    table: QualifiedName
    if_not_exists: bool
    columns: tuple[ColumnDefinition, ...]
    partition_key: tuple[str, ...]
    clustering_columns: tuple[str, ...]
    clustering_order: tuple[Ordering, ...] = ()
    compact_storage: bool = False
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True)
class AddColumns:
    """ALTER TABLE ... ADD c type [, ...] / ADD (c type, ...)."""

    columns: tuple[ColumnDefinition, ...]


@dataclass(frozen=True, slots=True)
class DropColumns:
    """ALTER TABLE ... DROP c / DROP (a, b) [USING TIMESTAMP t]."""

    columns: tuple[str, ...]
    timestamp: Term | None = None


@dataclass(frozen=True, slots=True)
class RenameColumns:
    """ALTER TABLE ... RENAME a TO b [AND c TO d]; pairs (old, new)."""

    renames: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AlterColumnType:
    """ALTER TABLE ... ALTER c TYPE t."""

    column: str
    type_text: str


@dataclass(frozen=True, slots=True)
class SetTableProperties:
    """ALTER TABLE ... WITH props (and ALTER MATERIALIZED VIEW ... WITH)."""

    properties: tuple[Property, ...]


AlterTableAction = AddColumns | DropColumns | RenameColumns | AlterColumnType | SetTableProperties


@dataclass(frozen=True, slots=True)
class AlterTable:
    table: QualifiedName
    action: AlterTableAction


@dataclass(frozen=True, slots=True)
class DropTable:
    table: QualifiedName
    if_exists: bool


@dataclass(frozen=True, slots=True)
class Truncate:
    table: QualifiedName


# --------------------------------------------------------------------------------------------------
# Statements: user types


@dataclass(frozen=True, slots=True)
class CreateType:
    name: QualifiedName
    if_not_exists: bool
    fields: tuple[FieldDefinition, ...]


@dataclass(frozen=True, slots=True)
class AddField:
    field: FieldDefinition


@dataclass(frozen=True, slots=True)
class RenameFields:
    renames: tuple[tuple[str, str], ...]  # (old, new)


@dataclass(frozen=True, slots=True)
class AlterType:
    name: QualifiedName
    action: AddField | RenameFields


@dataclass(frozen=True, slots=True)
class DropType:
    name: QualifiedName
    if_exists: bool


# --------------------------------------------------------------------------------------------------
# Statements: indexes and materialized views (parsed; the server may reject them)


class IndexTargetKind(Enum):
    VALUES = "values"    # plain `c` or `values(c)`
    KEYS = "keys"        # keys(m)
    ENTRIES = "entries"  # entries(m)
    FULL = "full"        # full(frozen_c)


@dataclass(frozen=True, slots=True)
class IndexTarget:
    column: str
    kind: IndexTargetKind = IndexTargetKind.VALUES


@dataclass(frozen=True, slots=True)
class CreateIndex:
    """CREATE [CUSTOM] INDEX [IF NOT EXISTS] [name] ON t (target, ...) [USING 'class'] [WITH ...].

    ScyllaDB's local index `ON t ((p1, p2), c)` puts the partition columns in
    `partition_columns` and the indexed column(s) in `targets`."""

    name: str | None
    table: QualifiedName
    targets: tuple[IndexTarget, ...]
    if_not_exists: bool = False
    custom_class: str | None = None
    partition_columns: tuple[str, ...] = ()
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True)
class DropIndex:
    name: QualifiedName
    if_exists: bool


@dataclass(frozen=True, slots=True)
class CreateMaterializedView:
    """CREATE MATERIALIZED VIEW v AS SELECT ... FROM base WHERE ... PRIMARY KEY (...) WITH ...
    `selectors` is empty for `SELECT *`."""

    name: QualifiedName
    if_not_exists: bool
    base_table: QualifiedName
    selectors: tuple[Selector, ...]
    where: tuple[Relation, ...]
    partition_key: tuple[str, ...]
    clustering_columns: tuple[str, ...]
    clustering_order: tuple[Ordering, ...] = ()
    properties: tuple[Property, ...] = ()


@dataclass(frozen=True, slots=True)
class AlterMaterializedView:
    name: QualifiedName
    properties: tuple[Property, ...]


@dataclass(frozen=True, slots=True)
class DropMaterializedView:
    name: QualifiedName
    if_exists: bool


# --------------------------------------------------------------------------------------------------
# Statements: data manipulation


@dataclass(frozen=True, slots=True)
class Insert:
    """INSERT INTO t (cols) VALUES (terms) [IF NOT EXISTS] [USING ...]. `columns` and `values`
    have the same length (the parser checks the counts match)."""

    table: QualifiedName
    columns: tuple[str, ...]
    values: tuple[Term, ...]
    if_not_exists: bool = False
    using: Using = NO_USING


@dataclass(frozen=True, slots=True)
class InsertJson:
    """INSERT INTO t JSON 'doc' [DEFAULT NULL | DEFAULT UNSET] [IF NOT EXISTS] [USING ...].
    `json` is a STRING literal or a bind marker. `default_unset` is True for DEFAULT UNSET."""

    table: QualifiedName
    json: Term
    default_unset: bool = False
    if_not_exists: bool = False
    using: Using = NO_USING


@dataclass(frozen=True, slots=True)
class Update:
    """UPDATE t [USING ...] SET ... WHERE ... [IF EXISTS | IF conditions]."""

    table: QualifiedName
    assignments: tuple[Assignment, ...]
    where: tuple[Relation, ...]
    using: Using = NO_USING
    if_exists: bool = False
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteTarget:
    """A DELETE selection: `c`, `c[key]` (list index / map key / set element) or `c.field`."""

    column: str
    key: Term | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """DELETE [targets] FROM t [USING TIMESTAMP x] WHERE ... [IF EXISTS | IF conditions].
    `targets` is empty when deleting whole rows."""

    table: QualifiedName
    targets: tuple[DeleteTarget, ...]
    where: tuple[Relation, ...]
    using: Using = NO_USING
    if_exists: bool = False
    conditions: tuple[Condition, ...] = ()


class BatchKind(Enum):
    LOGGED = "logged"
    UNLOGGED = "unlogged"
    COUNTER = "counter"


ModificationStatement = Insert | InsertJson | Update | Delete


@dataclass(frozen=True, slots=True)
class Batch:
    """BEGIN [UNLOGGED | COUNTER] BATCH [USING TIMESTAMP t] stmt; ... APPLY BATCH."""

    kind: BatchKind
    statements: tuple[ModificationStatement, ...]
    using: Using = NO_USING


@dataclass(frozen=True, slots=True)
class Select:
    """SELECT. `wildcard` is True for `SELECT *` (then `selectors` is empty). `limit` and
    `per_partition_limit` are INTEGER literals or bind markers; `timeout` is `USING TIMEOUT d`
    (a DURATION literal or bind marker)."""

    table: QualifiedName
    selectors: tuple[Selector, ...]
    wildcard: bool = False
    json: bool = False
    distinct: bool = False
    where: tuple[Relation, ...] = ()
    group_by: tuple[str, ...] = ()
    order_by: tuple[Ordering, ...] = ()
    per_partition_limit: Term | None = None
    limit: Term | None = None
    allow_filtering: bool = False
    bypass_cache: bool = False
    timeout: Term | None = None


# --------------------------------------------------------------------------------------------------
# Statements: roles, users and permissions


@dataclass(frozen=True, slots=True)
class RoleOptions:
    """WITH PASSWORD = '...' AND LOGIN = b AND SUPERUSER = b AND OPTIONS = {...}; None = not given.
    (`HASHED PASSWORD` / `SALTED HASH` go in `hashed_password`.)"""

    password: str | None = None
    login: bool | None = None
    superuser: bool | None = None
    options: dict[str, str] | None = None
    hashed_password: str | None = None


@dataclass(frozen=True, slots=True)
class CreateRole:
    name: str
    if_not_exists: bool
    options: RoleOptions


@dataclass(frozen=True, slots=True)
class AlterRole:
    name: str
    options: RoleOptions


@dataclass(frozen=True, slots=True)
class DropRole:
    name: str
    if_exists: bool


@dataclass(frozen=True, slots=True)
class CreateUser:
    """Legacy CREATE USER [IF NOT EXISTS] u [WITH PASSWORD 'p'] [SUPERUSER | NOSUPERUSER]."""

    name: str
    if_not_exists: bool
    password: str | None = None
    superuser: bool | None = None


@dataclass(frozen=True, slots=True)
class AlterUser:
    name: str
    password: str | None = None
    superuser: bool | None = None


@dataclass(frozen=True, slots=True)
class DropUser:
    name: str
    if_exists: bool


@dataclass(frozen=True, slots=True)
class ListRoles:
    """LIST ROLES [OF r] [NORECURSIVE]."""

    of_role: str | None = None
    recursive: bool = True


@dataclass(frozen=True, slots=True)
class ListUsers:
    """LIST USERS."""


@dataclass(frozen=True, slots=True)
class GrantRole:
    """GRANT role TO grantee."""

    role: str
    grantee: str


@dataclass(frozen=True, slots=True)
class RevokeRole:
    """REVOKE role FROM revokee."""

    role: str
    revokee: str


class Permission(Enum):
    ALL = "ALL"  # ALL [PERMISSIONS]
    CREATE = "CREATE"
    ALTER = "ALTER"
    DROP = "DROP"
    SELECT = "SELECT"
    MODIFY = "MODIFY"
    AUTHORIZE = "AUTHORIZE"
    DESCRIBE = "DESCRIBE"
    EXECUTE = "EXECUTE"


class ResourceKind(Enum):
    ALL_KEYSPACES = "all_keyspaces"  # ALL KEYSPACES
    KEYSPACE = "keyspace"            # KEYSPACE ks            (keyspace set)
    TABLE = "table"                  # [TABLE] [ks.]t         (name set, keyspace maybe)
    ALL_ROLES = "all_roles"          # ALL ROLES
    ROLE = "role"                    # ROLE r                 (name set)
    ALL_FUNCTIONS = "all_functions"  # ALL FUNCTIONS [IN KEYSPACE ks]
    FUNCTION = "function"            # FUNCTION [ks.]f(types) (name, arg_types set)


@dataclass(frozen=True, slots=True)
class Resource:
    kind: ResourceKind
    keyspace: str | None = None
    name: str | None = None
    arg_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GrantPermission:
    permission: Permission
    resource: Resource
    grantee: str


@dataclass(frozen=True, slots=True)
class RevokePermission:
    permission: Permission
    resource: Resource
    revokee: str


@dataclass(frozen=True, slots=True)
class ListPermissions:
    """LIST ALL [PERMISSIONS] | LIST perm [PERMISSION] [ON resource] [OF role] [NORECURSIVE]."""

    permission: Permission
    resource: Resource | None = None
    of_role: str | None = None
    recursive: bool = True


# --------------------------------------------------------------------------------------------------
# Statements: DESCRIBE (server-side describe, as cqlsh 6 sends it)


class DescribeKind(Enum):
    CLUSTER = "cluster"
    KEYSPACES = "keyspaces"
    KEYSPACE = "keyspace"                    # name.name is the keyspace; None = current keyspace
    TABLES = "tables"
    TABLE = "table"
    TYPES = "types"
    TYPE = "type"
    FUNCTIONS = "functions"
    FUNCTION = "function"
    AGGREGATES = "aggregates"
    AGGREGATE = "aggregate"
    SCHEMA = "schema"                        # `full` set for FULL SCHEMA
    INDEX = "index"
    MATERIALIZED_VIEW = "materialized_view"
    NAME = "name"                            # bare `DESCRIBE name`: resolved by the executor


@dataclass(frozen=True, slots=True)
class Describe:
    """DESCRIBE / DESC. For KEYSPACE the keyspace is in `name.name` (keyspace None); for single
    objects `name` is the (optionally qualified) object name."""

    kind: DescribeKind
    name: QualifiedName | None = None
    only: bool = False
    full: bool = False
    with_internals: bool = False


# --------------------------------------------------------------------------------------------------

Statement = (
    Use | CreateKeyspace | AlterKeyspace | DropKeyspace
    | CreateTable | AlterTable | DropTable | Truncate
    | CreateType | AlterType | DropType
    | CreateIndex | DropIndex | CreateMaterializedView | AlterMaterializedView | DropMaterializedView
    | Insert | InsertJson | Update | Delete | Batch | Select
    | CreateRole | AlterRole | DropRole | CreateUser | AlterUser | DropUser | ListRoles | ListUsers
    | GrantRole | RevokeRole | GrantPermission | RevokePermission | ListPermissions
    | Describe
)


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """What `cql.parser.parse` returns: the statement, how many bind markers it has, and each
    marker's name (None for `?`) by index."""

    statement: Statement
    bind_count: int
    bind_names: tuple[str | None, ...]

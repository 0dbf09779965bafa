"""Role statements: CREATE/ALTER/DROP ROLE and USER, LIST ROLES/USERS, GRANT/REVOKE.

Owns role management on top of the metadata store (roles are cluster metadata, replicated like the
schema). Passwords are only accepted with PasswordAuthenticator, as in Cassandra. Permissions need
an authorizer; with the default AllowAllAuthorizer, GRANT/REVOKE/LIST PERMISSIONS answer with
Cassandra's "not supported by AllowAllAuthorizer" error rather than pretending to store anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Any

from cql import ast as A
from cql.errors import InvalidRequest, Unauthorized
from cql.protocol.responses import Response, ResultRows, ResultVoid
from cql.protocol_types import ColumnSpec
from cql.types import BOOLEAN, TEXT, MapType

from ..auth import PASSWORD_AUTHENTICATOR, hash_password
from ..metadata import Metadata, MetadataStore, RoleDef

_OPTIONS_TYPE = MapType(TEXT, TEXT, True)
_LIST_ROLES_COLUMNS = [
    ColumnSpec("system", "roles", "role", TEXT.protocol_option),
    ColumnSpec("system", "roles", "super", BOOLEAN.protocol_option),
    ColumnSpec("system", "roles", "login", BOOLEAN.protocol_option),
    ColumnSpec("system", "roles", "options", _OPTIONS_TYPE.protocol_option),
]
_LIST_USERS_COLUMNS = [
    ColumnSpec("system", "users", "name", TEXT.protocol_option),
    ColumnSpec("system", "users", "super", BOOLEAN.protocol_option),
]


def _bool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def _check_password_allowed(password: str | None, authenticator: str) -> None:
    if password is not None and authenticator != PASSWORD_AUTHENTICATOR:
        raise InvalidRequest(f"{authenticator} doesn't support PASSWORD")


def _require_superuser(store: MetadataStore, session: Any, authenticator: str, what: str) -> None:
    if authenticator != PASSWORD_AUTHENTICATOR:
        return
    user = store.current.roles.get(session.user or "")
    if user is None or not user.is_superuser:
        raise Unauthorized(f"Only superusers are allowed to {what}")


async def execute(s: A.Statement, store: MetadataStore, session: Any, authenticator: str,
                  install: Callable[[Metadata], Awaitable[None]]) -> Response | None:
    """The response for a role statement, or None when `s` is not one. Changes go through
    `install` (the query processor's: durable on the owner, then pushed to every shard)."""
    roles = dict(store.current.roles)
    if isinstance(s, A.CreateRole | A.CreateUser):
        _require_superuser(store, session, authenticator, "CREATE ROLE")
        if s.name in roles:
            if s.if_not_exists:
                return ResultVoid()
            raise InvalidRequest(f"{s.name} already exists")
        if isinstance(s, A.CreateRole):
            o = s.options
            _check_password_allowed(o.password, authenticator)
            roles[s.name] = RoleDef(s.name, hash_password(o.password) if o.password else o.hashed_password,
                                    bool(o.login), bool(o.superuser), frozenset(),
                                    MappingProxyType(dict(o.options or {})))
        else:
            _check_password_allowed(s.password, authenticator)
            roles[s.name] = RoleDef(s.name, hash_password(s.password) if s.password else None, True,
                                    bool(s.superuser))
    elif isinstance(s, A.AlterRole | A.AlterUser):
        old = roles.get(s.name)
        if old is None:
            raise InvalidRequest(f"{s.name} doesn't exist")
        if isinstance(s, A.AlterRole):
            o = s.options
            password, login, superuser, opts = o.password, o.login, o.superuser, o.options
        else:
            password, login, superuser, opts = s.password, None, s.superuser, None
        if superuser is not None or login is not None or session.user != s.name:
            _require_superuser(store, session, authenticator, "ALTER ROLE")
        _check_password_allowed(password, authenticator)
        roles[s.name] = RoleDef(
            s.name, hash_password(password) if password else old.salted_hash,
            old.can_login if login is None else login, old.is_superuser if superuser is None else superuser,
            old.member_of, MappingProxyType(dict(opts)) if opts is not None else old.options)
    elif isinstance(s, A.DropRole | A.DropUser):
        _require_superuser(store, session, authenticator, "DROP ROLE")
        if s.name not in roles:
            if s.if_exists:
                return ResultVoid()
            raise InvalidRequest(f"{s.name} doesn't exist")
        if s.name == session.user:
            raise InvalidRequest("Cannot DROP primary role for current login")
        del roles[s.name]
        for name, r in list(roles.items()):
            if s.name in r.member_of:
                roles[name] = RoleDef(r.name, r.salted_hash, r.can_login, r.is_superuser,
                                      r.member_of - {s.name}, r.options)
    elif isinstance(s, A.GrantRole | A.RevokeRole):
        grantee = s.grantee if isinstance(s, A.GrantRole) else s.revokee
        for n in (s.role, grantee):
            if n not in roles:
                raise InvalidRequest(f"{n} doesn't exist")
        _require_superuser(store, session, authenticator, "GRANT/REVOKE roles")
        r = roles[grantee]
        member_of = r.member_of | {s.role} if isinstance(s, A.GrantRole) else r.member_of - {s.role}
        roles[grantee] = RoleDef(r.name, r.salted_hash, r.can_login, r.is_superuser, member_of, r.options)
    elif isinstance(s, A.ListRoles):
        selected = sorted(roles.values(), key=lambda r: r.name)
        if s.of_role is not None:
            if s.of_role not in roles:
                raise InvalidRequest(f"{s.of_role} doesn't exist")
            names = _granted(roles, s.of_role, s.recursive)
            selected = [r for r in selected if r.name in names]
        rows = [[r.name.encode(), _bool(r.is_superuser), _bool(r.can_login),
                 _OPTIONS_TYPE.serialize(dict(r.options))] for r in selected]
        return ResultRows(_LIST_ROLES_COLUMNS, rows)
    elif isinstance(s, A.ListUsers):
        rows = [[r.name.encode(), _bool(r.is_superuser)] for r in sorted(roles.values(), key=lambda r: r.name)
                if r.can_login]
        return ResultRows(_LIST_USERS_COLUMNS, rows)
    elif isinstance(s, A.GrantPermission | A.RevokePermission | A.ListPermissions):
        verb = "GRANT" if isinstance(s, A.GrantPermission) else "REVOKE" if isinstance(s, A.RevokePermission) \
            else "LIST PERMISSIONS"
        raise InvalidRequest(f"{verb} operation is not supported by AllowAllAuthorizer")
    else:
        return None
    await install(store.current.evolve(roles=roles))
    return ResultVoid()


def _granted(roles: dict[str, RoleDef], name: str, recursive: bool) -> set[str]:
    out = {name}
    todo = [name]
    while todo:
        r = roles.get(todo.pop())
        if r is None:
            continue
        for m in r.member_of:
            if m not in out:
                out.add(m)
                if recursive:
                    todo.append(m)
    return out

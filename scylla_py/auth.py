"""Authentication: SASL PLAIN against the roles in cluster metadata, and password hashing.

Owns the check of a client's credentials (native protocol v4 section 4.2.7 AUTH_RESPONSE carrying a
SASL PLAIN token) and the salted hash stored for each role. Hashes are PBKDF2-HMAC-SHA256 in the
self-describing form `$pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`; the iteration count is
stored so it can be raised later without invalidating old hashes.

Invariant: a failed login never says which of the user name or the password was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from cql.errors import BadCredentials

from .metadata import RoleDef

PASSWORD_AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"
ALLOW_ALL_AUTHENTICATOR = "org.apache.cassandra.auth.AllowAllAuthenticator"
_ITERATIONS = 20_000


def hash_password(password: str, *, iterations: int = _ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$pbkdf2-sha256${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, salted_hash: str) -> bool:
    try:
        _, scheme, iterations, salt_b64, digest_b64 = salted_hash.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2-sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt_b64), int(iterations))
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def parse_sasl_plain(token: bytes) -> tuple[str, str]:
    """`[authzid] NUL authcid NUL passwd` (RFC 4616) -> (user, password)."""
    parts = token.split(b"\x00")
    if len(parts) != 3:
        raise BadCredentials("Authentication failed: malformed SASL PLAIN token")
    try:
        return parts[1].decode(), parts[2].decode()
    except UnicodeDecodeError as e:
        raise BadCredentials("Authentication failed: credentials are not valid UTF-8") from e


def authenticate(token: bytes, roles: Mapping[str, RoleDef]) -> str:
    """The role that `token` logs in as, or BadCredentials."""
    user, password = parse_sasl_plain(token)
    role = roles.get(user)
    if role is None or not role.can_login or role.salted_hash is None or not check_password(
        password, role.salted_hash
    ):
        raise BadCredentials(f"Provided username {user} and/or password are incorrect")
    return user

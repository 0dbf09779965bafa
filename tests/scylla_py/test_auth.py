from __future__ import annotations

import pytest

from cql.errors import BadCredentials
from scylla_py.auth import authenticate, check_password, hash_password
from scylla_py.metadata import RoleDef


def test_hash_and_check() -> None:
    h = hash_password("cassandra", iterations=1000)
    assert check_password("cassandra", h)
    assert not check_password("Cassandra", h)
    assert not check_password("x", "garbage")


def test_sasl_plain_login() -> None:
    roles = {
        "cassandra": RoleDef("cassandra", hash_password("cassandra", iterations=1000), True, True),
        "nologin": RoleDef("nologin", hash_password("pw", iterations=1000), False, False),
    }
    assert authenticate(b"\x00cassandra\x00cassandra", roles) == "cassandra"
    for token in (b"\x00cassandra\x00wrong", b"\x00nobody\x00cassandra", b"\x00nologin\x00pw", b"junk"):
        with pytest.raises(BadCredentials):
            authenticate(token, roles)

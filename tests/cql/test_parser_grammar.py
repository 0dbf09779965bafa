"""cql/grammar.lark: the LALR tables have no unintended conflicts.

Lark resolves a shift/reduce conflict silently in favour of shift (and only logs it in debug mode),
so a new ambiguity would otherwise go unnoticed. The one accepted conflict: after `CONTAINS KEY`, a
`(` is read as the start of the term, never as a call of a function named `key`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lark import Lark
from lark import logger as lark_logger

import cql

GRAMMAR = Path(cql.__file__).with_name("grammar.lark")


def test_only_the_documented_conflict(caplog: pytest.LogCaptureFixture) -> None:
    previous = lark_logger.level
    lark_logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="lark"):
            Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                 start=["start", "script"], maybe_placeholders=True, debug=True)
    finally:
        lark_logger.setLevel(previous)
    warnings = {r.getMessage().strip() for r in caplog.records if r.levelno >= logging.WARNING}
    assert warnings == {
        "Shift/Reduce conflict for terminal LPAR: (resolving as shift)",
        "* <describe_safe_keyword : KEY>",
    }

"""cql.parser: syntax errors name line:column and the offending input; junk raises only
SyntaxException."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cql.errors import InvalidRequest, SyntaxException
from cql.parser import parse, parse_script


def error_of(text: str) -> str:
    with pytest.raises(SyntaxException) as info:
        parse(text)
    return info.value.message


def test_misspelled_keyword() -> None:
    msg = error_of("SELECT * FORM t")
    assert msg.startswith("line 1:9 mismatched input 'FORM' expecting K_FROM")
    assert "[FORM]" in msg


def test_unexpected_token_names_its_position() -> None:
    assert error_of("SELECT a b FROM t").startswith("line 1:9 ")
    assert "'b'" in error_of("SELECT a b FROM t")


def test_position_on_later_line() -> None:
    msg = error_of("SELECT *\nFROM t\nWHERE k = = 1")
    assert msg.startswith("line 3:10 ")
    assert "'='" in msg


def test_reserved_keyword_as_identifier() -> None:
    msg = error_of("SELECT * FROM select")
    assert msg.startswith("line 1:14 no viable alternative at input 'select'")
    assert error_of("CREATE TABLE t (from int PRIMARY KEY)").startswith("line 1:16 ")


def test_bad_character() -> None:
    assert error_of("SELECT @ FROM t").startswith("line 1:7 no viable alternative at character '@'")


def test_unterminated_string() -> None:
    assert error_of("SELECT * FROM t WHERE k = 'abc").startswith("line 1:26 ")


def test_end_of_input() -> None:
    assert re.match(r"line 1:13 .*'<EOF>'", error_of("SELECT a FROM"))
    assert "<EOF>" in error_of("")
    assert "<EOF>" in error_of("   -- only a comment")


def test_star_only_for_count() -> None:
    assert "'*'" in error_of("SELECT max(*) FROM t")


def test_two_statements_in_parse() -> None:
    error_of("SELECT * FROM t; SELECT * FROM u")
    assert len(parse_script("SELECT * FROM t; SELECT * FROM u")) == 2


@pytest.mark.parametrize("text", [
    "SELECT", "SELECT * FROM", "INSERT INTO t VALUES (1)", "INSERT INTO t (a) VALUES",
    "UPDATE t SET WHERE k = 1", "UPDATE t SET a = 1", "DELETE FROM t", "CREATE TABLE t ()",
    "CREATE TABLE t (a)", "CREATE KEYSPACE ks", "BEGIN BATCH SELECT * FROM t APPLY BATCH",
    "SELECT * FROM t LIMIT", "SELECT * FROM t WHERE", "SELECT * FROM t WHERE a", "DROP", "USE",
    "SELECT * FROM t USING TTL 1", "SELECT * FROM t ALLOW", "GRANT TO bob", "LIST", "DESCRIBE",
    "SELECT * FROM t WHERE k = 1 AND", "SELECT * FROM a.b.c", "INSERT INTO t (a) VALUES (1) IF EXISTS",
    "CREATE ROLE r WITH LOGIN = 'yes'", "SELECT 1h2 FROM t", "SELECT * FROM t WHERE k IN (1,)",
    "SELECT * FROM t;;x",
])
def test_invalid_statements(text: str) -> None:
    with pytest.raises(SyntaxException) as info:
        parse(text)
    assert re.match(r"line \d+:\d+ ", info.value.message), info.value.message


CQL_WORDS = [
    "SELECT", "FROM", "WHERE", "AND", "INSERT", "INTO", "VALUES", "UPDATE", "SET", "DELETE", "IF",
    "EXISTS", "NOT", "IN", "(", ")", ",", ";", "=", "<", ">=", "?", ":x", "*", "'s'", "1", "-1.5", "t",
    "ks.t", "key", "type", "TOKEN", "{", "}", "[", "]", ":", "USING", "TTL", "TIMEOUT", "1h", "BATCH",
    "BEGIN", "APPLY", "CREATE", "TABLE", "PRIMARY", "KEY", "WITH", "LIMIT", "ORDER", "BY", "+", "-",
    "+=", "0xff", "NULL", "true", "$$x$$", '"Q"', ".", "CONTAINS", "LIKE", "IS", "DESCRIBE", "AS",
    "count", "frozen", "<", ">", "list", "int", "--c\n", "/*c*/",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CQL_WORDS), max_size=14))
def test_word_soup_raises_only_syntax_errors(words: list[str]) -> None:
    text = " ".join(words)
    with contextlib.suppress(SyntaxException, InvalidRequest):
        parse(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_random_text_raises_only_syntax_errors(text: str) -> None:
    try:
        parse(text)
    except SyntaxException as error:
        assert re.match(r"line \d+:-?\d+ ", error.message), error.message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="SELCT*FROMWHERk=?'();,\n -1.", max_size=40))
def test_random_script_raises_only_syntax_errors(text: str) -> None:
    with contextlib.suppress(SyntaxException):
        parse_script(text)


def test_huge_token_is_cut_short_in_the_message() -> None:
    msg = error_of("x" * 100_000)
    assert msg.startswith("line 1:0 no viable alternative at input 'xxxx")
    assert len(msg) < 300


def test_deeply_nested_literal_parses() -> None:
    depth = 2000
    parsed = parse("INSERT INTO t (a) VALUES (" + "[" * depth + "]" * depth + ")")
    assert parsed.bind_count == 0


def test_position_after_multiline_string_and_comment() -> None:
    msg = error_of("SELECT * FROM t WHERE a = 'x\ny' /* c\nc */ AND b = = 1")
    assert msg.startswith("line 3:13 "), msg

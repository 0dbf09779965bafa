"""cql.parser._Driver: the fused scanner + LALR loop agrees with Lark's own pipeline.

The reference is `parser._parse_with_lark`: the same table and builder run by Lark's contextual
lexer and parser. Inputs are valid statements
with random token-level edits, so both accepted and rejected texts are compared: either both parsers
return equal ASTs and bind names, or both reject the text.

One known, deliberate difference: Lark's per-state regexes have no word boundary after a keyword, so
where a state accepts a keyword but no identifier, Lark splits a word at the keyword (`users` at the
start of a statement lexes as USE + `rs`, and parses as `USE rs`). Ours never splits a word. Cases
where the reference split a word are therefore not compared.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from cql import parser
from cql.errors import CQLError

CORPUS = [
    "SELECT * FROM system.local WHERE key = 'local' USING TIMEOUT 2000ms",
    "SELECT JSON DISTINCT a AS x, count(*), writetime(v), m['k'], u.f FROM ks.t WHERE a IN (1, 2) "
    "AND (c, d) > (1, ?) AND token(a) <= token(5) ORDER BY c DESC LIMIT 10 ALLOW FILTERING",
    "INSERT INTO ks.t (a, b, c) VALUES (1, 'x', ?) IF NOT EXISTS USING TTL 10 AND TIMESTAMP 1",
    "INSERT INTO t (a, b) VALUES (-1.5e3, 0xcafe)",
    "INSERT INTO t (a, b) VALUES (123e4567-e89b-12d3-a456-426614174000, P1DT2H)",
    "INSERT INTO t JSON '{}' DEFAULT UNSET",
    "UPDATE t USING TTL ? SET c = c -1, l = [1] + l, m['a'] = :v WHERE k = -1 IF c > 2",
    "UPDATE t SET s = s - {3}, x = true, y = NaN, z = -Infinity WHERE k = 1h30m",
    "DELETE a, m['k'] FROM t USING TIMESTAMP 5 WHERE k = 1 IF EXISTS",
    "BEGIN UNLOGGED BATCH INSERT INTO t (a) VALUES (?); DELETE FROM t WHERE a = ?; APPLY BATCH",
    "CREATE TABLE IF NOT EXISTS ks.t (key int, type text, value frozen<list<int>>, s int static, "
    "PRIMARY KEY ((key, type), value)) WITH CLUSTERING ORDER BY (value DESC) AND comment = 'c'",
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} "
    "AND durable_writes = true",
    "ALTER TABLE t ADD (x int, y text)",
    "CREATE TYPE addr (street text, zip int)",
    "CREATE ROLE r WITH PASSWORD = 'p' AND LOGIN = true",
    "GRANT SELECT ON ALL KEYSPACES TO r",
    "LIST ALL PERMISSIONS OF r NORECURSIVE",
    "DESCRIBE KEYSPACE ks WITH INTERNALS",
    "DESC users",
    "SELECT p1d, true, \"Q\" FROM t -- comment\nWHERE k = $$x$$",
]

EDIT_WORDS = [
    "SELECT", "FROM", "WHERE", "AND", "SET", "key", "type", "true", "P1D", "p1d", "-1", "- 1", "1h",
    "1.5", "(", ")", ",", "?", ":n", "'s'", "=", "<=", "-", "+", "[", "]", "{", "}", ":", ".", "IF",
    "EXISTS", "NOT", "IN", "TOKEN", "count", "as", "json", "distinct", "static", "0x1", "-Infinity",
    "users", "with", "internals", "USING", "TTL", "TIMEOUT", ";", "/*c*/", "\n", "\"X\"",
]


def run_reference(text: str) -> Any:
    try:
        parsed = parser._parse_with_lark(text)
    except CQLError:
        return "error"
    return parsed.statement, parsed.bind_names


def reference_splits_a_word(text: str) -> bool:
    parser._builder.reset(text)
    previous = None
    try:
        for token in parser._lark.parse_interactive(text, start="start").iter_parse():
            if (previous is not None and previous.end_pos == token.start_pos
                    and previous[-1:].isalnum() and (token[:1].isalnum() or token[:1] == "_")):
                return True
            previous = token
    except (UnexpectedInput, CQLError):
        pass
    return False


def run_ours(text: str) -> Any:
    try:
        parsed = parser._parse_uncached(text)
    except CQLError:
        return "error"
    return parsed.statement, parsed.bind_names


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_agrees(text: str) -> None:
    ours = run_ours(text)
    assert ours != "error", text
    assert ours == run_reference(text)


@st.composite
def edited_statement(draw: st.DrawFn) -> str:
    words = draw(st.sampled_from(CORPUS)).split(" ")
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(words)))
        operation = draw(st.sampled_from(["insert", "delete", "replace"]))
        word = draw(st.sampled_from(EDIT_WORDS))
        if operation == "insert":
            words.insert(position, word)
        elif position < len(words):
            if operation == "delete":
                del words[position]
            else:
                words[position] = word
    return " ".join(words)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_statement())
def test_edited_statements_agree(text: str) -> None:
    ours, theirs = run_ours(text), run_reference(text)
    if ours != theirs:
        assert reference_splits_a_word(text), (text, ours, theirs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="SELCTFROMWHEREkey*=?'()$;,.:-1 \n\t/", max_size=40))
def test_error_positions_agree(text: str) -> None:
    """Both raise, or neither; when both raise, at the same line:column."""
    def outcome(run: Any) -> str:
        try:
            run(text)
        except CQLError as error:
            return error.message.split(" ")[1] if error.message.startswith("line ") else "error"
        return "ok"

    ours, theirs = outcome(parser._parse_uncached), outcome(parser._parse_with_lark)
    if ours != theirs:
        assert reference_splits_a_word(text), (text, ours, theirs)

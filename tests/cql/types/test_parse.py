"""parse_type: CQL syntax, Java class names, names as system_schema shows them."""

from __future__ import annotations

import pytest

from cql.errors import InvalidRequest, SyntaxException
from cql.types import INT, TEXT, UserType, parse_type


@pytest.mark.parametrize("text,name", [
    ("int", "int"), ("VARCHAR", "text"), ("list<int>", "list<int>"),
    ("frozen<list<int>>", "frozen<list<int>>"), ("map<text,int>", "map<text, int>"),
    ("frozen<map<text, list<int>>>", "frozen<map<text, frozen<list<int>>>>"),
    ("list<frozen<set<int>>>", "list<frozen<set<int>>>"),
    ("tuple<int, text>", "frozen<tuple<int, text>>"),
    ("set<frozen<tuple<int, frozen<list<text>>>>>", "set<frozen<tuple<int, frozen<list<text>>>>>"),
    ("org.apache.cassandra.db.marshal.Int32Type", "int"),
    ("org.apache.cassandra.db.marshal.ListType(org.apache.cassandra.db.marshal.Int32Type)", "list<int>"),
    ("FrozenType(MapType(UTF8Type,ListType(Int32Type)))", "frozen<map<text, frozen<list<int>>>>"),
    ("ReversedType(TimeUUIDType)", "timeuuid"),
    ("TupleType(Int32Type,UTF8Type)", "frozen<tuple<int, text>>"),
    ("'org.apache.cassandra.db.marshal.DurationType'", "duration"),
])
def test_names(text: str, name: str) -> None:
    t = parse_type(text)
    assert t.cql_name() == name
    assert parse_type(name) == t
    assert parse_type(text) is t     # cached


def test_multicell_and_options() -> None:
    assert parse_type("list<int>").is_multicell
    assert not parse_type("frozen<list<int>>").is_multicell
    assert parse_type("counter").is_counter
    assert parse_type("map<text, int>").protocol_option == (0x21, (0x0D,), (0x09,))
    assert parse_type("tuple<int, text>").protocol_option == (0x31, ((0x09,), (0x0D,)))
    assert parse_type("duration").protocol_option == (0x15,)


@pytest.mark.parametrize("text,exc", [
    ("list<list<int>>", InvalidRequest), ("lst<int>", InvalidRequest), ("list<int", SyntaxException),
    ("map<int>", SyntaxException), ("frozen<int>", InvalidRequest), ("list<counter>", InvalidRequest),
    ("FooType(Int32Type)", InvalidRequest),
])
def test_errors(text: str, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        parse_type(text)


def test_udts() -> None:
    class Def:
        keyspace, name = "ks", "address"
        field_names = ("street", "zip")
        field_types = ("text", "int")

    def lookup(n: str) -> Def | None:
        return Def() if n == "address" else None

    u = parse_type("address", lookup)
    assert isinstance(u, UserType) and u.is_multicell and u.cql_name() == "address"
    assert u.types == (TEXT, INT)
    f = parse_type("frozen<address>", lookup)
    assert f.cql_name() == "frozen<address>" and not f.is_multicell
    assert parse_type("list<frozen<address>>", lookup).cql_name() == "list<frozen<address>>"
    assert u.protocol_option == (0x30, "ks", "address", (("street", (0x0D,)), ("zip", (0x09,))))
    java = parse_type("UserType(ks,61646472657373,737472656574:UTF8Type,7a6970:Int32Type)")
    assert java == u
    with pytest.raises(InvalidRequest, match="Unknown type"):
        parse_type("nope", lookup)
    assert parse_type('"Quoted"', lambda n: Def() if n == "Quoted" else None).types == (TEXT, INT)

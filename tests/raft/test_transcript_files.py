"""Runs the text transcripts in tests/raft/transcripts/*.txt against the core.

A transcript is a scenario from the Raft paper or thesis written as commands, one per line
(`#` starts a comment; each file cites its section). Commands:

    server NAME voters=a,b,c [log=1,1,2] [term=N] [vote=X] [timeout=N]
    campaign NAME                  fire NAME's election timer
    tick NAME [N]                  N ticks (default 1)
    propose NAME DATA              leader appends DATA
    config NAME voters=a,b [learners=c]   leader proposes a membership change
    transfer NAME TARGET           leader starts a leadership transfer
    read NAME ID                   start a read barrier with request id ID
    deliver [cut=a,b]              deliver until quiet; messages to or from cut servers are lost
    drop                           lose every message in flight
    remove NAME                    the server crashes and never returns
    restart NAME                   the server crashes and restarts from its durable state
    expect NAME key=value ...      role, term, leader, commit, last, vote
    expect-log NAME 1,1,2          terms of NAME's log from its first index
    expect-read NAME ID INDEX|none the read barrier's answer

A failed expectation names the file and line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raft import messages as m
from raft.ready import Role
from raft.types import ServerId
from tests.raft.harness import Net, sid

HERE = Path(__file__).parent / "transcripts"
FILES = sorted(HERE.glob("*.txt"))


def _names(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def _kv(args: list[str]) -> dict[str, str]:
    return dict(a.split("=", 1) for a in args)


def _actual(net: Net, name: str, key: str) -> str:
    core = net[name]
    values = {
        "role": core.role.value,
        "term": str(core.term),
        "leader": str(core.leader_id),
        "commit": str(core.log.commit_index),
        "last": str(core.log.last_index),
        "vote": str(core.vote),
        "voters": ",".join(sorted(core.config.voters)),
        "learners": ",".join(sorted(core.config.learners)),
        "joint": str(core.config.is_joint).lower(),
    }
    return values[key]


def run_transcript(path: Path) -> None:
    net = Net()
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cmd, *args = line.split()
        where = f"{path.name}:{lineno}: {line}"
        if cmd == "server":
            name, kv = args[0], _kv(args[1:])
            if "timeout" in kv:
                net.timeouts[sid(name)] = int(kv["timeout"])
            net.add(
                name,
                _names(kv["voters"]),
                terms=[int(t) for t in kv["log"].split(",")] if kv.get("log") else [],
                term=int(kv["term"]) if "term" in kv else None,
                vote=kv.get("vote"),
            )
        elif cmd == "campaign":
            net.campaign(args[0])
        elif cmd == "tick":
            net.tick(args[0], int(args[1]) if len(args) > 1 else 1)
        elif cmd == "propose":
            assert net[args[0]].role == Role.LEADER, where
            net[args[0]].propose(args[1].encode())
            net.process(args[0])
        elif cmd == "config":
            kv = _kv(args[1:])
            net[args[0]].propose_config(frozenset(map(sid, _names(kv["voters"]))),
                                        frozenset(map(sid, _names(kv.get("learners", "")))))
            net.process(args[0])
        elif cmd == "transfer":
            net[args[0]].transfer_leadership(sid(args[1]))
            net.process(args[0])
        elif cmd == "read":
            net[args[0]].read_index(int(args[1]))
            net.process(args[0])
        elif cmd == "deliver":
            cut = {sid(x) for x in _names(_kv(args).get("cut", ""))}

            def keep(msg: m.Message, cut: set[ServerId] = cut) -> bool:
                return msg.src not in cut and msg.dst not in cut

            net.deliver(keep=keep)
        elif cmd == "drop":
            net.take()
        elif cmd == "remove":
            del net.servers[sid(args[0])]
        elif cmd == "restart":
            net.crash_and_restart(args[0])
        elif cmd == "expect":
            for key, want in _kv(args[1:]).items():
                got = _actual(net, args[0], key)
                assert got == want, f"{where}\n  {key}: expected {want}, got {got}"
        elif cmd == "expect-log":
            got = ",".join(str(t) for t in net.log_terms(args[0]))
            assert got == args[1], f"{where}\n  expected log {args[1]}, got {got}"
        elif cmd == "expect-read":
            states = [rs for rd in net.servers[sid(args[0])].readies for rs in rd.read_states
                      if rs.request_id == int(args[1])]
            got = "pending" if not states else str(states[-1].index).lower()
            assert got == args[2].lower(), f"{where}\n  expected read {args[2]}, got {got}"
        else:
            raise AssertionError(f"{where}: unknown command {cmd}")


def test_transcripts_exist() -> None:
    assert len(FILES) >= 3


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path) -> None:
    run_transcript(path)


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("server s1 voters=s1\ncampaign s1\nexpect s1 role=follower\n")
    with pytest.raises(AssertionError, match=r"bad\.txt:3"):
        run_transcript(bad)

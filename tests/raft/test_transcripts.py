"""Transcript tests of the core: each reproduces a case from the Raft paper or Ongaro's thesis.

Every test cites the section it checks. Servers are deterministic `Core`s driven by `Net`
(tests/raft/harness.py); the test decides which messages arrive.
"""

from __future__ import annotations

import pytest

from raft import messages as m
from raft.core import CoreOptions
from raft.errors import ConfigChangeInProgress, EntryTooLarge, NotLeader
from raft.ready import OutcomeKind, Role
from raft.types import EntryKind, Index, LogEntry, Snapshot, Term
from tests.raft.harness import Net, ids, sid

ALL3 = ("s1", "s2", "s3")
ALL5 = ("s1", "s2", "s3", "s4", "s5")


def cluster(names: tuple[str, ...] = ALL3, options: CoreOptions | None = None) -> Net:
    net = Net(options)
    for n in names:
        net.add(n, names)
    return net


def elect(net: Net, name: str) -> None:
    net.campaign(name)
    net.deliver()
    assert net[name].role == Role.LEADER


def test_basic_election_and_replication_3_4() -> None:
    """§3.4-§3.5: a candidate with a majority becomes leader; its entries replicate and commit."""
    net = cluster()
    elect(net, "s1")
    assert net["s1"].term == 1
    assert all(net[n].leader_id == sid("s1") for n in ALL3)
    net["s1"].propose(b"x")
    net.process("s1")
    net.deliver()
    for n in ALL3:
        assert net[n].log.commit_index == 2  # no-op of term 1, then x
        assert [e.data for e in net.servers[sid(n)].applied][-1] == b"x"


def test_election_restriction_3_6_1() -> None:
    """§3.6.1: a server whose log is less up to date than a majority's cannot become leader."""
    net = Net()
    net.add("s1", ALL3, terms=[1], term=2)
    net.add("s2", ALL3, terms=[1, 2], term=2)
    net.add("s3", ALL3, terms=[1, 2], term=2)
    net.campaign("s1")
    net.deliver()
    assert net["s1"].role != Role.LEADER
    assert net["s1"].term == 2  # pre-vote failed: the term did not move (§9.6)
    elect(net, "s2")
    assert net.log_terms("s1") == [1, 2, 3]


FIGURE_7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIGURE_7_FOLLOWERS = {
    "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],
    "b": [1, 1, 1, 4],
    "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    "e": [1, 1, 1, 4, 4, 4, 4],
    "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
}


def test_figure_7_leader_repairs_every_follower_log_5_3() -> None:
    """Paper figure 7 / thesis figure 3.6 (§3.5): the term-8 leader brings each of the logs (a)-(f)
    in line with its own, deleting uncommitted extra entries, with fast backtracking (§5.3 end)."""
    names = ("L", *FIGURE_7_FOLLOWERS)
    net = Net()
    net.add("L", names, terms=FIGURE_7_LEADER, term=7)
    for name, terms in FIGURE_7_FOLLOWERS.items():
        net.add(name, names, terms=terms, term=7)
    net.campaign("L")
    net.deliver()
    # c and d hold more up-to-date logs and refuse; a, b, e, f and L form a majority of 7.
    assert net["L"].role == Role.LEADER and net["L"].term == 8
    rejections: dict[str, int] = dict.fromkeys(FIGURE_7_FOLLOWERS, 0)
    for _ in range(5):
        net.tick("L")  # heartbeats retransmit probes until every follower matches
        delivered = list(net.queue)
        net.deliver()
        for msg in delivered:
            if isinstance(msg, m.AppendResponse) and not msg.success:
                rejections[msg.src] += 1
    expected = [*FIGURE_7_LEADER, 8]
    for name in FIGURE_7_FOLLOWERS:
        assert net.log_terms(name) == expected, name
    assert net["L"].log.commit_index == len(expected)
    # One rejection per conflicting term, not per entry: f needs at most 3 round trips.
    assert rejections["f"] <= 3, rejections
    assert rejections["a"] <= 1 and rejections["b"] <= 1


def _figure_8_state() -> Net:
    """Paper figure 8 (c): S1 leads again and has replicated (2, term 2) to S3."""
    net = Net()
    net.add("s1", ALL5, terms=[1, 2], term=3)
    net.add("s2", ALL5, terms=[1, 2], term=3)
    net.add("s3", ALL5, terms=[1], term=3)
    net.add("s4", ALL5, terms=[1], term=3)
    net.add("s5", ALL5, terms=[1, 3], term=3)
    return net


def _let_leases_expire(net: Net, *names: str) -> None:
    """Time passes without a leader, but not enough for these servers to campaign themselves."""
    for n in names:
        net.timeouts[sid(n)] = 1000
        net.crash_and_restart(n)  # picks up the long timeout; durable state is unchanged
        net.tick(n, net.options.election_timeout_ticks)


def test_figure_8_no_commit_of_previous_term_by_counting_5_4_2() -> None:
    """Paper §5.4.2 / thesis §3.6.2 figure 3.7: an entry from an earlier term stored on a majority
    is not committed by counting; it can still be overwritten by S5, so committing it would be
    unsafe."""
    net = _figure_8_state()
    net.campaign("s1")
    net.deliver(keep=lambda msg: msg.dst != sid("s5") and not isinstance(msg, m.AppendRequest))
    s1 = net["s1"]
    assert s1.role == Role.LEADER and s1.term == 4
    net.take()
    # S3 acknowledges index 2 (term 2) only: (2, term 2) is now on S1, S2, S3, a majority.
    s1.step(m.AppendResponse(sid("s3"), sid("s1"), Term(4), True, Index(2)))
    s1.step(m.AppendResponse(sid("s2"), sid("s1"), Term(4), True, Index(2)))
    assert s1.log.commit_index < 2
    # (d): S1 crashes; S5 wins (its last term 3 beats 2) and overwrites index 2 everywhere.
    net.take()
    del net.servers[sid("s1")]
    _let_leases_expire(net, "s2", "s3", "s4")
    net.campaign("s5")  # its pre-vote at term 4 fails, but it learns that term 4 exists
    net.deliver()
    assert net["s5"].term == 4
    elect(net, "s5")
    for n in ("s2", "s3", "s4", "s5"):
        assert net.log_terms(n)[:2] == [1, 3]


def test_figure_8_commit_once_current_term_entry_replicates_5_4_2() -> None:
    """Figure 8 (e): once S1 replicates an entry of its own term to a majority, index 2 is
    committed with it, and S5 can no longer be elected."""
    net = _figure_8_state()
    net.campaign("s1")
    net.deliver(keep=lambda msg: msg.dst != sid("s5"))
    assert net["s1"].log.commit_index == 3
    net.take()
    del net.servers[sid("s1")]
    _let_leases_expire(net, "s2", "s3", "s4")
    for _ in range(3):
        net.campaign("s5")
        net.deliver()
        assert net["s5"].role != Role.LEADER


def test_pre_vote_keeps_partitioned_term_stable_9_6() -> None:
    """§9.6: a partitioned server's pre-votes fail, so it does not inflate its term and does not
    disrupt the leader when it rejoins."""
    net = cluster()
    elect(net, "s1")
    for _ in range(50):
        net["s3"].tick()
        net.process("s3")
        net.take()  # partitioned: everything s3 sends is lost
    assert net["s3"].term == 1
    net.tick("s1")
    net.deliver()
    assert net["s1"].role == Role.LEADER and net["s3"].leader_id == sid("s1")


def test_leader_stickiness_ignores_disruptive_votes_4_2_3() -> None:
    """§4.2.3: with pre-vote off, an isolated server bumps its term, but servers that heard from
    the leader within the election timeout ignore its RequestVote."""
    net = cluster(options=CoreOptions(pre_vote=False))
    elect(net, "s1")
    for _ in range(11):
        net["s3"].tick()
    net.process("s3")
    assert net["s3"].term == 2
    votes = [msg for msg in net.take() if isinstance(msg, m.VoteRequest)]
    assert votes
    for v in votes:
        if v.dst == sid("s2"):
            net["s2"].step(v)
    assert net["s2"].term == 1 and net["s2"].vote == sid("s1")
    assert net["s1"].role == Role.LEADER


def test_check_quorum_leader_steps_down_6_2() -> None:
    """§6.2: a leader that does not hear from a majority for an election timeout steps down."""
    net = cluster()
    elect(net, "s1")
    for _ in range(25):
        net.tick("s1")
        net.take()
    assert net["s1"].role == Role.FOLLOWER and net["s1"].leader_id is None
    with pytest.raises(NotLeader):
        net["s1"].propose(b"x")


def test_leadership_transfer_3_10() -> None:
    """§3.10: the leader brings the target up to date, sends TimeoutNow, the target wins."""
    net = cluster()
    elect(net, "s1")
    net.take()
    net["s1"].propose(b"a")
    net.process("s1")
    net.deliver(keep=lambda msg: msg.dst != sid("s3"))  # s3 lags behind
    net["s1"].transfer_leadership(sid("s3"))
    net.process("s1")
    net.deliver()
    assert net["s3"].role == Role.LEADER and net["s3"].term == 2
    assert net["s1"].leader_id == sid("s3")


def test_snapshot_install_for_lagging_follower_5_3() -> None:
    """§5.1-§5.3: after the leader compacts its log, a lagging follower gets InstallSnapshot and
    then the remaining entries."""
    net = cluster()
    elect(net, "s1")
    for i in range(5):
        net["s1"].propose(b"v%d" % i)
        net.process("s1")
        net.deliver(keep=lambda msg: msg.dst != sid("s3"))
    s1 = net["s1"]
    desc = s1.describe_snapshot(Index(5))
    snap = Snapshot(desc, b"state@5")
    net.servers[sid("s1")].disk.compact(snap)
    s1.compact(snap, keep_trailing=0)
    assert s1.log.first_index == 6
    for _ in range(3):
        net.tick("s1")
        net.deliver()
    s3 = net.servers[sid("s3")]
    assert any(rd.snapshot is not None for rd in s3.readies)
    assert s3.disk.snapshot.data == b"state@5"
    assert net.log_terms("s3") == [1]  # index 6 only, after the snapshot
    assert s3.core.log.commit_index == 6


def test_membership_learner_then_joint_consensus_4_3() -> None:
    """§4.2.1 + §4.3: a new server joins as a learner, catches up, then becomes a voter through a
    joint configuration; the leader then moves to C_new by itself."""
    net = cluster()
    net.add("s4", ())  # a fresh server with an empty configuration
    elect(net, "s1")
    s1 = net["s1"]
    s1.propose_config(ids(*ALL3), ids("s4"))
    with pytest.raises(ConfigChangeInProgress):
        s1.propose_config(ids(*ALL3, "s4"), frozenset())  # the learner entry is not committed
    net.process("s1")
    net.deliver()
    net.tick("s1")
    net.deliver()
    assert net["s4"].config.learners == ids("s4") and net["s4"].role == Role.FOLLOWER
    assert net["s4"].log.commit_index == s1.log.commit_index  # caught up
    s1.propose_config(ids(*ALL3, "s4"), frozenset())
    assert s1.config.is_joint and s1.config.old_voters == ids(*ALL3)
    net.process("s1")
    net.deliver()
    net.tick("s1")
    net.deliver()
    cfg = s1.config
    assert not cfg.is_joint and cfg.voters == ids(*ALL3, "s4") and not cfg.learners
    assert net["s4"].config == cfg


def test_removed_leader_steps_down_4_2_2() -> None:
    """§4.2.2: a leader removed from the configuration steps down once C_new is committed."""
    net = cluster()
    elect(net, "s1")
    net["s1"].propose_config(ids("s2", "s3"), frozenset())
    net.process("s1")
    net.deliver()
    net.tick("s1")
    net.deliver()
    assert net["s1"].role == Role.FOLLOWER
    for _ in range(3):
        for n in ("s2", "s3"):
            net.tick(n, 12)
        net.deliver()
    leaders = [n for n in ("s2", "s3") if net[n].role == Role.LEADER]
    assert len(leaders) == 1


def test_read_index_needs_a_quorum_round_6_4() -> None:
    """§6.4: the read index is released only after a majority acknowledges a heartbeat sent after
    the read arrived; a partitioned leader cannot serve it."""
    net = cluster()
    elect(net, "s1")
    s1 = net["s1"]
    s1.read_index(7)
    net.process("s1")
    assert not any(rd.read_states for rd in net.servers[sid("s1")].readies)
    net.deliver()
    states = [rs for rd in net.servers[sid("s1")].readies for rs in rd.read_states]
    assert [(rs.request_id, rs.index) for rs in states] == [(7, 1)]
    # Partition the leader: the next read never completes; after check-quorum it fails.
    s1.read_index(8)
    for _ in range(25):
        net.tick("s1")
        net.take()
    states = [rs for rd in net.servers[sid("s1")].readies for rs in rd.read_states]
    assert states[-1].request_id == 8 and states[-1].index is None


def test_follower_forwards_proposals_and_reads_6_2() -> None:
    """§6.2: followers forward client requests to the leader."""
    net = cluster()
    elect(net, "s1")
    net["s2"].forward_proposal(1, b"from-s2")
    net["s2"].read_index(2)
    net.process("s2")
    net.deliver()
    s2 = net.servers[sid("s2")]
    outcomes = [o for rd in s2.readies for o in rd.proposal_outcomes]
    assert outcomes[0].kind == OutcomeKind.APPENDED and outcomes[0].index == 2
    assert [e.data for e in s2.applied][-1] == b"from-s2"
    reads = [rs for rd in s2.readies for rs in rd.read_states]
    assert reads and reads[0].index is not None and reads[0].index >= 1


def test_bad_input_never_changes_state() -> None:
    """Messages from unknown servers, misaddressed or stale ones are dropped; nothing changes."""
    net = cluster()
    elect(net, "s1")
    s2 = net["s2"]
    before = (s2.term, s2.vote, s2.leader_id, s2.log.last_index, s2.log.commit_index)
    s2.step(m.VoteRequest(sid("intruder"), sid("s2"), Term(9), Index(99), Term(9)))
    s2.step(m.AppendRequest(sid("s1"), sid("s3"), Term(1), Index(1), Term(1), (), Index(1)))
    s2.step(m.AppendRequest(sid("s3"), sid("s2"), Term(0), Index(0), Term(0), (), Index(0)))
    s2.step(m.TimeoutNow(sid("s3"), sid("s2"), Term(1)))
    assert (s2.term, s2.vote, s2.leader_id, s2.log.last_index, s2.log.commit_index) == before
    with pytest.raises(EntryTooLarge):
        net["s1"].propose(b"x" * (net["s1"].options.max_entry_bytes + 1))
    assert net["s1"].log.last_index == 1


def test_oversized_entries_from_a_peer_are_rejected() -> None:
    """Bad input: an AppendRequest carrying an entry above max_entry_bytes changes nothing."""
    net = cluster()
    elect(net, "s1")
    s2 = net["s2"]
    before = (s2.term, s2.log.last_index, s2.log.commit_index)
    big = LogEntry(Term(1), Index(2), EntryKind.COMMAND, b"x" * (s2.options.max_entry_bytes + 1))
    s2.step(m.AppendRequest(sid("s1"), sid("s2"), Term(1), Index(1), Term(1), (big,), Index(2)))
    assert (s2.term, s2.log.last_index, s2.log.commit_index) == before
    assert not s2.has_ready()

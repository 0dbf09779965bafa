"""Unit tests of the in-memory log (raft/log.py) and configuration quorums (raft/types.py)."""

from __future__ import annotations

import pytest

from raft.log import LogError, RaftLog
from raft.types import Configuration, EntryKind, Index, LogEntry, ServerId, SnapshotDescriptor, Term
from tests.raft.harness import entries_from_terms, ids


def _log(terms: list[int], voters: tuple[str, ...] = ("a", "b", "c")) -> RaftLog:
    return RaftLog(SnapshotDescriptor(Index(0), Term(0), Configuration(ids(*voters))), entries_from_terms(terms))


def test_majorities_and_joint_quorums_4_3() -> None:
    c = Configuration(ids("a", "b", "c"))
    assert c.has_quorum(ids("a", "b")) and not c.has_quorum(ids("a"))
    assert c.quorum_index({ServerId("a"): 5, ServerId("b"): 3, ServerId("c"): 1}) == 3
    joint = Configuration(ids("c", "d", "e"), old_voters=ids("a", "b", "c"))
    # A majority of each half is needed (§4.3): {a, b} is a majority of C_old only.
    assert not joint.has_quorum(ids("a", "b"))
    assert joint.has_quorum(ids("a", "c", "d"))
    match = {ServerId("a"): 9, ServerId("b"): 9, ServerId("c"): 2, ServerId("d"): 2, ServerId("e"): 0}
    assert joint.quorum_index(match) == 2
    assert not Configuration(frozenset()).has_quorum(ids("a"))
    with pytest.raises(ValueError):
        Configuration(ids("a"), learners=ids("a"))
    assert joint.leave_joint() == Configuration(ids("c", "d", "e"))


def test_matching_truncation_and_conflict_hints_3_5() -> None:
    log = _log([1, 1, 2, 2, 2, 3])
    assert log.matches(4, 2) and not log.matches(4, 3) and not log.matches(9, 3)
    assert log.first_index_of_term(5) == 3 and log.last_index_of_term(2) == 5
    assert log.last_index_of_term(4) is None
    assert log.is_up_to_date(6, 3) and not log.is_up_to_date(9, 2)
    log.commit_to(2)
    with pytest.raises(LogError):
        log.truncate_after(1)  # committed entries are never truncated
    log.truncate_after(4)
    assert log.last_index == 4 and log.stable_index == 4
    with pytest.raises(LogError):
        log.append(LogEntry(Term(1), Index(5)))  # terms never decrease
    assert not log.commit_to(1)  # the commit index never moves back


def test_configuration_follows_the_log_and_rolls_back_4_1() -> None:
    log = _log([1, 1])
    new = Configuration(ids("a", "b", "c", "d"))
    log.append(LogEntry(Term(1), Index(3), EntryKind.CONFIG, b"", new))
    assert log.configuration() == new and log.last_config_index() == 3
    log.truncate_after(2)  # an uncommitted change is rolled back with its entry
    assert log.configuration() == Configuration(ids("a", "b", "c")) and log.last_config_index() == 0


def test_compact_keeps_a_tail_and_restore_keeps_a_matching_suffix_5_3() -> None:
    log = _log([1, 1, 1, 2, 2])
    log.commit_to(5)
    log.compact(SnapshotDescriptor(Index(4), Term(2), Configuration(ids("a", "b", "c"))), keep_trailing=2)
    assert log.first_index == 3 and log.term_at(2) == 1 and log.term_at(1) is None
    follower = _log([1, 1, 2, 2, 3])
    follower.restore(SnapshotDescriptor(Index(3), Term(2), Configuration(ids("a"))))
    assert follower.last_index == 5 and follower.commit_index == 3  # suffix after (3, 2) kept
    other = _log([1, 1, 1, 1])
    other.restore(SnapshotDescriptor(Index(3), Term(2), Configuration(ids("a"))))
    assert other.last_index == 3 and other.configuration() == Configuration(ids("a"))

"""Flow control's claim statements on real PostgreSQL: jobs sharing a flow key are
claimed only as far as the key's parallelism and rate allow, whoever claims, and
the rest wait, due, for a later claim."""

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from app import claims, flow_controls
from app.audit import Actor
from app.claims.tick import TickSettings, tick_once
from app.flow_controls import Limits
from tests.integration.rows import LOCK, outcome, set_row, stored


def limit(db, key: str, **limits) -> None:
    with db.connection_context():
        flow_controls.set_limits(db, key, Limits(**limits), datetime.now(UTC), Actor())


def keyed_jobs(db, add_job, key: str, count: int) -> list[uuid.UUID]:
    """`count` jobs due now naming `key` (which has its row)."""
    with db.connection_context():
        flow_controls.name_key(db, key)
    return [add_job(flow_key=key) for _ in range(count)]


def claim(db, owner: str = "tick-a", max_jobs: int = 100) -> claims.Claimed:
    """One claim as a tick makes it: jobs without a flow key, then those with."""
    settings = TickSettings(owner, interval=1.0, max_jobs=max_jobs, lock_seconds=LOCK, ahead=0.0)
    return tick_once(db, lambda sent: None, settings)


def figures(db, key: str) -> flow_controls.FlowControl:
    with db.connection_context():
        return flow_controls.get(db, key)


def test_parallelism_holds_back_what_is_beyond_it_until_a_claim_ends(db, add_job):
    limit(db, "payments", parallelism=2)
    jobs = keyed_jobs(db, add_job, "payments", 5)
    plain = add_job()

    first = claim(db).claims
    assert {c.job_id for c in first} - {plain} <= set(jobs)
    assert len(first) == 3 and plain in {c.job_id for c in first}
    assert all(c.flow_key == "payments" for c in first if c.job_id != plain)
    assert claim(db).claims == []  # two held: nothing more for the key
    live = figures(db, "payments")
    assert (live.in_flight, live.waiting) == (2, 3)

    keyed = next(c for c in first if c.job_id != plain)
    claims.finish(db, keyed, outcome(keyed))
    [next_one] = claim(db).claims
    assert next_one.job_id in set(jobs) - {c.job_id for c in first}
    assert figures(db, "payments").waiting == 2


def test_the_rate_allows_so_many_starts_per_period_and_says_when_the_next_may(db, add_job):
    limit(db, "mail", rate=3, period=1.0)
    keyed_jobs(db, add_job, "mail", 5)

    first = claim(db)
    assert len(first.claims) == 3
    assert 0.9 < first.next_due_in <= 1.0  # the tick sleeps until the window moves
    for held in first.claims:  # ended at once: the rate, not the parallelism, holds
        claims.finish(db, held, outcome(held))
    assert claim(db).claims == []
    assert figures(db, "mail").started_last_period == 3

    time.sleep(first.next_due_in + 0.05)
    assert len(claim(db).claims) == 2


def test_two_ticks_claiming_at_once_never_exceed_the_parallelism(db, add_job):
    limit(db, "fragile", parallelism=3)
    keyed_jobs(db, add_job, "fragile", 30)
    got: dict[str, list] = {"tick-a": [], "tick-b": []}
    start = threading.Barrier(2)

    def tick(owner: str) -> None:
        start.wait()
        for _ in range(20):
            got[owner].extend(claim(db, owner).claims)

    threads = [threading.Thread(target=tick, args=(owner,)) for owner in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got["tick-a"]) + len(got["tick-b"]) == 3


def test_a_key_without_limits_is_claimed_like_any_job(db, add_job):
    jobs = keyed_jobs(db, add_job, "free", 4)
    assert {c.job_id for c in claim(db).claims} == set(jobs)


def test_max_jobs_bounds_the_keyed_claims_too(db, add_job):
    limit(db, "wide", parallelism=50)
    keyed_jobs(db, add_job, "wide", 10)
    plain = [add_job() for _ in range(3)]
    got = claim(db, max_jobs=5).claims
    assert len(got) == 5
    assert set(plain) <= {c.job_id for c in got}


def test_a_backlog_behind_a_limit_does_not_hold_up_other_jobs(db, add_job):
    limit(db, "slow", parallelism=1)
    keyed_jobs(db, add_job, "slow", 200)
    claim(db)  # the one the key allows
    plain = add_job()
    unkeyed = claims.claim_due(db, "tick-a", 100, LOCK)
    assert [c.job_id for c in unkeyed.claims] == [plain]
    assert unkeyed.flows  # the tick then claims by key


def test_a_run_now_of_a_keyed_job_waits_for_the_limit_too(db, add_job):
    limit(db, "one", parallelism=1)
    [busy, asked] = keyed_jobs(db, add_job, "one", 2)
    [first] = claim(db).claims
    other = asked if first.job_id == busy else busy
    set_row(db, other, next_run=None, run_requested_at=datetime.now(UTC))
    assert claim(db).claims == []
    claims.finish(db, first, outcome(first))
    [ran] = claim(db).claims
    assert (ran.job_id, ran.manual, ran.flow_key) == (other, True, "one")


def test_a_retry_starts_only_as_the_rate_allows(db, add_job):
    limit(db, "api", rate=2, period=1.0)
    [job_id] = keyed_jobs(db, add_job, "api", 1)
    [held] = claim(db).claims  # the first attempt: one start of two
    assert claims.start_flow_attempt(db, "api") == 0.0  # the retry: the second
    wait = claims.start_flow_attempt(db, "api")
    assert 0.9 < wait <= 1.0
    assert figures(db, "api").started_last_period == 2
    assert claims.start_flow_attempt(db, "no limits here") == 0.0
    assert stored(db, job_id).lock_token == held.token


def test_lifting_the_limits_lets_the_waiting_jobs_go(db, add_job):
    limit(db, "lifted", parallelism=1)
    jobs = keyed_jobs(db, add_job, "lifted", 3)
    assert len(claim(db).claims) == 1
    with db.connection_context():
        flow_controls.delete(db, "lifted", datetime.now(UTC), Actor())
    assert len(claim(db).claims) == 2
    assert stored(db, jobs[0]).flow_key == "lifted"  # its key stays, without limits


def test_claims_already_made_are_sent_when_the_claim_by_key_fails(db, add_job, monkeypatch):
    limit(db, "broken", parallelism=1)
    keyed_jobs(db, add_job, "broken", 1)
    plain = add_job()
    sent = []

    def fails(*args, **kwargs):
        raise ConnectionError("database gone")

    monkeypatch.setattr(claims, "claim_flows", fails)
    settings = TickSettings("tick-a", interval=1.0, max_jobs=10, lock_seconds=LOCK, ahead=0.0)
    with pytest.raises(ConnectionError):
        tick_once(db, sent.extend, settings)
    assert [c.job_id for c in sent] == [plain]

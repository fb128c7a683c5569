"""The claim protocol on real PostgreSQL: claims, starts, renewals, fencing, finish,
release."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app import claims
from app.claims import Claim
from app.jobs.models import Job
from app.timing.schedule import delivery_id
from tests.integration.rows import LOCK, executions, outcome, stored


def test_two_claimers_never_get_the_same_job(db, add_job):
    ids = {add_job() for _ in range(200)}
    taken: dict[str, list[uuid.UUID]] = {"a": [], "b": []}

    def claimer(owner):
        while True:
            got = claims.claim_due(db, owner, max_jobs=1000, lock_seconds=LOCK).claims
            if not got:
                return
            taken[owner].extend(c.job_id for c in got)
            # Release nothing: each claimer keeps what it took, as a busy tick does.

    threads = [threading.Thread(target=claimer, args=(owner,)) for owner in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(taken["a"]).isdisjoint(taken["b"])
    assert set(taken["a"]) | set(taken["b"]) == ids
    assert len(taken["a"]) + len(taken["b"]) == len(ids)


def test_a_claim_records_owner_expiry_and_a_fresh_token(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    row = stored(db, job_id)
    assert row.locked_by == "tick-a"
    assert row.lock_token == claim.token
    assert row.locked_until > datetime.now(UTC) + timedelta(seconds=LOCK - 5)
    assert claim.scheduled_for == row.next_run


def test_claims_per_owner_stay_within_max_concurrent_jobs(db, add_job):
    for _ in range(8):
        add_job()
    first = claims.claim_due(db, "tick-a", 5, LOCK).claims
    assert len(first) == 5
    assert claims.claim_due(db, "tick-a", 5, LOCK).claims == []
    # Another tick has its own budget.
    assert len(claims.claim_due(db, "tick-b", 5, LOCK).claims) == 3
    claims.finish(db, first[0], outcome(first[0]))
    assert len(claims.claim_due(db, "tick-a", 5, LOCK).claims) == 0  # nothing left due
    add_job()
    assert len(claims.claim_due(db, "tick-a", 5, LOCK).claims) == 1


def test_future_and_stopped_jobs_are_not_claimed(db, add_job):
    add_job(next_run=datetime.now(UTC) + timedelta(hours=1))
    add_job(status="STOPPED")
    assert claims.claim_due(db, "tick-a", 10, LOCK).claims == []


def test_a_slot_within_the_ahead_window_is_claimed_for_itself_and_no_sooner(db, add_job):
    slot = datetime.now(UTC) + timedelta(seconds=2)
    job_id = add_job(next_run=slot)
    add_job(next_run=slot + timedelta(seconds=10))
    early = claims.claim_due(db, "tick-a", 10, LOCK, ahead=1.0)
    assert early.claims == []
    assert 0.5 < early.next_due_in <= 1.0  # until the slot is one second ahead
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK, ahead=5.0).claims
    assert (claim.job_id, claim.scheduled_for, claim.manual) == (job_id, slot, False)


def test_expired_lock_is_claimed_again_for_the_same_slot(db, add_job):
    job_id = add_job()
    [first] = claims.claim_due(db, "tick-a", 10, lock_seconds=0.2).claims
    assert claims.claim_due(db, "tick-b", 10, LOCK).claims == []  # still held
    time.sleep(0.4)
    [second] = claims.claim_due(db, "tick-b", 10, LOCK).claims
    assert second.job_id == job_id
    assert second.token != first.token
    assert second.scheduled_for == first.scheduled_for
    assert delivery_id(job_id, second.scheduled_for) == delivery_id(job_id, first.scheduled_for)


def test_stale_token_cannot_start_or_finish_a_job(db, add_job):
    job_id = add_job()
    [stale] = claims.claim_due(db, "tick-a", 10, lock_seconds=0.2).claims
    time.sleep(0.4)
    [holder] = claims.claim_due(db, "tick-b", 10, LOCK).claims

    assert claims.start_attempt(db, stale, uuid.uuid4(), LOCK) is None
    assert claims.finish(db, stale, outcome(stale)) is False
    row = stored(db, job_id)
    assert row.lock_token == holder.token and row.locked_by == "tick-b"
    assert row.next_run == holder.scheduled_for  # not advanced by the stale finish
    assert len(executions(db, job_id)) == 1  # but the delivery that happened is recorded

    assert claims.finish(db, holder, outcome(holder)) is True
    row = stored(db, job_id)
    assert (row.lock_token, row.locked_by, row.locked_until, row.next_run) == (None,) * 4


def test_starting_an_attempt_renews_the_claim_and_returns_the_definition(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, lock_seconds=1).claims
    definition = claims.start_attempt(db, claim, uuid.uuid4(), 300)
    assert definition.type == "HTTP"
    assert definition.http_job["url"] == "http://127.0.0.1:9/"
    assert stored(db, job_id).locked_until > datetime.now(UTC) + timedelta(seconds=250)


def test_renew_extends_held_claims_only(db, add_job):
    a, b = add_job(), add_job()
    got = claims.claim_due(db, "tick-a", 10, lock_seconds=5).claims
    by_job = {c.job_id: c for c in got}
    forged = Claim(b, uuid.uuid4(), by_job[b].scheduled_for)
    kept = claims.renew(db, [by_job[a], forged], 300)
    assert kept == {a}
    assert stored(db, a).locked_until > datetime.now(UTC) + timedelta(seconds=250)
    assert stored(db, b).locked_until < datetime.now(UTC) + timedelta(seconds=10)


def test_a_renewal_never_shortens_a_claim_held_for_a_retry(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    key = uuid.uuid4()
    claims.start_attempt(db, claim, key, LOCK)
    assert claims.hold_for_retry(db, claim, key, 3600)
    assert claims.renew(db, [claim], LOCK) == {job_id}  # a renewal crossing the hold
    assert stored(db, job_id).locked_until > datetime.now(UTC) + timedelta(minutes=50)


def test_finishing_a_one_off_job_ends_it(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    assert claims.finish(db, claim, outcome(claim, "FAILED"))
    assert stored(db, job_id).next_run is None
    [record] = executions(db, job_id)
    assert record.status == "FAILED"
    assert record.scheduled_for == claim.scheduled_for
    assert record.delivery_id == delivery_id(job_id, claim.scheduled_for)


def test_finishing_a_recurring_job_schedules_its_next_slot_from_now(db, add_job):
    long_ago = datetime.now(UTC) - timedelta(days=3)
    job_id = add_job(cron="*/5 * * * *", next_run=long_ago)
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    claims.finish(db, claim, outcome(claim))
    next_run = stored(db, job_id).next_run
    now = datetime.now(UTC)
    # Missed slots are coalesced: the next run follows now, not the old slot.
    assert now < next_run <= now + timedelta(minutes=5)
    assert next_run.minute % 5 == 0 and next_run.second == 0


def test_an_update_during_a_run_is_kept_by_the_finish(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    later = datetime.now(UTC) + timedelta(hours=2)
    with db.connection_context():
        Job.update(execute_at=later, next_run=later).where(Job.id == job_id).execute()
    claims.finish(db, claim, outcome(claim))
    assert stored(db, job_id).next_run == later


def test_finish_of_a_deleted_job_is_dropped(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    with db.connection_context():
        Job.delete_by_id(job_id)
    assert claims.finish(db, claim, outcome(claim)) is False
    assert executions(db, job_id) == []


def test_released_claims_are_due_again_at_once(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    claims.release(db, [claim])
    [again] = claims.claim_due(db, "tick-b", 10, LOCK).claims
    assert again.job_id == job_id and again.scheduled_for == claim.scheduled_for


@pytest.mark.parametrize("count", [0, 3])
def test_release_of_stale_claims_changes_nothing(db, add_job, count):
    ids = [add_job() for _ in range(count)]
    got = claims.claim_due(db, "tick-a", 10, LOCK).claims
    forged = [Claim(c.job_id, uuid.uuid4(), c.scheduled_for) for c in got]
    claims.release(db, forged)
    assert all(stored(db, job_id).locked_by == "tick-a" for job_id in ids)


def test_a_claim_reports_the_capacity_left_and_the_time_to_the_next_slot(db, add_job):
    add_job(), add_job()
    add_job(next_run=datetime.now(UTC) + timedelta(seconds=30))
    claimed = claims.claim_due(db, "tick-a", 5, LOCK)
    assert (len(claimed.claims), claimed.free) == (2, 5)
    assert 25 < claimed.next_due_in <= 30
    full = claims.claim_due(db, "tick-a", 2, LOCK)
    assert (full.claims, full.free) == ([], 0)


def test_with_no_future_slot_the_claim_says_none(db):
    assert claims.claim_due(db, "tick-a", 5, LOCK).next_due_in is None

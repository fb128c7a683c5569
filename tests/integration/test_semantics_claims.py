"""Scheduling semantics of the claim protocol and retention on real PostgreSQL (issue 4):
run-now requests, runs and max_runs, lag and duration, pruning old executions."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app import claims, retention
from app.claims import Claim, Outcome
from app.jobs.models import Execution
from app.timing.schedule import delivery_id
from tests.integration.rows import LOCK, executions, outcome, set_row, stored

DAY = 86400.0


def claim_one(db) -> Claim:
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    return claim


def requested(db, add_job, **job_fields) -> tuple[uuid.UUID, datetime]:
    """A job with a run requested a second ago; the job as add_job makes it otherwise."""
    job_id = add_job(**job_fields)
    at = datetime.now(UTC) - timedelta(seconds=1)
    set_row(db, job_id, run_requested_at=at)
    return job_id, at


# --- run now through the claim path --------------------------------------------------


def test_a_requested_run_of_a_job_not_yet_due_is_claimed_as_manual_at_the_request_time(db, add_job):
    job_id, at = requested(db, add_job, next_run=datetime.now(UTC) + timedelta(hours=1))

    claim = claim_one(db)

    assert claim.job_id == job_id
    assert claim.manual is True
    assert claim.scheduled_for == at


def test_a_requested_run_of_a_paused_job_is_claimed_as_manual(db, add_job):
    # Overdue and paused: only the request makes it due, so the slot is the request.
    job_id, at = requested(db, add_job, status="STOPPED")

    claim = claim_one(db)

    assert (claim.job_id, claim.manual, claim.scheduled_for) == (job_id, True, at)


def test_finishing_a_manual_run_records_it_as_manual_and_keeps_the_schedule(db, add_job):
    next_run = datetime.now(UTC) + timedelta(hours=1)
    job_id, at = requested(db, add_job, cron="0 * * * *", next_run=next_run)
    claim = claim_one(db)

    assert claims.finish(db, claim, outcome(claim)) is True

    row = stored(db, job_id)
    assert row.run_requested_at is None
    assert row.next_run == next_run
    assert row.runs == 0
    assert (row.locked_until, row.locked_by, row.lock_token) == (None, None, None)
    [record] = executions(db, job_id)
    assert record.manual is True
    assert record.scheduled_for == at
    assert record.delivery_id == delivery_id(job_id, at)
    assert claims.claim_due(db, "tick-a", 10, LOCK).claims == []  # the request was served once


def test_a_due_slot_with_a_pending_request_is_claimed_once_as_scheduled(db, add_job):
    slot = datetime.now(UTC) - timedelta(minutes=1)
    job_id, _ = requested(db, add_job, cron="*/5 * * * *", next_run=slot)

    claim = claim_one(db)
    assert (claim.job_id, claim.manual, claim.scheduled_for) == (job_id, False, slot)
    assert claims.claim_due(db, "tick-b", 10, LOCK).claims == []

    claims.finish(db, claim, outcome(claim))

    row = stored(db, job_id)
    assert row.run_requested_at is None
    assert row.next_run > datetime.now(UTC)
    assert row.runs == 1
    assert [e.manual for e in executions(db, job_id)] == [False]
    assert claims.claim_due(db, "tick-a", 10, LOCK).claims == []


def test_a_run_requested_for_a_finished_one_off_job_is_claimed_and_recorded_as_manual(db, add_job):
    # A one-off job that has run has next_run null; "run it again now" is a fair request.
    job_id, at = requested(db, add_job)
    set_row(db, job_id, next_run=None)

    claim = claim_one(db)
    assert (claim.job_id, claim.scheduled_for) == (job_id, at)
    assert claim.manual is True
    assert claims.finish(db, claim, outcome(claim)) is True
    assert [e.manual for e in executions(db, job_id)] == [True]
    assert stored(db, job_id).run_requested_at is None


# --- runs and max_runs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("manual", "status", "counted"),
    [
        (False, "SUCCESSFUL", 1),
        (False, "FAILED", 1),
        (False, "SKIPPED", 0),
        (True, "SUCCESSFUL", 0),
    ],
)
def test_finish_counts_a_run_for_served_scheduled_slots_only(db, add_job, manual, status, counted):
    if manual:
        job_id, _ = requested(
            db, add_job, cron="0 * * * *", next_run=datetime.now(UTC) + timedelta(hours=1)
        )
    else:
        job_id = add_job(cron="0 * * * *")
    claim = claim_one(db)
    assert claim.manual is manual

    claims.finish(db, claim, outcome(claim, status, attempts=0 if status == "SKIPPED" else 1))

    assert stored(db, job_id).runs == counted
    [record] = executions(db, job_id)
    assert record.status == status


def test_a_skipped_slot_still_moves_the_job_on_to_its_next_slot(db, add_job):
    job_id = add_job(cron="*/5 * * * *", next_run=datetime.now(UTC) - timedelta(hours=2))
    claim = claim_one(db)

    claims.finish(db, claim, outcome(claim, "SKIPPED", attempts=0))

    row = stored(db, job_id)
    assert row.next_run > datetime.now(UTC)
    assert row.locked_until is None
    [record] = executions(db, job_id)
    assert (record.status, record.attempts) == ("SKIPPED", 0)


def test_a_cron_job_with_max_runs_2_ends_after_its_second_served_slot(db, add_job):
    job_id = add_job(cron="*/5 * * * *")
    set_row(db, job_id, max_runs=2)

    first = claim_one(db)
    claims.finish(db, first, outcome(first))
    row = stored(db, job_id)
    assert (row.runs, row.next_run is not None) == (1, True)

    set_row(db, job_id, next_run=datetime.now(UTC) - timedelta(seconds=1))  # its time came
    second = claim_one(db)
    claims.finish(db, second, outcome(second))

    row = stored(db, job_id)
    assert row.runs == 2
    assert row.next_run is None
    assert claims.claim_due(db, "tick-a", 10, LOCK).claims == []


# --- lag and duration ----------------------------------------------------------------


def test_an_execution_records_lag_and_duration_in_milliseconds(db, add_job):
    job_id = add_job()
    claim = claim_one(db)
    start = claim.scheduled_for + timedelta(seconds=1, milliseconds=500)
    end = start + timedelta(seconds=2, milliseconds=250)
    done = Outcome(delivery_id(job_id, claim.scheduled_for), start, end, "SUCCESSFUL", 2)

    claims.finish(db, claim, done)

    [record] = executions(db, job_id)
    assert record.lag_ms == 1500
    assert record.duration_ms == 2250
    assert (record.start_time, record.end_time, record.attempts) == (start, end, 2)


def test_finish_records_what_the_target_answered(db, add_job):
    job_id = add_job()
    claim = claim_one(db)
    now = datetime.now(UTC)
    failed = Outcome(
        delivery_id(job_id, claim.scheduled_for),
        now,
        now,
        "FAILED",
        4,
        error_message="HTTP 503",
        status_code=503,
        response_excerpt="try later",
    )

    claims.finish(db, claim, failed)

    [record] = executions(db, job_id)
    assert (record.status_code, record.response_excerpt) == (503, "try later")
    assert (record.error_message, record.attempts) == ("HTTP 503", 4)


# --- retention -----------------------------------------------------------------------


def add_executions(db, job_id, ended_ago: timedelta, count: int) -> list[int]:
    end = datetime.now(UTC) - ended_ago
    with db.connection_context():
        return [
            Execution.create(
                job=job_id,
                delivery_id=uuid.uuid4(),
                scheduled_for=end - timedelta(seconds=2),
                start_time=end - timedelta(seconds=1),
                end_time=end - timedelta(microseconds=i),
                status="SUCCESSFUL",
                attempts=1,
            ).id
            for i in range(count)
        ]


def remaining(db) -> set[int]:
    with db.connection_context():
        return {row.id for row in Execution.select(Execution.id)}


def test_prune_executions_deletes_one_batch_of_executions_past_the_retention(db, add_job):
    job_id = add_job()
    old = add_executions(db, job_id, timedelta(days=2), 25)
    recent = add_executions(db, job_id, timedelta(hours=1), 5)

    deleted = retention.prune_executions(db, DAY, batch=10)

    assert deleted == 10
    left = remaining(db)
    assert set(recent) <= left
    assert len(left & set(old)) == 15


def test_prune_executions_deletes_the_oldest_first(db, add_job):
    job_id = add_job()
    oldest = add_executions(db, job_id, timedelta(days=9), 1)
    older = add_executions(db, job_id, timedelta(days=5), 1)
    old = add_executions(db, job_id, timedelta(days=2), 1)

    assert retention.prune_executions(db, DAY, batch=2) == 2

    assert remaining(db) == set(old)
    assert not set(oldest + older) & remaining(db)


def test_prune_executions_keeps_everything_younger_than_the_retention(db, add_job):
    job_id = add_job()
    kept = add_executions(db, job_id, timedelta(hours=23), 3)

    assert retention.prune_executions(db, DAY, batch=10) == 0
    assert remaining(db) == set(kept)


def test_prune_all_deletes_every_old_execution_batch_after_batch(db, add_job):
    job_id = add_job()
    add_executions(db, job_id, timedelta(days=2), 25)
    recent = add_executions(db, job_id, timedelta(hours=1), 5)

    deleted = retention.prune_all(db, DAY, threading.Event(), batch=10)

    assert deleted == 25
    assert remaining(db) == set(recent)


def test_prune_all_stops_at_once_when_asked_to(db, add_job):
    job_id = add_job()
    old = add_executions(db, job_id, timedelta(days=2), 5)
    stop = threading.Event()
    stop.set()

    assert retention.prune_all(db, DAY, stop, batch=10) == 0
    assert remaining(db) == set(old)

"""Overlap policies on real PostgreSQL: the finish of an execution that outlasted
its interval records the slots that came meanwhile as SKIPPED (skip), or runs the
first of them at once (buffer_one)."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app import claims
from app.claims import Finishing
from tests.integration.rows import LOCK, executions, outcome, set_row, stored

RAN = timedelta(seconds=2.5)


def run_long(db) -> Finishing:
    """Claim the job's slot and finish an execution of it that took 2.5 s."""
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    now = datetime.now(UTC)
    ended = replace(outcome(claim), start_time=now - RAN, end_time=now)
    finishing = Finishing(claim, ended, definition.basis, key)
    claims.finish_many(db, [finishing])
    return finishing


def slot_now(db, job_id) -> None:
    set_row(db, job_id, next_run=datetime.now(UTC).replace(microsecond=0) - RAN)


def test_skip_records_each_slot_that_came_while_it_ran(db, add_job):
    job_id = add_job(cron="* * * * * *")
    slot_now(db, job_id)
    finishing = run_long(db)

    ran, *skipped = executions(db, job_id)
    assert ran.status == "SUCCESSFUL"
    assert 2 <= len(skipped) <= 3
    assert {e.status for e in skipped} == {"SKIPPED"}
    assert {e.error_message for e in skipped} == {"previous execution still running"}
    assert all(e.scheduled_for.microsecond == 0 for e in skipped)
    assert all(
        finishing.outcome.start_time < e.scheduled_for <= finishing.outcome.end_time
        for e in skipped
    )
    assert len({e.delivery_id for e in [ran, *skipped]}) == len(skipped) + 1
    row = stored(db, job_id)
    assert row.next_run > finishing.outcome.end_time - timedelta(seconds=1)
    assert row.runs == 1  # skipped slots are not runs

    # A finish tried again records nothing more.
    claims.finish_many(db, [finishing])
    assert len(executions(db, job_id)) == len(skipped) + 1


def test_buffer_one_runs_the_first_slot_that_came_at_once_and_skips_the_rest(db, add_job):
    job_id = add_job(cron="* * * * * *", overlap_policy="buffer_one")
    slot_now(db, job_id)
    finishing = run_long(db)

    _, *skipped = executions(db, job_id)
    row = stored(db, job_id)
    buffered = row.next_run
    assert finishing.outcome.start_time < buffered <= finishing.outcome.end_time  # due now
    assert all(e.scheduled_for > buffered for e in skipped)
    assert 1 <= len(skipped) <= 2
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    assert (claim.scheduled_for, claim.manual) == (buffered, False)


def test_a_stale_claim_records_no_skipped_slots(db, add_job):
    job_id = add_job(cron="* * * * * *")
    slot_now(db, job_id)
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    set_row(db, job_id, lock_token=uuid.uuid4())  # claimed again by another tick
    now = datetime.now(UTC)
    ended = replace(outcome(claim), start_time=now - RAN, end_time=now)
    claims.finish_many(db, [Finishing(claim, ended, definition.basis, key)])
    assert [e.status for e in executions(db, job_id)] == ["SUCCESSFUL"]


def test_the_policy_is_validated_and_shown(client):
    body = {
        "type": "HTTP",
        "cron_schedule": "* * * * *",
        "http_job": {"url": "http://127.0.0.1:9/", "method": "GET"},
    }
    assert client.simulate_post("/v1/jobs", json=body).json["overlap_policy"] == "skip"
    shown = client.simulate_post("/v1/jobs", json={**body, "overlap_policy": "buffer_one"}).json
    assert shown["overlap_policy"] == "buffer_one"
    bad = client.simulate_post("/v1/jobs", json={**body, "overlap_policy": "queue"})
    assert bad.status_code == 400
    assert "overlap_policy must be one of skip, buffer_one" in bad.json["error"]

"""Dead letters on real PostgreSQL (issue 14): written by the finish that records a
FAILED execution, redriven through the claim path with their slot and delivery
id, listed, deleted and pruned through the API and the store; and the pause after
consecutive failures."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app import claims, retention
from app.audit import Actor
from app.claims import Claim, Finishing
from app.jobs import dead_letters
from app.jobs.models import DeadLetter
from app.timing.schedule import delivery_id
from tests.integration.rows import LOCK, executions, outcome, set_row, stored

SENT = {"method": "POST", "url": "http://127.0.0.1:9/", "headers": {"Authorization": "***"}}


def claim_one(db) -> Claim:
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    return claim


def finish(db, claim: Claim, status: str = "FAILED", **fields) -> bool:
    """Start an attempt of `claim` and finish it with `status`, as a worker does."""
    definition = claims.start_attempt(db, claim, uuid.uuid4(), LOCK)
    failure = {"error_kind": "status", "error_message": "HTTP 503; accepted: 200"}
    ended = replace(
        outcome(claim, status),
        status_code=503 if status == "FAILED" else 200,
        request=SENT if status == "FAILED" else None,
        **(failure if status == "FAILED" else {}),
        **fields,
    )
    return claims.finish_many(db, [Finishing(claim, ended, definition.basis, uuid.uuid4())])[0]


def letters(db, job_id=None) -> list[DeadLetter]:
    with db.connection_context():
        query = DeadLetter.select().order_by(DeadLetter.id)
        if job_id is not None:
            query = query.where(DeadLetter.job == job_id)
        return list(query)


def redrive(db, dead_letter_id: int, now: datetime) -> DeadLetter:
    with db.connection_context():
        return dead_letters.redrive(db, dead_letter_id, now, Actor())


def redrive_many(db, selector: dead_letters.Selector, now: datetime) -> int:
    with db.connection_context():
        return dead_letters.redrive_many(db, selector, now, Actor())


def fail_once(db, add_job, **columns) -> tuple[uuid.UUID, DeadLetter]:
    job_id = add_job(**columns)
    finish(db, claim_one(db))
    [letter] = letters(db, job_id)
    return job_id, letter


def test_a_failed_execution_is_recorded_with_a_dead_letter_of_what_was_sent(db, add_job):
    job_id = add_job()
    claim = claim_one(db)
    finish(db, claim, error_detail="ConnectionError: raw text")

    [record] = executions(db, job_id)
    [letter] = letters(db, job_id)
    assert letter.execution_id == record.id
    assert letter.delivery_id == record.delivery_id == delivery_id(job_id, claim.scheduled_for)
    assert letter.scheduled_for == claim.scheduled_for
    assert letter.failed_at == record.end_time
    assert (letter.attempts, letter.status_code, letter.error_kind) == (1, 503, "status")
    assert letter.error_message == "HTTP 503; accepted: 200"
    assert letter.error_detail == record.error_detail == "ConnectionError: raw text"
    assert letter.request == SENT
    assert (record.error_kind, record.redrive_of) == ("status", None)


def test_successful_and_skipped_executions_leave_no_dead_letter(db, add_job):
    ok = add_job()
    finish(db, claim_one(db), "SUCCESSFUL")
    skipped = add_job()
    finish(db, claim_one(db), "SKIPPED")
    assert len(executions(db, ok)) == len(executions(db, skipped)) == 1
    assert letters(db) == []


def test_a_finish_tried_again_leaves_one_dead_letter(db, add_job):
    job_id = add_job()
    claim = claim_one(db)
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    failed = Finishing(claim, outcome(claim, "FAILED"), definition.basis, key)
    claims.finish_many(db, [failed])
    claims.finish_many(db, [failed])  # its first answer was lost
    assert len(executions(db, job_id)) == len(letters(db, job_id)) == 1


def test_a_redrive_runs_the_failed_slot_again_with_its_delivery_id(db, add_job):
    job_id, letter = fail_once(db, add_job)
    now = datetime.now(UTC)

    pending = redrive(db, letter.id, now)

    assert pending.redrive_requested_at == now
    assert stored(db, job_id).run_requested_at == now
    claim = claim_one(db)
    assert (claim.scheduled_for, claim.manual, claim.redrive_of) == (
        letter.scheduled_for,
        True,
        letter.id,
    )
    assert finish(db, claim, "SUCCESSFUL")
    first, again = executions(db, job_id)
    assert again.delivery_id == first.delivery_id
    assert (again.redrive_of, again.lag_ms, again.manual) == (letter.id, None, True)
    [done] = letters(db, job_id)
    assert done.redriven_at == again.end_time
    assert (done.redrive_execution_id, done.redrive_requested_at) == (again.id, None)
    row = stored(db, job_id)
    assert (row.run_requested_at, row.lock_token, row.runs) == (None, None, 1)


def test_a_failed_redrive_leaves_a_new_dead_letter_pointing_at_the_first(db, add_job):
    job_id, letter = fail_once(db, add_job)
    redrive(db, letter.id, datetime.now(UTC))
    finish(db, claim_one(db), "FAILED")

    first, second = letters(db, job_id)
    retried = executions(db, job_id)[-1]
    assert (first.redriven_at, first.redrive_execution_id) == (None, retried.id)
    assert first.redrive_requested_at is None
    assert (second.redrive_of, second.execution_id) == (first.id, retried.id)
    assert second.delivery_id == first.delivery_id
    # Not redriven: it may be redriven again.
    assert redrive(db, first.id, datetime.now(UTC)).redrive_requested_at


def test_a_job_runs_its_pending_redrives_one_claim_at_a_time_oldest_first(db, add_job):
    job_id = add_job(cron="* * * * *", next_run=datetime.now(UTC) + timedelta(hours=1))
    slots = []
    for minutes in (3, 2, 1):
        slot = datetime.now(UTC) - timedelta(minutes=minutes)
        set_row(db, job_id, run_requested_at=slot)
        finish(db, claim_one(db))
        slots.append(slot)
    ids = [letter.id for letter in letters(db, job_id)]

    everything = dead_letters.Selector(job_id=job_id)
    assert redrive_many(db, everything, datetime.now(UTC)) == 3

    served = []
    for _ in ids:
        claim = claim_one(db)
        served.append((claim.redrive_of, claim.scheduled_for))
        finish(db, claim, "SUCCESSFUL")
    assert served == list(zip(ids, slots, strict=True))
    assert claims.claim_due(db, "tick-a", 10, LOCK).claims == []
    assert all(letter.redriven_at for letter in letters(db, job_id))
    assert stored(db, job_id).run_requested_at is None


def test_a_run_now_asked_before_a_redrive_runs_first_and_neither_is_lost(db, add_job):
    job_id, letter = fail_once(db, add_job)
    asked = datetime.now(UTC) - timedelta(seconds=5)
    set_row(db, job_id, run_requested_at=asked)  # a run now, pending
    redrive(db, letter.id, datetime.now(UTC))

    run_now = claim_one(db)
    assert (run_now.scheduled_for, run_now.redrive_of) == (asked, None)
    finish(db, run_now, "SUCCESSFUL")
    redriven = claim_one(db)
    assert (redriven.scheduled_for, redriven.redrive_of) == (letter.scheduled_for, letter.id)


def test_a_scheduled_slot_leaves_pending_redrives_requested(db, add_job):
    job_id, letter = fail_once(db, add_job, cron="* * * * *")
    redrive(db, letter.id, datetime.now(UTC))
    set_row(db, job_id, next_run=datetime.now(UTC) - timedelta(seconds=1))

    scheduled = claim_one(db)
    assert (scheduled.manual, scheduled.redrive_of) == (False, None)
    finish(db, scheduled, "SUCCESSFUL")
    assert claim_one(db).redrive_of == letter.id


def test_a_paused_job_can_be_redriven(db, add_job):
    job_id, letter = fail_once(db, add_job, cron="* * * * *")
    set_row(db, job_id, status="STOPPED")
    redrive(db, letter.id, datetime.now(UTC))
    assert claim_one(db).redrive_of == letter.id


def test_redrive_refusals(db, add_job, client):
    job_id, letter = fail_once(db, add_job)
    set_row(db, job_id, locked_until=datetime.now(UTC) + timedelta(seconds=30))
    busy = client.simulate_post(f"/v1/dead-letters/{letter.id}/redrive")
    assert busy.status_code == 409 and "executing" in busy.json["error"]

    set_row(db, job_id, locked_until=None)
    assert client.simulate_post(f"/v1/dead-letters/{letter.id}/redrive").status_code == 202
    again = client.simulate_post(f"/v1/dead-letters/{letter.id}/redrive")
    assert again.status_code == 202  # already pending: nothing changes
    run_now = client.simulate_post(f"/v1/jobs/{job_id}/run")
    assert run_now.status_code == 409 and "redrives pending" in run_now.json["error"]
    deleting = client.simulate_delete(f"/v1/dead-letters/{letter.id}")
    assert deleting.status_code == 409 and "pending" in deleting.json["error"]

    finish(db, claim_one(db), "SUCCESSFUL")
    done = client.simulate_post(f"/v1/dead-letters/{letter.id}/redrive")
    assert done.status_code == 409 and "redriven successfully" in done.json["error"]
    missing = client.simulate_post("/v1/dead-letters/999999999/redrive")
    assert missing.status_code == 404 and "not found" in missing.json["error"]


def test_the_api_lists_filters_and_pages_dead_letters_newest_first(db, add_job, client):
    first, _ = fail_once(db, add_job)
    fail_once(db, add_job)
    ids = [letter.id for letter in letters(db)]

    listed = client.simulate_get("/v1/dead-letters").json["dead_letters"]
    assert [d["id"] for d in listed] == ids[::-1]
    assert listed[0]["request"] == SENT
    assert listed[0]["error_kind"] == "status"
    assert listed[0]["redriven_at"] is None
    by_job = client.simulate_get("/v1/dead-letters", params={"job_id": str(first)})
    assert [d["job_id"] for d in by_job.json["dead_letters"]] == [str(first)]
    page = client.simulate_get("/v1/dead-letters", params={"limit": 1, "after": ids[1]})
    assert [d["id"] for d in page.json["dead_letters"]] == [ids[0]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.simulate_get("/v1/dead-letters", params={"from": future}).json == {
        "dead_letters": []
    }
    one = client.simulate_get(f"/v1/dead-letters/{ids[0]}")
    assert one.status_code == 200 and one.json["job_id"] == str(first)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"job_id": "nope"}, "job_id must be a UUID"),
        ({"from": "yesterday"}, "from"),
        ({"after": "x"}, "dead letter id"),
    ],
)
def test_bad_dead_letter_queries_are_refused_clearly(client, params, error):
    response = client.simulate_get("/v1/dead-letters", params=params)
    assert response.status_code == 400
    assert error in response.json["error"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "give ids, or at least one of job_id, from and to"),
        ({"ids": []}, "give ids"),
        ({"ids": list(range(1, 1002))}, "at most 1000"),
        ({"ids": ["1"]}, "ids must be an array"),
        ({"job_id": 5}, "job_id must be a job id"),
        ([], "JSON object"),
    ],
)
def test_bulk_selectors_need_a_criterion_and_sane_values(client, body, error):
    for method in (client.simulate_post, client.simulate_delete):
        path = "/v1/dead-letters/redrive" if method == client.simulate_post else "/v1/dead-letters"
        response = method(path, json=body)
        assert response.status_code == 400, response.text
        assert error in response.json["error"]


def test_bulk_redrive_and_delete_through_the_api(db, add_job, client):
    for _ in range(3):
        fail_once(db, add_job)
    first, second, third = [letter.id for letter in letters(db)]

    redriven = client.simulate_post("/v1/dead-letters/redrive", json={"ids": [first, second]})
    assert (redriven.status_code, redriven.json) == (202, {"redriven": 2})
    again = client.simulate_post("/v1/dead-letters/redrive", json={"ids": [first, second]})
    assert again.json == {"redriven": 0}  # pending already

    deleted = client.simulate_delete("/v1/dead-letters", json={"ids": [first, second, third]})
    assert (deleted.status_code, deleted.json) == (200, {"deleted": 1})  # not the pending two
    assert client.simulate_delete(f"/v1/dead-letters/{third}").status_code == 404
    assert {letter.id for letter in letters(db)} == {first, second}


def test_dead_letters_go_with_their_job(db, add_job, client):
    job_id, _ = fail_once(db, add_job)
    assert client.simulate_delete(f"/v1/jobs/{job_id}").status_code == 204
    assert letters(db) == []


def test_retention_prunes_old_dead_letters_but_not_one_pending_a_redrive(db, add_job):
    _, old = fail_once(db, add_job)
    _, pending = fail_once(db, add_job)
    _, recent = fail_once(db, add_job)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    with db.connection_context():
        DeadLetter.update(failed_at=long_ago).where(DeadLetter.id << [old.id, pending.id]).execute()
    redrive(db, pending.id, datetime.now(UTC))

    assert retention.prune(db, retention.DEAD_LETTERS, 14 * 86400) == 1
    assert {letter.id for letter in letters(db)} == {pending.id, recent.id}


# --- pausing after consecutive failures ---------------------------------------------


def test_a_job_pauses_after_its_consecutive_failures_and_resume_clears_them(db, add_job, client):
    job_id = add_job(cron="* * * * *", pause_after_failures=2)
    finish(db, claim_one(db))
    assert (stored(db, job_id).consecutive_failures, stored(db, job_id).status) == (1, "RUNNING")
    set_row(db, job_id, next_run=datetime.now(UTC) - timedelta(seconds=1))
    finish(db, claim_one(db))

    row = stored(db, job_id)
    assert (row.status, row.consecutive_failures) == ("STOPPED", 2)
    assert row.paused_reason == "2 consecutive failures; last: HTTP 503; accepted: 200"
    shown = client.simulate_get(f"/v1/jobs/{job_id}").json
    assert (shown["status"], shown["consecutive_failures"]) == ("STOPPED", 2)
    assert shown["paused_reason"] == row.paused_reason

    resumed = client.simulate_post(f"/v1/jobs/{job_id}/resume").json
    assert (resumed["status"], resumed["consecutive_failures"], resumed["paused_reason"]) == (
        "RUNNING",
        0,
        None,
    )


def test_a_success_resets_the_count_of_failures(db, add_job):
    job_id = add_job(cron="* * * * *", pause_after_failures=2)
    for status in ("FAILED", "SUCCESSFUL", "FAILED"):
        set_row(db, job_id, next_run=datetime.now(UTC) - timedelta(seconds=1))
        finish(db, claim_one(db), status)
    row = stored(db, job_id)
    assert (row.status, row.consecutive_failures) == ("RUNNING", 1)


def test_a_job_without_the_option_never_pauses(db, add_job):
    job_id = add_job(cron="* * * * *")
    for _ in range(3):
        set_row(db, job_id, next_run=datetime.now(UTC) - timedelta(seconds=1))
        finish(db, claim_one(db))
    row = stored(db, job_id)
    assert (row.status, row.consecutive_failures, row.paused_reason) == ("RUNNING", 3, None)


def test_pause_after_failures_is_validated_and_shown(client):
    body = {
        "type": "HTTP",
        "cron_schedule": "* * * * *",
        "http_job": {"url": "http://127.0.0.1:9/", "method": "GET"},
    }
    for bad in (0, 101, "3", True):
        response = client.simulate_post("/v1/jobs", json={**body, "pause_after_failures": bad})
        assert response.status_code == 400
        assert "pause_after_failures must be an integer from 1 to 100" in response.json["error"]
    created = client.simulate_post("/v1/jobs", json={**body, "pause_after_failures": 5}).json
    assert (created["pause_after_failures"], created["consecutive_failures"]) == (5, 0)
    updated = client.simulate_put(f"/v1/jobs/{created['id']}", json={"pause_after_failures": None})
    assert updated.json["pause_after_failures"] is None

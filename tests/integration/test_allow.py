"""The overlap policy 'allow' on real PostgreSQL: an execution leaves the job's
claim as its attempt starts, so the next slot is claimed while it runs, up to
max_concurrent at once; each run is fenced, renewed, held, finished, given back
and rescued by its own token."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app import claims, flow_controls
from app.audit import Actor
from app.claims import Claim, Finishing
from app.claims.tick import TickSettings, tick_once
from app.flow_controls import Limits
from app.jobs.models import Job
from tests.integration.rows import LOCK, executions, outcome, set_row, stored

EVERY_SECOND = "* * * * * *"


def runs_of(db, job_id) -> list[tuple]:
    with db.connection_context():
        return db.execute_sql(
            "SELECT token, scheduled_for, attempt_key, locked_until FROM runs WHERE job_id = %s",
            (str(job_id),),
        ).fetchall()


def due_now(db, job_id) -> None:
    set_row(db, job_id, next_run=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1))


def started(db, owner: str = "tick-a"):
    """Claim the job that is due and start its attempt: (claim, key, definition)."""
    [claim] = claims.claim_due(db, owner, 10, LOCK).claims
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    return claim, key, definition


def detached(db) -> tuple[Claim, uuid.UUID, object]:
    claim, key, definition = started(db)
    run = claims.detach(db, claim, key, definition, LOCK)
    assert isinstance(run, Claim), run
    return run, key, definition


def test_an_execution_leaves_the_job_which_is_claimed_again_at_its_next_slot(db, add_job):
    job_id = add_job(cron=EVERY_SECOND, overlap_policy="allow", max_concurrent=2)
    due_now(db, job_id)
    claim, key, definition = started(db)
    assert definition.basis.schedule.overlap == "allow" and definition.max_concurrent == 2
    run = claims.detach(db, claim, key, definition, LOCK)
    assert run.detached and run.token != claim.token
    assert (run.job_id, run.scheduled_for, run.manual) == (job_id, claim.scheduled_for, False)
    row = stored(db, job_id)
    assert row.lock_token is None and row.next_run > claim.scheduled_for and row.runs == 1
    [(token, slot, attempt_key, _)] = runs_of(db, job_id)
    assert (token, slot, attempt_key) == (run.token, claim.scheduled_for, key)

    due_now(db, job_id)  # the next slot comes while the first still runs
    second, _, _ = detached(db)
    assert second.token != run.token and len(runs_of(db, job_id)) == 2

    due_now(db, job_id)  # a third, beyond max_concurrent
    claim, key, definition = started(db)
    assert claims.detach(db, claim, key, definition, LOCK) == 2  # not detached: skip it
    assert stored(db, job_id).lock_token == claim.token  # still the job's claim


def test_a_run_finishes_under_its_own_token(db, add_job):
    job_id = add_job(cron=EVERY_SECOND, overlap_policy="allow")
    due_now(db, job_id)
    run, key, definition = detached(db)
    forged = replace(run, token=uuid.uuid4())
    stale = Finishing(forged, outcome(forged), definition.basis, uuid.uuid4())
    assert claims.finish_many(db, [stale]) == [False]  # recorded, but ends no run
    assert len(runs_of(db, job_id)) == 1

    finishing = Finishing(run, outcome(run), definition.basis, key, job_version=1)
    assert claims.finish_many(db, [finishing]) == [True]
    assert runs_of(db, job_id) == []
    records = executions(db, job_id)
    assert len(records) == 2 and records[-1].scheduled_for == run.scheduled_for
    assert records[-1].job_version == 1
    assert claims.finish_many(db, [finishing]) == [False]  # once
    assert len(executions(db, job_id)) == 2


def test_failed_runs_count_and_pause_the_job(db, add_job):
    job_id = add_job(cron=EVERY_SECOND, overlap_policy="allow", pause_after_failures=2)
    for _ in range(2):
        due_now(db, job_id)
        run, key, definition = detached(db)
        failed = outcome(run, status="FAILED")
        claims.finish_many(db, [Finishing(run, failed, definition.basis, key)])
    row = stored(db, job_id)
    assert (row.status, row.consecutive_failures) == ("STOPPED", 2)
    assert row.paused_reason.startswith("2 consecutive failures")


def test_runs_ending_in_one_batch_count_their_failures_in_the_order_they_ended(db, add_job):
    told = {"url": "http://127.0.0.1:9/told"}
    job_id = add_job(
        cron=EVERY_SECOND, overlap_policy="allow", pause_after_failures=3, on_failure=told
    )
    start = datetime.now(UTC)

    def ending(statuses: str) -> list[Finishing]:
        """A run of the job for each status (F or S), ending a second apart."""
        batch = []
        for second, status in enumerate(statuses):
            due_now(db, job_id)
            run, key, definition = detached(db)
            ended = replace(
                outcome(run, "FAILED" if status == "F" else "SUCCESSFUL"),
                end_time=start + timedelta(seconds=second + 1),
                error_message=f"HTTP 503 at {second}" if status == "F" else None,
            )
            batch.append(Finishing(run, ended, definition.basis, key))
        return batch

    # The success between two failures ends the streak of the first: one in a row.
    assert claims.finish_many(db, ending("FSF")) == [True] * 3
    assert (stored(db, job_id).consecutive_failures, stored(db, job_id).status) == (1, "RUNNING")

    # Two more failures in one batch: three in a row, and the job pauses, saying so once.
    batch = ending("FF")
    claims.finish_many(db, list(reversed(batch)))  # the order they ended counts, not the batch's
    row = stored(db, job_id)
    assert (row.consecutive_failures, row.status) == (3, "STOPPED")
    assert row.paused_reason == "3 consecutive failures; last: HTTP 503 at 1"
    with db.connection_context():
        [(execution_id,)] = db.execute_sql(
            "SELECT execution_id FROM callbacks WHERE job_id = %s AND event = 'job.paused'",
            (str(job_id),),
        ).fetchall()
    [last] = [e for e in executions(db, job_id) if e.attempt_key == batch[-1].attempt_key]
    assert execution_id == last.id


def test_a_run_is_renewed_held_started_and_given_back_by_its_token(db, add_job):
    job_id = add_job(cron=EVERY_SECOND, overlap_policy="allow")
    due_now(db, job_id)
    run, key, _ = detached(db)
    assert claims.renew(db, [run], LOCK) == {job_id}
    assert claims.hold_for_retry(db, run, key, 30)
    assert not claims.hold_for_retry(db, run, key, 30)  # the attempt let go already
    retry_key, other_key = uuid.uuid4(), uuid.uuid4()
    [definition] = claims.start_attempts(db, [(run, retry_key)], LOCK)
    assert definition is not None and definition.type == "HTTP"
    assert claims.start_attempts(db, [(run, other_key)], LOCK) == [None]  # one at a time

    claims.release(db, [run])  # a worker stopping: expired at once
    assert claims.claim_due(db, "tick-b", 10, LOCK).runs_expired
    [rescued] = claims.claim_expired_runs(db, "tick-b", 10, LOCK).claims
    assert rescued.detached and rescued.token != run.token
    assert (rescued.job_id, rescued.scheduled_for) == (job_id, run.scheduled_for)
    assert claims.renew(db, [run], LOCK) == set()  # the old token is stale
    assert claims.renew(db, [rescued], LOCK) == {job_id}


def test_the_tick_claims_an_expired_run_again(db, add_job):
    job_id = add_job(cron="0 0 1 1 *", overlap_policy="allow")
    due_now(db, job_id)
    run, _, _ = detached(db)
    with db.connection_context():
        db.execute_sql("UPDATE runs SET locked_until = now() - interval '1 second'")
    sent = []
    tick_once(db, sent.extend, TickSettings("tick-a", 1.0, 10, LOCK, 0.0))
    [again] = sent
    assert again.detached and again.job_id == job_id and again.scheduled_for == run.scheduled_for


def test_run_now_and_redrive_run_beside_a_running_execution(client, db, add_job):
    allowed = add_job(cron=EVERY_SECOND, overlap_policy="allow")
    alone = add_job(cron=EVERY_SECOND)
    held = datetime.now(UTC) + timedelta(minutes=1)
    for job_id in (allowed, alone):
        set_row(db, job_id, locked_until=held, lock_token=uuid.uuid4())
    assert client.simulate_post(f"/v1/jobs/{allowed}/run").status_code == 202
    assert client.simulate_post(f"/v1/jobs/{alone}/run").status_code == 409


def test_a_run_counts_in_its_flow_keys_parallelism(db, add_job):
    with db.connection_context():
        flow_controls.set_limits(db, "one", Limits(parallelism=1), datetime.now(UTC), Actor())
    job_id = add_job(cron=EVERY_SECOND, overlap_policy="allow", flow_key="one")
    due_now(db, job_id)
    [claim] = claims.claim_flows(db, "tick-a", 10, LOCK).claims
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    assert isinstance(claims.detach(db, claim, key, definition, LOCK), Claim)
    due_now(db, job_id)  # free to claim, but the key's one place is the run's
    assert claims.claim_flows(db, "tick-a", 10, LOCK).claims == []
    with db.connection_context():
        assert flow_controls.get(db, "one").in_flight == 1


def test_deleting_the_job_ends_its_runs(db, add_job):
    job_id = add_job(cron=EVERY_SECOND, overlap_policy="allow")
    due_now(db, job_id)
    detached(db)
    with db.connection_context():
        Job.delete_by_id(job_id)
    assert runs_of(db, job_id) == []

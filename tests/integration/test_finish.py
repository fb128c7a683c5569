"""Finishing on real PostgreSQL: the one-statement path, its fallback, batches,
the wake-up it sends, and the group commit of a worker process's threads."""

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import peewee
import psycopg2
import pytest

from app import claims, flow_controls
from app.claims import Claim, Finishing, protocol
from app.claims.batching import Batcher
from app.db.database import connect_params, open_database
from app.db.wakeup import LISTEN
from app.jobs.models import Job
from tests.integration.rows import LOCK, executions, outcome, stored


def started(db, claim: Claim) -> Finishing:
    """The claim's finish as a worker makes it: with the basis read as its attempt started."""
    definition = claims.start_attempt(db, claim, uuid.uuid4(), LOCK)
    return Finishing(claim, outcome(claim), definition.basis)


@pytest.fixture
def fallbacks(monkeypatch):
    """The finishes that needed the second, row-locking transaction."""
    taken = []
    fallback = protocol._advance_as_it_is

    def counted(db, finishing, wake_within):
        taken.append(finishing.claim.job_id)
        return fallback(db, finishing, wake_within)

    monkeypatch.setattr(protocol, "_advance_as_it_is", counted)
    return taken


def test_a_started_finish_advances_a_recurring_job_in_one_statement(db, add_job, fallbacks):
    job_id = add_job(cron="* * * * *")
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    finishing = started(db, claim)
    assert claims.finish_many(db, [finishing]) == [True]
    assert fallbacks == []
    row = stored(db, job_id)
    assert row.runs == 1 and row.lock_token is None
    assert datetime.now(UTC) < row.next_run <= datetime.now(UTC) + timedelta(minutes=1)
    assert [e.status for e in executions(db, job_id)] == ["SUCCESSFUL"]


def test_a_schedule_changed_during_the_run_is_what_the_finish_follows(db, add_job, fallbacks):
    job_id = add_job(cron="* * * * *")
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    finishing = started(db, claim)
    with db.connection_context():
        Job.update(cron_schedule="0 0 1 1 *").where(Job.id == job_id).execute()
    assert claims.finish_many(db, [finishing]) == [True]
    next_run = stored(db, job_id).next_run
    assert (next_run.month, next_run.day, next_run.hour, next_run.minute) == (1, 1, 0, 0)
    assert len(executions(db, job_id)) == 1  # recorded once, not again by the fallback
    assert fallbacks == [job_id]


def test_a_batch_fences_each_finish_by_its_own_token(db, add_job):
    held, stolen, deleted = add_job(), add_job(), add_job()
    by_job = {c.job_id: c for c in claims.claim_due(db, "tick-a", 10, LOCK).claims}
    batch = [started(db, by_job[job_id]) for job_id in (held, stolen, deleted)]
    with db.connection_context():
        Job.update(lock_token=uuid.uuid4()).where(Job.id == stolen).execute()
        Job.delete_by_id(deleted)
    assert claims.finish_many(db, batch) == [True, False, False]
    assert stored(db, held).lock_token is None
    assert stored(db, stolen).lock_token is not None  # the other holder keeps it
    # The stale claim's delivery happened, so it is recorded; the deleted job's is not.
    assert [len(executions(db, j)) for j in (held, stolen, deleted)] == [1, 1, 0]


def _listening(db_config):
    connection = psycopg2.connect(dbname=db_config.db_name, **connect_params(db_config))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(LISTEN)
    return connection


def _notified(connection) -> bool:
    time.sleep(0.2)
    connection.poll()
    got = bool(connection.notifies)
    connection.notifies.clear()
    return got


@pytest.mark.parametrize(("cron", "wakes"), [("* * * * * *", True), ("0 0 1 1 *", False)])
def test_a_finish_wakes_the_ticks_when_the_next_slot_comes_before_their_next_look(
    db, db_config, add_job, cron, wakes
):
    add_job(cron=cron)
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    finishing = started(db, claim)
    listener = _listening(db_config)
    try:
        assert claims.finish_many(db, [finishing], wake_within=10) == [True]
        assert _notified(listener) is wakes
    finally:
        listener.close()


def test_a_finish_of_a_job_with_a_flow_key_wakes_the_ticks(db, db_config, add_job):
    """Its key may have jobs waiting for the claim it lets go."""
    with db.connection_context():
        flow_controls.name_key(db, "key")
    add_job(cron="0 0 1 1 *", flow_key="key")
    [claim] = claims.claim_flows(db, "tick-a", 10, LOCK).claims
    finishing = started(db, claim)
    listener = _listening(db_config)
    try:
        assert claims.finish_many(db, [finishing], wake_within=10) == [True]
        assert _notified(listener)
    finally:
        listener.close()


def test_starts_and_finishes_of_many_threads_through_batchers_keep_each_token_fence(db, add_job):
    ids = {add_job() for _ in range(40)}
    got = claims.claim_due(db, "tick-a", 100, LOCK).claims
    forged = Claim(got[0].job_id, uuid.uuid4(), got[0].scheduled_for)
    start = Batcher(lambda held: claims.start_attempts(db, held, LOCK), "starts")
    finish = Batcher(lambda batch: claims.finish_many(db, batch), "finishes")
    results = {}

    def run(claim):
        definition = start((claim, uuid.uuid4()))
        results[claim] = (definition is not None, finish(Finishing(claim, outcome(claim))))

    threads = [threading.Thread(target=run, args=(c,)) for c in [*got, forged]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[forged] == (False, False)
    assert all(results[c] == (True, True) for c in got)
    assert sum(len(executions(db, job_id)) for job_id in ids) == 41
    with db.connection_context():
        assert Job.select().where(Job.lock_token.is_null(False)).count() == 0


def test_a_batcher_hands_a_database_error_to_the_waiting_thread(db_config):
    broken = open_database(type(db_config)(**{**db_config.__dict__, "db_host": ("127.0.0.1", 1)}))
    claim = Claim(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
    finish = Batcher(lambda batch: claims.finish_many(broken, batch), "finishes")
    with pytest.raises(peewee.OperationalError):
        finish(Finishing(claim, outcome(claim)))


def test_claims_given_back_wake_the_ticks(db, db_config, add_job):
    add_job()
    claimed = claims.claim_due(db, "tick-a", 10, LOCK).claims
    listener = _listening(db_config)
    try:
        claims.release(db, claimed)
        assert _notified(listener) is True
        claims.release(db, claimed)  # already given back: nothing to wake for
        assert _notified(listener) is False
    finally:
        listener.close()


def test_a_response_with_nul_bytes_is_recorded_with_them_replaced(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    binary = replace(outcome(claim), response_excerpt="PK\x00\x03", error_message="a\x00b")
    assert claims.finish(db, claim, binary) is True
    [record] = executions(db, job_id)
    assert (record.response_excerpt, record.error_message) == ("PK\ufffd\x03", "a\ufffdb")


def test_a_second_attempt_of_a_claim_does_not_start_while_the_first_holds_it(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    first, copy = uuid.uuid4(), uuid.uuid4()
    [running] = claims.start_attempts(db, [(claim, first)], LOCK)
    assert running is not None
    # The same message handed out again (its consumer's connection dropped).
    assert claims.start_attempts(db, [(claim, copy)], LOCK) == [None]
    assert claims.start_attempts(db, [(claim, first)], LOCK)[0] is not None  # the first goes on
    assert claims.renew(db, [claim], LOCK) == {job_id}  # renewals need no key


def test_a_retry_starts_once_the_failed_attempt_let_go_of_the_claim(db, add_job):
    add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    failed, retry = uuid.uuid4(), uuid.uuid4()
    claims.start_attempts(db, [(claim, failed)], LOCK)
    assert claims.hold_for_retry(db, claim, retry, 30) is False  # not its attempt
    assert claims.hold_for_retry(db, claim, failed, 30) is True
    assert claims.start_attempts(db, [(claim, retry)], LOCK)[0] is not None


def test_a_finish_tried_again_after_it_committed_records_the_execution_once(db, add_job):
    job_id = add_job()
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    key = uuid.uuid4()
    basis = claims.start_attempts(db, [(claim, key)], LOCK)[0].basis
    finishing = Finishing(claim, outcome(claim), basis, key)
    assert claims.finish_many(db, [finishing]) == [True]
    # Its answer was lost with the connection; the worker tries again.
    assert claims.finish_many(db, [finishing]) == [False]
    assert len(executions(db, job_id)) == 1

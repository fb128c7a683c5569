"""The worker's heart on real PostgreSQL: the run actor (actors/run.py) and the claim
keeper (app/claims/keeper.py), driven through Dramatiq's StubBroker by a real
dramatiq.Worker (Dramatiq's own stub_worker pattern), calling a real local target.

These catch a broken hot path in seconds, before the end-to-end tests would."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest

from actors.broker import in_process_broker
from actors.messages import QUEUE, sender
from actors.run import Runner, declare
from app import claims
from app.claims import Claim
from testkit.polling import wait_for
from tests.integration.rows import executions, stored

LOCK = 60.0  # seconds; the keeper's tests shorten it


class Worker:
    """A Runner behind a StubBroker and a real dramatiq.Worker, as a worker process
    has them, fed by the tick's own sender."""

    def __init__(self, db, lock_seconds: float = LOCK, threads: int = 4):
        self.db = db
        self.broker = in_process_broker()
        self.runner = Runner(db, lock_seconds, default_timeout=5.0)
        declare(self.broker, self.runner)
        self.worker = dramatiq.Worker(self.broker, worker_timeout=50, worker_threads=threads)
        self.send = sender(self.broker)

    def __enter__(self):
        self.worker.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self, timeout_ms: int = 10_000) -> None:
        self.worker.stop(timeout=timeout_ms)
        self.runner.keeper.stop()
        self.broker.close()

    def claim_and_send(self, owner: str = "tick-t") -> list[Claim]:
        claimed = claims.claim_due(self.db, owner, 100, self.runner.lock_seconds).claims
        self.send(claimed)
        return claimed

    def join(self) -> None:
        self.broker.join(QUEUE, fail_fast=True, timeout=30_000)
        self.worker.join()


def test_a_claimed_slot_is_delivered_once_recorded_and_the_job_moved_on(db, add_job, target):
    path = f"/ok/{uuid.uuid4()}"
    job_id = add_job(url=target.url + path)
    with Worker(db) as worker:
        [claim] = worker.claim_and_send()
        worker.join()

    [hit] = target.received(path)
    assert hit.headers["X-Scheduler-Job-Id"] == str(job_id)
    assert hit.headers["X-Scheduler-Attempt"] == "1"
    [record] = executions(db, job_id)
    assert (record.status, record.attempts, record.status_code) == ("SUCCESSFUL", 1, 200)
    assert str(record.delivery_id) == hit.headers["X-Scheduler-Delivery-Id"]
    assert record.scheduled_for == claim.scheduled_for
    row = stored(db, job_id)
    assert (row.next_run, row.lock_token, row.locked_until, row.attempt_key) == (None,) * 4


@pytest.mark.parametrize(
    ("failures", "attempts", "status", "code"), [(5, 3, "FAILED", 500), (1, 2, "SUCCESSFUL", 200)]
)
def test_a_failed_attempt_is_retried_under_the_same_claim_until_it_succeeds_or_may_not(
    db, add_job, target, failures, attempts, status, code
):
    path = f"/fail/{failures}/{uuid.uuid4().hex}"
    policy = {"max_attempts": 3, "min_backoff": 0.05, "max_backoff": 0.1}
    job_id = add_job(url=target.url + path, retry_policy=policy)
    with Worker(db) as worker:
        worker.claim_and_send()
        worker.join()

    hits = target.received(path)
    assert [hit.attempt for hit in hits] == [str(n) for n in range(1, attempts + 1)]
    assert len({hit.delivery_id for hit in hits}) == 1
    [record] = executions(db, job_id)
    assert (record.status, record.attempts, record.status_code) == (status, attempts, code)
    assert stored(db, job_id).lock_token is None


def test_a_message_whose_claim_went_stale_is_dropped_without_a_call(db, add_job, target):
    path = f"/ok/{uuid.uuid4()}"
    job_id = add_job(url=target.url + path)
    with Worker(db) as worker:
        [claim] = claims.claim_due(db, "tick-t", 10, LOCK).claims
        claims.release(db, [claim])
        [fresh] = claims.claim_due(db, "tick-u", 10, LOCK).claims
        worker.send([claim])  # the old token only
        worker.join()

    assert target.received(path) == []
    assert executions(db, job_id) == []
    assert stored(db, job_id).lock_token == fresh.token  # the new holder is untouched


def test_a_copy_of_a_running_message_does_not_start_a_second_attempt(db, add_job, target):
    path = f"/sleep/0.5/{uuid.uuid4()}"
    job_id = add_job(url=target.url + path)
    with Worker(db) as worker:
        [claim] = worker.claim_and_send()
        time.sleep(0.1)  # the first attempt is at the target
        worker.send([claim])  # RabbitMQ handing the same message out again
        worker.join()

    assert len(target.received(path)) == 1
    assert len(executions(db, job_id)) == 1


def test_a_slot_later_than_its_misfire_grace_is_skipped_without_a_call(db, add_job, target):
    path = f"/ok/{uuid.uuid4()}"
    late = datetime.now(UTC) - timedelta(minutes=5)
    job_id = add_job(url=target.url + path, misfire_grace=60.0, execute_at=late, next_run=late)
    with Worker(db) as worker:
        worker.claim_and_send()
        worker.join()

    assert target.received(path) == []
    [record] = executions(db, job_id)
    assert (record.status, record.attempts) == ("SKIPPED", 0)
    assert record.error_message.startswith("skipped: started")


def test_the_keeper_renews_a_running_attempts_claim_past_its_lock_time(db, add_job, target):
    lock = 0.6  # the keeper renews every 0.2 s
    path = f"/sleep/1.5/{uuid.uuid4()}"
    job_id = add_job(url=target.url + path)
    with Worker(db, lock_seconds=lock) as worker:
        assert len(worker.claim_and_send()) == 1
        time.sleep(1.0)  # well past the lock time of the claim
        assert stored(db, job_id).locked_until > datetime.now(UTC)
        assert claims.claim_due(db, "tick-other", 10, lock).claims == []
        worker.join()

    assert len(target.received(path)) == 1
    [record] = executions(db, job_id)
    assert record.status == "SUCCESSFUL"
    assert stored(db, job_id).lock_token is None


def test_a_worker_stopping_gives_back_the_claims_of_attempts_it_cut_off(db, add_job, target):
    path = f"/sleep/1.5/{uuid.uuid4()}"
    job_id = add_job(url=target.url + path)
    worker = Worker(db)
    worker.worker.start()
    [claim] = worker.claim_and_send()
    deadline = time.monotonic() + 5
    while not target.received(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert target.received(path), "the attempt never reached the target"
    stopping = threading.Thread(target=worker.stop, kwargs={"timeout_ms": 200})
    stopping.start()
    stopping.join(timeout=10)

    row = stored(db, job_id)
    assert (row.lock_token, row.locked_until, row.attempt_key) == (None, None, None)
    assert row.next_run == claim.scheduled_for  # due again at once, for the same slot
    # The cut-off attempt's thread lives on here (a process would exit): its delivery
    # is still recorded, and the job, no longer its claim's, is left as it is.
    recorded = wait_for(lambda: executions(db, job_id), timeout=10)
    assert [r.status for r in recorded] == ["SUCCESSFUL"]
    assert stored(db, job_id).next_run == claim.scheduled_for

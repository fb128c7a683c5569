"""The worker's heart on real PostgreSQL: the run actor (actors/run.py) and the claim
keeper (app/claims/keeper.py), driven through Dramatiq's StubBroker by a real
dramatiq.Worker (Dramatiq's own stub_worker pattern), calling a real local target.

These catch a broken hot path in seconds, before the end-to-end tests would."""

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from actors.broker import in_process_broker
from actors.messages import QUEUE, run_messages, sender
from actors.run import Runner, declare
from app import claims
from app.claims import Claim
from app.claims.keeper import ClaimKeeper
from app.claims.tick import CLAIM_AHEAD
from app.outage import Outage
from testkit.polling import wait_for
from tests.integration.rows import executions, stored

LOCK = 60.0  # seconds; the keeper's tests shorten it


class Worker:
    """A Runner behind a StubBroker and a real dramatiq.Worker, as a worker process
    has them, fed by the tick's own sender."""

    def __init__(
        self, db, lock_seconds: float = LOCK, threads: int = 4, broker=None, shutdown: float = 10.0
    ):
        self.db = db
        self.broker = broker or in_process_broker()
        self.runner = Runner(db, self.broker, lock_seconds, default_timeout=5.0, threads=threads)
        self.shutdown = shutdown  # seconds a stop lets running attempts finish
        declare(self.runner, shutdown)
        self.worker = dramatiq.Worker(self.broker, worker_timeout=50, worker_threads=threads)
        self.send = sender(self.broker)

    def __enter__(self):
        self.worker.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self.worker.stop(timeout=int(self.shutdown * 1000))
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


def test_the_claims_of_one_message_run_side_by_side_and_each_is_recorded(db, add_job, target):
    paths = [f"/sleep/0.5/{uuid.uuid4()}" for _ in range(6)]
    job_ids = [add_job(url=target.url + path) for path in paths]
    with Worker(db, threads=8) as worker:
        claimed = claims.claim_due(db, "tick-t", 100, LOCK).claims
        [message] = run_messages(claimed)  # one thread of the worker takes it
        worker.broker.enqueue(message)
        worker.join()

    hits = [hit for path in paths for hit in target.received(path)]
    assert len(hits) == 6
    assert max(hit.at for hit in hits) < min(hit.answered for hit in hits)
    for job_id in job_ids:
        [record] = executions(db, job_id)
        assert record.status == "SUCCESSFUL"
        assert stored(db, job_id).lock_token is None


def test_a_slot_claimed_ahead_is_fired_at_its_time_not_before(db, add_job, target):
    path = f"/ok/{uuid.uuid4()}"
    with Worker(db) as worker:
        slot = datetime.now(UTC) + timedelta(seconds=CLAIM_AHEAD * 0.8)
        job_id = add_job(url=target.url + path, next_run=slot)
        [claim] = claims.claim_due(db, "tick-t", 10, LOCK, ahead=CLAIM_AHEAD).claims
        worker.send([claim])
        worker.join()

    [hit] = target.received(path)
    assert hit.at >= slot.timestamp()
    [record] = executions(db, job_id)
    assert record.start_time >= slot


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


class RefusingRetries(StubBroker):
    """Takes run messages, refuses delayed ones (retries), as a broker gone meanwhile."""

    def enqueue(self, message, *, delay=None):
        if delay is not None:
            raise ConnectionError("broker gone")
        return super().enqueue(message)


def test_a_retry_that_cannot_be_sent_leaves_the_claim_to_lapse_and_run_again(
    db, add_job, target, caplog
):
    path = f"/fail/1/{uuid.uuid4().hex}"
    policy = {"max_attempts": 3, "min_backoff": 0.05, "max_backoff": 0.1}
    job_id = add_job(url=target.url + path, retry_policy=policy)
    with Worker(db, broker=RefusingRetries()) as worker:
        [claim] = worker.claim_and_send()
        worker.join()

    assert len(target.received(path)) == 1
    assert executions(db, job_id) == []  # nothing recorded: the slot is not over
    row = stored(db, job_id)
    assert (row.lock_token, row.attempt_key) == (claim.token, None)
    # Held through the backoff and a lock time, then claimed again for the same slot.
    assert datetime.now(UTC) + timedelta(seconds=LOCK - 5) < row.locked_until
    assert row.next_run == claim.scheduled_for
    assert "could not send the retry" in caplog.text


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
    worker = Worker(db, shutdown=0.2)
    worker.worker.start()
    [claim] = worker.claim_and_send()
    deadline = time.monotonic() + 5
    while not target.received(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert target.received(path), "the attempt never reached the target"
    stopping = threading.Thread(target=worker.stop)
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


def test_a_stopping_worker_waits_its_shutdown_timeout_for_attempts_before_giving_back(db, add_job):
    """Whatever Dramatiq's own join waited, the keeper waits for running attempts
    (here: one that ends after 0.3 s, one that does not end) up to the patience."""
    ending, running = add_job(), add_job()
    held = claims.claim_due(db, "tick-t", 10, LOCK).claims
    keeper = ClaimKeeper(db, LOCK, Outage(logging.getLogger("test")))
    keys = {claim.job_id: uuid.uuid4() for claim in held}
    keeper.hold({keys[claim.job_id]: claim for claim in held})
    threading.Timer(0.3, keeper.let_go, args=(keys[ending],)).start()

    began = time.monotonic()
    keeper.abandon(patience=1.0)
    waited = time.monotonic() - began
    keeper.stop()

    assert 0.9 < waited < 5  # the whole patience: one attempt never ended
    assert stored(db, running).lock_token is None  # given back, due again
    assert stored(db, ending).lock_token is not None  # its attempt ended in time: not touched


def test_a_stopping_worker_gives_back_nothing_once_its_attempts_have_ended(db, add_job):
    add_job()
    [claim] = claims.claim_due(db, "tick-t", 10, LOCK).claims
    keeper = ClaimKeeper(db, LOCK, Outage(logging.getLogger("test")))
    key = uuid.uuid4()
    keeper.hold({key: claim})
    threading.Timer(0.2, keeper.let_go, args=(key,)).start()

    began = time.monotonic()
    keeper.abandon(patience=30.0)
    keeper.stop()

    assert time.monotonic() - began < 5  # back as soon as the attempt ended
    assert stored(db, claim.job_id).lock_token == claim.token

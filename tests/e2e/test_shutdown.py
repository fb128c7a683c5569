"""SIGTERM to a worker: running attempts finish and are recorded; those still
running at the shutdown timeout give their claims back, so another worker runs
them at once rather than after the lock time."""

import signal
import time

import pytest

from testkit.e2e import running_stack, stack_environ
from testkit.jobs import one_off, soon
from testkit.polling import wait_for
from testkit.services import database_copy, run_sql

pytestmark = pytest.mark.e2e


@pytest.fixture
def environ(template_database, rabbit_vhost):
    with database_copy(template_database) as name:
        # A long lock: only a given-back claim, not an expired one, can run again soon.
        yield stack_environ(
            name,
            rabbit_vhost,
            SCHEDULER_SCHEDULER_MAX_JOB_LOCK_TIME="2m",
            SCHEDULER_JOB_TIMEOUT="20s",
            SCHEDULER_WORKER_PROCESSES="1",
        )


def schedule_sleeper(stack, target, seconds: float, key: str) -> str:
    job = stack.post_job(one_off(f"{target.url}/sleep/{seconds}/{key}", execute_at=soon(0.3)))
    assert wait_for(lambda: target.received(f"/sleep/{seconds}/{key}"), timeout=20)
    return job["id"]


def stop_worker(stack) -> int:
    worker = stack.processes["worker"]
    worker.send_signal(signal.SIGTERM)
    return worker.wait(timeout=60)


def test_a_stopping_worker_lets_its_running_attempt_finish_and_records_it(
    environ, target, tmp_path
):
    with running_stack(environ, tmp_path, ticks=("tick-a",)) as stack:
        job_id = schedule_sleeper(stack, target, 2, "finishes")
        assert stop_worker(stack) == 0
        [execution] = stack.executions(job_id)
        assert execution["status"] == "SUCCESSFUL"
        assert len(target.received("/sleep/2/finishes")) == 1


def test_an_attempt_cut_off_by_the_shutdown_timeout_runs_again_at_once_elsewhere(
    environ, target, tmp_path
):
    environ = {**environ, "SCHEDULER_WORKER_SHUTDOWN_TIMEOUT": "1s"}
    with running_stack(environ, tmp_path, ticks=("tick-a",)) as stack:
        job_id = schedule_sleeper(stack, target, 6, "cut-off")
        [(token,)] = run_sql(stack.environ, "SELECT lock_token FROM jobs WHERE id = %s", job_id)
        stopped = time.monotonic()
        stop_worker(stack)
        # Given back: released, or already claimed again under a new token.
        [(after,)] = run_sql(stack.environ, "SELECT lock_token FROM jobs WHERE id = %s", job_id)
        assert after != token
        stack.start("worker", "worker")  # a fresh worker, as a restarted container
        assert wait_for(lambda: stack.executions(job_id), timeout=40)
        # Well before the two-minute lock would have expired.
        assert time.monotonic() - stopped < 30
        hits = target.received("/sleep/6/cut-off")
        assert len(hits) == 2
        delivery_ids = {hit.headers["X-Scheduler-Delivery-Id"] for hit in hits}
        assert len(delivery_ids) == 1  # the same slot: a receiver can de-duplicate

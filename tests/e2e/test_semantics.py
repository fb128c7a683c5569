"""Scheduling semantics through the API against real processes: pause and resume,
run now, per-job retry policy, Retry-After, and missed slots after downtime."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from testkit.jobs import later, one_off, recurring
from testkit.polling import wait_for
from testkit.services import run_sql

pytestmark = pytest.mark.e2e


def post(stack, path: str, expected: int = 200) -> dict:
    response = requests.post(f"{stack.api}{path}", timeout=10)
    assert response.status_code == expected, response.text
    return response.json()


def get_job(stack, job_id: str) -> dict:
    return requests.get(f"{stack.api}/v1/jobs/{job_id}", timeout=10).json()


def test_a_paused_job_does_not_run_and_a_resumed_one_runs_again(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(recurring(f"{target.url}/pause/{key}", "* * * * * *"))
    try:
        assert wait_for(lambda: len(target.received(f"/pause/{key}")) >= 2, timeout=15)
        paused = post(stack, f"/v1/jobs/{job['id']}/pause")
        assert paused["status"] == "STOPPED" and paused["next_runs"] == []
        time.sleep(1.5)  # a run already claimed may still finish
        count = len(target.received(f"/pause/{key}"))
        time.sleep(3)
        assert len(target.received(f"/pause/{key}")) == count
        resumed = post(stack, f"/v1/jobs/{job['id']}/resume")
        assert resumed["status"] == "RUNNING"
        assert datetime.fromisoformat(resumed["next_run"]) > datetime.now(UTC) - timedelta(
            seconds=1
        )
        assert wait_for(lambda: len(target.received(f"/pause/{key}")) >= count + 2, timeout=15)
    finally:
        requests.delete(f"{stack.api}/v1/jobs/{job['id']}", timeout=5)


def test_run_now_executes_once_without_changing_the_schedule(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(one_off(f"{target.url}/run-now/{key}", "POST", later()))
    accepted = post(stack, f"/v1/jobs/{job['id']}/run", expected=202)
    assert accepted["run_requested_at"] is not None
    [execution] = wait_for(lambda: stack.executions(job["id"]), timeout=30)
    assert execution["manual"] is True and execution["success"] is True
    [hit] = target.received(f"/run-now/{key}")
    assert hit.header("X-Scheduler-Delivery-Id") == execution["delivery_id"]
    after = get_job(stack, job["id"])
    assert after["next_run"] == job["next_run"] and after["run_requested_at"] is None


def test_run_now_of_an_executing_job_is_refused_with_409(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(one_off(f"{target.url}/sleep/3/{key}"))
    assert wait_for(lambda: target.received(f"/sleep/3/{key}"), timeout=30)
    response = requests.post(f"{stack.api}/v1/jobs/{job['id']}/run", timeout=10)
    assert response.status_code == 409
    assert "executing" in response.json()["error"]
    [execution] = wait_for(lambda: stack.executions(job["id"]), timeout=30)
    assert execution["success"] is True
    assert len(target.received(f"/sleep/3/{key}")) == 1


def test_a_job_retry_policy_bounds_its_attempts(stack, target):
    key = uuid.uuid4().hex
    retry_policy = {"max_attempts": 2, "min_backoff": "100ms"}
    job = stack.post_job(
        {**one_off(f"{target.url}/status/503/{key}"), "retry_policy": retry_policy}
    )
    [execution] = wait_for(lambda: stack.executions(job["id"]), timeout=30)
    assert execution["status"] == "FAILED" and execution["attempts"] == 2
    assert len(target.received(f"/status/503/{key}")) == 2


def test_a_client_error_is_not_retried(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(one_off(f"{target.url}/status/404/{key}"))
    [execution] = wait_for(lambda: stack.executions(job["id"]), timeout=30)
    assert execution["status"] == "FAILED" and execution["attempts"] == 1
    assert execution["status_code"] == 404
    wait_for(lambda: len(target.received(f"/status/404/{key}")) > 1, timeout=2)
    assert len(target.received(f"/status/404/{key}")) == 1


def test_retry_after_of_a_429_is_honoured(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(one_off(f"{target.url}/retry-after/2/{key}"))
    [execution] = wait_for(lambda: stack.executions(job["id"]), timeout=30)
    assert execution["success"] is True and execution["attempts"] == 2
    first, second = target.received(f"/retry-after/2/{key}")
    assert second.at - first.at >= 1.9  # not the 0.5 s backoff


def _missed_for_an_hour(stack, job_id: str) -> None:
    run_sql(
        stack.environ, "UPDATE jobs SET next_run = now() - interval '1 hour' WHERE id = %s", job_id
    )


def test_a_recurring_job_missed_during_downtime_runs_once_then_follows_its_schedule(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(recurring(f"{target.url}/missed/{key}", "*/20 * * * *"))
    _missed_for_an_hour(stack, job["id"])
    [execution] = wait_for(lambda: stack.executions(job["id"]), timeout=30)
    assert execution["success"] is True and execution["lag_ms"] >= 3_600_000 - 5_000
    wait_for(lambda: len(target.received(f"/missed/{key}")) > 1, timeout=2)
    assert len(target.received(f"/missed/{key}")) == 1
    next_run = datetime.fromisoformat(get_job(stack, job["id"])["next_run"])
    assert datetime.now(UTC) < next_run <= datetime.now(UTC) + timedelta(minutes=20)


def test_a_slot_later_than_its_misfire_grace_is_skipped_and_recorded(stack, target):
    key = uuid.uuid4().hex
    job = recurring(f"{target.url}/grace/{key}", "*/20 * * * *")
    job = stack.post_job({**job, "misfire_grace": "1m"})
    _missed_for_an_hour(stack, job["id"])
    [execution] = wait_for(lambda: stack.executions(job["id"]), timeout=30)
    assert execution["status"] == "SKIPPED" and execution["attempts"] == 0
    assert "misfire_grace" in execution["error_message"]
    assert target.received(f"/grace/{key}") == []
    after = get_job(stack, job["id"])
    assert datetime.fromisoformat(after["next_run"]) > datetime.now(UTC)
    assert after["runs"] == 0

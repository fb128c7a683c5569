"""Through the API, against real web, tick and worker processes."""

import base64
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pika
import pytest
import requests

from testkit.jobs import one_off, recurring, soon
from testkit.polling import wait_for

pytestmark = pytest.mark.e2e


def settled(stack, job_id: str, count: int = 1, timeout: float = 30) -> list[dict]:
    found = wait_for(
        lambda: len(stack.executions(job_id)) >= count and stack.executions(job_id), timeout=timeout
    )
    assert found, f"no execution of {job_id} within {timeout}s"
    return found


def test_one_off_http_job_arrives_once_with_method_headers_body_and_auth(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(
        one_off(
            f"{target.url}/once/{key}",
            "PUT",
            headers={"X-Custom": "custom-value", "Content-Type": "application/json"},
            body='{"hello": "world"}',
            auth={"type": "basic", "username": "alice", "password": "s3cret"},
        )
    )
    [execution] = settled(stack, job["id"])
    assert execution["success"] is True
    assert execution["attempts"] == 1 and execution["status_code"] == 200
    assert execution["response_excerpt"] == "answer!"
    [hit] = target.received(f"/once/{key}")
    assert hit.method == "PUT"
    assert hit.body == b'{"hello": "world"}'
    assert hit.header("X-Custom") == "custom-value"
    assert hit.header("Authorization") == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert hit.header("X-Scheduler-Job-Id") == job["id"]
    assert hit.header("X-Scheduler-Delivery-Id") == execution["delivery_id"]
    assert hit.header("X-Scheduler-Attempt") == "1"
    assert datetime.fromisoformat(
        hit.header("X-Scheduler-Scheduled-For")
    ) == datetime.fromisoformat(job["execute_at"])
    assert requests.get(f"{stack.api}/v1/jobs/{job['id']}", timeout=5).json()["next_run"] is None
    # Nothing more arrives later.
    wait_for(lambda: len(target.received(f"/once/{key}")) > 1, timeout=2)
    assert len(target.received(f"/once/{key}")) == 1


def test_bearer_auth_is_sent_as_authorization_header(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(
        one_off(
            f"{target.url}/bearer/{key}", "POST", auth={"type": "bearer", "bearer_token": "tok-123"}
        )
    )
    settled(stack, job["id"])
    [hit] = target.received(f"/bearer/{key}")
    assert hit.header("Authorization") == "Bearer tok-123"


def test_amqp_job_lands_in_a_bound_queue_with_body_headers_and_content_type(stack, rabbit_vhost):
    exchange, queue = f"e2e-{uuid.uuid4().hex[:8]}", f"e2e-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_vhost))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "direct")
        channel.queue_declare(queue)
        channel.queue_bind(queue, exchange, "the-key")
        job = stack.post_job(
            {
                "type": "AMQP",
                "execute_at": soon(),
                "amqp_job": {
                    "connection": rabbit_vhost,
                    "exchange": exchange,
                    "routing_key": "the-key",
                    "headers": {"x-origin": "e2e"},
                    "body": base64.b64encode(b"\x00binary\xff").decode(),
                    "body_encoding": "base64",
                    "content_type": "application/octet-stream",
                },
            }
        )
        [execution] = settled(stack, job["id"])
        assert execution["success"] is True, execution["error_message"]
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None
        assert body == b"\x00binary\xff"
        assert properties.content_type == "application/octet-stream"
        assert properties.delivery_mode == 2
        assert properties.headers["x-origin"] == "e2e"
        assert properties.headers["X-Scheduler-Job-Id"] == job["id"]
        assert properties.message_id == execution["delivery_id"]
    finally:
        connection.close()


def test_target_that_fails_twice_is_retried_and_recorded_with_its_attempts(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(one_off(f"{target.url}/fail/2/{key}", "POST"))
    [execution] = settled(stack, job["id"])
    assert execution["success"] is True
    assert execution["attempts"] == 3
    hits = target.received(f"/fail/2/{key}")
    assert [hit.header("X-Scheduler-Attempt") for hit in hits] == ["1", "2", "3"]
    assert len({hit.header("X-Scheduler-Delivery-Id") for hit in hits}) == 1
    # Backoff: 0.5 s then 0.75 s between attempts.
    assert hits[1].at - hits[0].at >= 0.45
    assert hits[2].at - hits[1].at >= 0.7


def test_target_that_always_fails_is_recorded_as_failed_with_a_useful_error(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(one_off(f"{target.url}/status/503?{key}"))
    [execution] = settled(stack, job["id"])
    assert execution["success"] is False
    assert execution["attempts"] == 4
    assert execution["status_code"] == 503
    assert (execution["error_kind"], execution["error_message"]) == (
        "status",
        "HTTP 503; accepted: 200",
    )
    failed = requests.get(
        f"{stack.api}/v1/jobs/{job['id']}/executions", params={"failedOnly": "true"}, timeout=5
    ).json()["executions"]
    assert [e["id"] for e in failed] == [execution["id"]]


def test_unreachable_target_is_recorded_as_failed_with_the_connection_error(stack):
    job = stack.post_job(one_off("http://127.0.0.1:9/closed"))
    [execution] = settled(stack, job["id"])
    assert execution["success"] is False
    assert execution["status_code"] is None
    assert execution["error_kind"] == "connection_refused"
    assert execution["error_message"] == "connection refused by 127.0.0.1:9"
    assert "ConnectionError" in execution["error_detail"]


def test_recurring_seconds_schedule_runs_repeatedly(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(recurring(f"{target.url}/every-second/{key}", "* * * * * *"))
    try:
        executions = settled(stack, job["id"], count=3, timeout=15)
    finally:
        requests.delete(f"{stack.api}/v1/jobs/{job['id']}", timeout=5)
    slots = [datetime.fromisoformat(e["scheduled_for"]) for e in executions]
    assert len(set(slots)) == len(slots)
    assert all(slot.microsecond == 0 for slot in slots)
    assert all(e["success"] for e in executions)


def test_300_jobs_due_at_once_each_run_exactly_once(stack, target):
    batch = uuid.uuid4().hex
    execute_at = soon(6)

    def post(number: int) -> str:
        job = one_off(f"{target.url}/batch/{batch}/{number}", "POST", execute_at)
        return stack.post_job({**job, "tags": [batch]})["id"]

    # Several clients, so that all 300 exist well before their common slot even on
    # a loaded machine.
    with ThreadPoolExecutor(8) as clients:
        ids = set(clients.map(post, range(300)))
    assert datetime.now(UTC) < datetime.fromisoformat(execute_at)

    prefix = f"/batch/{batch}/"
    wait_for(lambda: len(target.received(prefix)) >= 300, timeout=60)
    # Give any duplicate time to show up before counting.
    wait_for(lambda: len(target.received(prefix)) > 300, timeout=3)
    hits = target.received(prefix)
    per_job = Counter(hit.header("X-Scheduler-Job-Id") for hit in hits)
    assert set(per_job) == ids
    assert set(per_job.values()) == {1}
    assert len({hit.header("X-Scheduler-Delivery-Id") for hit in hits}) == 300
    jobs = requests.get(
        f"{stack.api}/v1/jobs", params={"tags": batch, "limit": 1000}, timeout=10
    ).json()
    assert len(jobs) == 300 and all(job["next_run"] is None for job in jobs)
    counts = [len(stack.executions(job_id)) for job_id in ids]
    assert set(counts) == {1}

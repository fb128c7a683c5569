"""When a job fails (issue 14), against real web, tick and worker processes that
sign what they send: the dead letter of what was sent, its redrive with the same
delivery id, a bulk redrive, callbacks (signed, retried, outliving a killed
worker), and the pause after consecutive failures."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from actors.signing import signature
from testkit.e2e import running_stack, stack_environ
from testkit.jobs import one_off, recurring, soon
from testkit.polling import wait_for
from testkit.stack import kill_group

pytestmark = pytest.mark.e2e

ONCE = {"max_attempts": 1}  # no retries: the first failure is the execution's
SIGNING_KEY = f"signing-key-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def stack(e2e_database, rabbit_vhost, tmp_path_factory):
    environ = stack_environ(e2e_database, rabbit_vhost, SCHEDULER_SIGNING_KEY=SIGNING_KEY)
    with running_stack(environ, tmp_path_factory.mktemp("logs")) as running:
        yield running


def signed(hit) -> bool:
    stamp = int(hit.header("X-Scheduler-Timestamp"))
    delivery = hit.header("X-Scheduler-Delivery-Id")
    return hit.header("X-Scheduler-Signature") == signature(SIGNING_KEY, stamp, delivery, hit.body)


def execution(stack, execution_id: int) -> dict:
    return requests.get(f"{stack.api}/v1/executions/{execution_id}", timeout=5).json()


def dead_letters(stack, **params) -> list[dict]:
    response = requests.get(
        f"{stack.api}/v1/dead-letters", params={"limit": 1000, **params}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["dead_letters"]


def finished(stack, job_id: str, count: int, timeout: float = 30) -> list[dict]:
    found = wait_for(
        lambda: len(stack.executions(job_id)) >= count and stack.executions(job_id),
        timeout=timeout,
    )
    assert found, f"fewer than {count} executions of {job_id} within {timeout}s"
    return found


def test_a_failing_delivery_becomes_a_dead_letter_and_its_redrive_repeats_it(stack, target):
    key = uuid.uuid4().hex
    path = f"/fail/1/{key}"  # fails once, then answers 200: a target that recovered
    body = one_off(target.url + path, "POST", body='{"invoice": 7}')
    job = stack.post_job({**body, "retry_policy": ONCE})
    [failed] = finished(stack, job["id"], 1)
    assert (failed["status"], failed["error_kind"]) == ("FAILED", "status")
    assert failed["error_message"] == "HTTP 500; accepted: 200"

    [letter] = dead_letters(stack, job_id=job["id"])
    assert (letter["execution_id"], letter["delivery_id"]) == (failed["id"], failed["delivery_id"])
    assert letter["request"]["method"] == "POST"
    assert letter["request"]["url"] == target.url + path
    assert letter["request"]["body"] == '{"invoice": 7}'
    assert letter["request"]["headers"]["X-Scheduler-Delivery-Id"] == failed["delivery_id"]

    redrive = requests.post(f"{stack.api}/v1/dead-letters/{letter['id']}/redrive", timeout=10)
    assert redrive.status_code == 202, redrive.text
    assert redrive.json()["redrive_requested_at"] is not None
    again, _ = finished(stack, job["id"], 2)  # newest first

    first, second = target.received(path)
    assert second.delivery_id == first.delivery_id == failed["delivery_id"]
    assert second.scheduled_for == first.scheduled_for
    assert second.header("User-Agent").startswith("Scheduler/")
    assert (again["status"], again["redrive_of"]) == ("SUCCESSFUL", letter["id"])
    assert again["manual"] is True
    done = wait_for(
        lambda: (
            dead_letters(stack, job_id=job["id"])[0]["redriven_at"] is not None
            and dead_letters(stack, job_id=job["id"])[0]
        )
    )
    assert done["redrive_execution_id"] == again["id"]


def test_a_bulk_redrive_of_200_dead_letters_delivers_each_again(stack, target):
    key = uuid.uuid4().hex
    bodies = [
        {**one_off(f"{target.url}/fail/1/{key}-{i}", execute_at=soon(2)), "retry_policy": ONCE}
        for i in range(200)
    ]
    with ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(stack.post_job, bodies))
    mine = {job["id"] for job in jobs}

    def letters() -> list[dict]:
        return [d for d in dead_letters(stack) if d["job_id"] in mine]

    assert wait_for(lambda: len(letters()) == 200, timeout=60), len(letters())
    ids = [letter["id"] for letter in letters()]
    response = requests.post(f"{stack.api}/v1/dead-letters/redrive", json={"ids": ids}, timeout=30)
    assert (response.status_code, response.json()) == (202, {"redriven": 200})

    redriven = wait_for(lambda: all(d["redriven_at"] for d in letters()), timeout=60)
    assert redriven, sum(1 for d in letters() if d["redriven_at"])
    hits = {}
    for hit in target.received(f"/fail/1/{key}-"):
        hits.setdefault(hit.path, []).append(hit.delivery_id)
    assert len(hits) == 200
    assert all(len(ids) == 2 and ids[0] == ids[1] for ids in hits.values())


def test_a_job_pauses_after_its_consecutive_failures_and_says_why(stack, target):
    key = uuid.uuid4().hex
    body = recurring(f"{target.url}/status/503?{key}", "* * * * * *")
    job = stack.post_job({**body, "retry_policy": ONCE, "pause_after_failures": 3})

    paused = wait_for(
        lambda: (
            (shown := requests.get(f"{stack.api}/v1/jobs/{job['id']}", timeout=5).json())["status"]
            == "STOPPED"
            and shown
        ),
        timeout=30,
    )
    assert paused, "not paused"
    assert paused["consecutive_failures"] == 3
    assert paused["paused_reason"] == "3 consecutive failures; last: HTTP 503; accepted: 200"
    wait_for(lambda: len(stack.executions(job["id"])) > 3, timeout=2.5)
    assert [e["status"] for e in stack.executions(job["id"])] == ["FAILED"] * 3

    resumed = requests.post(f"{stack.api}/v1/jobs/{job['id']}/resume", timeout=5).json()
    assert (resumed["status"], resumed["consecutive_failures"]) == ("RUNNING", 0)
    assert resumed["paused_reason"] is None
    requests.post(f"{stack.api}/v1/jobs/{job['id']}/pause", timeout=5)


def test_callbacks_arrive_signed_for_a_failure_and_a_success(stack, target):
    key = uuid.uuid4().hex
    hooks = {
        "on_failure": {"url": f"{target.url}/hooks/{key}/failed", "headers": {"X-Api-Key": "k-1"}},
        "on_success": {"url": f"{target.url}/hooks/{key}/ok"},
    }
    failing = stack.post_job(
        {**one_off(f"{target.url}/status/500?{key}"), "retry_policy": ONCE, "tags": ["t"], **hooks}
    )
    working = stack.post_job({**one_off(f"{target.url}/ok/{key}"), **hooks})

    assert wait_for(lambda: target.received(f"/hooks/{key}/failed"), timeout=20)
    assert wait_for(lambda: target.received(f"/hooks/{key}/ok"), timeout=20)
    [failed_hit] = target.received(f"/hooks/{key}/failed")
    [ok_hit] = target.received(f"/hooks/{key}/ok")
    assert signed(failed_hit) and signed(ok_hit)
    assert failed_hit.header("X-Api-Key") == "k-1"
    assert failed_hit.header("X-Scheduler-Event") == "execution.failed"
    failed = json.loads(failed_hit.body)
    [record] = stack.executions(failing["id"])
    [letter] = dead_letters(stack, job_id=failing["id"])
    assert (failed["job_id"], failed["tags"]) == (failing["id"], ["t"])
    assert (failed["execution"]["id"], failed["dead_letter_id"]) == (record["id"], letter["id"])
    assert json.loads(ok_hit.body)["event"] == "execution.succeeded"
    assert json.loads(ok_hit.body)["job_id"] == working["id"]
    callback = wait_for(
        lambda: (
            execution(stack, record["id"])["callback"]["status"] == "DELIVERED"
            and execution(stack, record["id"])["callback"]
        )
    )
    assert callback["attempts"] == 1


def test_a_callback_target_that_is_down_is_retried_until_it_is_up(stack, target):
    key = uuid.uuid4().hex
    hook = {"url": f"{target.url}/fail/1/{key}"}  # down once, then up
    job = stack.post_job(
        {**one_off(f"{target.url}/status/500?{key}"), "retry_policy": ONCE, "on_failure": hook}
    )
    assert wait_for(lambda: len(target.received(f"/fail/1/{key}")) == 2, timeout=30)
    first, second = target.received(f"/fail/1/{key}")
    assert first.delivery_id == second.delivery_id
    assert second.attempt == "2" and second.at - first.at >= 3.5  # the first backoff: 4 s
    [record] = stack.executions(job["id"])
    done = wait_for(lambda: execution(stack, record["id"])["callback"]["status"] == "DELIVERED")
    assert done


def test_the_pause_is_told_to_on_failure(stack, target):
    key = uuid.uuid4().hex
    body = recurring(f"{target.url}/status/503?{key}", "* * * * * *")
    hook = {"url": f"{target.url}/hooks/{key}"}
    job = stack.post_job(
        {**body, "retry_policy": ONCE, "pause_after_failures": 2, "on_failure": hook}
    )
    paused = wait_for(
        lambda: [
            h
            for h in target.received(f"/hooks/{key}")
            if h.header("X-Scheduler-Event") == "job.paused"
        ],
        timeout=30,
    )
    assert paused, "no job.paused callback"
    event = json.loads(paused[0].body)
    assert event["paused_reason"] == "2 consecutive failures; last: HTTP 503; accepted: 200"
    assert event["execution"]["status"] == "FAILED" and event["job_id"] == job["id"]


def test_a_worker_killed_while_sending_a_callback_still_delivers_it(stack, target):
    key = uuid.uuid4().hex
    hook = {"url": f"{target.url}/sleep/3/{key}"}  # the first attempt is in flight 3 s
    job = stack.post_job(
        {**one_off(f"{target.url}/status/500?{key}"), "retry_policy": ONCE, "on_failure": hook}
    )
    assert wait_for(lambda: target.received(f"/sleep/3/{key}"), timeout=20)
    kill_group(stack.processes["worker"].pid)  # before the callback's answer is recorded
    stack.restart("worker")

    # Its lease (the job timeout, 5 s, and 10 s) lapses and a new worker sends it again.
    assert wait_for(lambda: len(target.received(f"/sleep/3/{key}")) >= 2, timeout=40)
    first, again = target.received(f"/sleep/3/{key}")[:2]
    assert again.delivery_id == first.delivery_id
    [record] = stack.executions(job["id"])
    done = wait_for(
        lambda: execution(stack, record["id"])["callback"]["status"] == "DELIVERED", timeout=20
    )
    assert done

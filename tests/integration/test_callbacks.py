"""Callbacks on real PostgreSQL (issue 14): the outbox rows the finish writes, their
lease and fenced finish, and the sender POSTing them to a real local target."""

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from actors.callbacks import CallbackSender
from actors.http import HttpExecutor, Outbound
from actors.signing import signature
from app import callbacks, claims, retention
from app.claims import Finishing
from tests.integration.rows import LOCK, executions, outcome, set_row, stored

KEY = "signing-key-cb-7781"


def create(client, **fields) -> str:
    body = {
        "type": "HTTP",
        "cron_schedule": "* * * * *",
        "http_job": {"url": "http://127.0.0.1:9/", "method": "GET"},
        **fields,
    }
    response = client.simulate_post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json["id"]


def run_once(db, job_id: str, status: str = "FAILED", manual: bool = False) -> None:
    """Claim the job's slot now (`manual`: a run now) and finish it with `status`,
    as a worker does."""
    due = datetime.now(UTC) - timedelta(seconds=1)
    set_row(db, job_id, **({"run_requested_at": due} if manual else {"next_run": due}))
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    event = {"FAILED": "execution.failed", "SUCCESSFUL": "execution.succeeded"}[status]
    wanted = definition.on_failure if status == "FAILED" else definition.on_success
    ended = replace(outcome(claim, status), error_message="HTTP 503; accepted: 200")
    finishing = Finishing(claim, ended, definition.basis, key, event if wanted else None)
    claims.finish_many(db, [finishing])


def outbox(db) -> list[tuple]:
    statement = "SELECT job_id, execution_id, dead_letter_id, event, status FROM callbacks"
    with db.connection_context():
        return db.execute_sql(statement + " ORDER BY id").fetchall()


def test_the_finish_writes_the_callback_its_job_asks_for(db, client, target):
    both = create(
        client, on_failure={"url": target.url + "/f"}, on_success={"url": target.url + "/s"}
    )
    run_once(db, both, "FAILED")
    run_once(db, both, "SUCCESSFUL")
    failed, succeeded = executions(db, both)
    with db.connection_context():
        (dead_letter_id,) = db.execute_sql("SELECT id FROM dead_letters").fetchone()
    job = uuid.UUID(both)
    assert outbox(db) == [
        (job, failed.id, dead_letter_id, "execution.failed", "PENDING"),
        (job, succeeded.id, None, "execution.succeeded", "PENDING"),
    ]


def test_no_callback_without_one_for_that_outcome(db, client, target):
    only_failures = create(client, on_failure={"url": target.url + "/f"})
    run_once(db, only_failures, "SUCCESSFUL")
    plain = create(client)
    run_once(db, plain, "FAILED")
    assert outbox(db) == []


def test_a_pause_after_failures_tells_on_failure_once(db, client, target):
    job_id = create(client, on_failure={"url": target.url + "/f"}, pause_after_failures=2)
    run_once(db, job_id)
    run_once(db, job_id)
    assert stored(db, job_id).status == "STOPPED"
    run_once(db, job_id, manual=True)  # a run now of the paused job fails again
    events = sorted(event for _, _, _, event, _ in outbox(db))
    assert events == ["execution.failed"] * 3 + ["job.paused"]
    [paused] = [row for row in outbox(db) if row[3] == "job.paused"]
    second_failure = executions(db, job_id)[1]
    assert paused[1] == second_failure.id  # the execution whose failure paused the job


def test_a_lease_is_exclusive_and_its_finish_fenced_by_its_token(db, client, target):
    job_id = create(client, on_failure={"url": target.url + "/f"})
    run_once(db, job_id)
    [leased] = callbacks.lease_due(db, 30, 10)
    assert (leased.event, leased.attempt) == ("execution.failed", 1)
    assert callbacks.lease_due(db, 30, 10) == []  # held by the first sender

    stale = replace(leased, lock_token=uuid.uuid4())
    assert not callbacks.finish(db, stale, True)
    assert callbacks.finish(db, leased, False, 503, "HTTP 503; accepted: 200")
    assert callbacks.lease_due(db, 30, 10) == []  # due again only after its backoff
    with db.connection_context():
        status, wait = db.execute_sql(
            "SELECT status, extract(epoch FROM next_attempt_at - now()) FROM callbacks"
        ).fetchone()
    assert status == "PENDING" and 3 < wait <= 4


def test_a_lapsed_lease_is_taken_again_and_five_attempts_end_it(db, client, target):
    job_id = create(client, on_failure={"url": target.url + "/f"})
    run_once(db, job_id)
    callbacks.lease_due(db, 30, 10)  # a sender that died with it
    with db.connection_context():
        db.execute_sql("UPDATE callbacks SET locked_until = now() - interval '1 second'")
    for attempt in range(2, 6):
        [leased] = callbacks.lease_due(db, 30, 10)
        assert leased.attempt == attempt
        callbacks.finish(db, leased, False, error="connection refused by 127.0.0.1:9")
        with db.connection_context():
            db.execute_sql("UPDATE callbacks SET next_attempt_at = now()")
    assert [status for *_, status in outbox(db)] == ["FAILED"]


def test_the_sender_posts_the_event_signed_with_the_secret_header_and_records_it(
    db, client, target, secret_box
):
    path = f"/cb/{uuid.uuid4()}"
    job_id = create(
        client,
        tags=["billing"],
        on_failure={"url": target.url + path, "headers": {"Authorization": "Bearer cb-tok-55"}},
    )
    shown = client.simulate_get(f"/v1/jobs/{job_id}").json
    assert shown["on_failure"]["headers"]["Authorization"] == "***"
    run_once(db, job_id)
    sender = CallbackSender(db, secret_box, HttpExecutor(Outbound(signing_key=KEY)), 5)
    assert sender.send_due() == 1

    [hit] = target.received(path)
    body = json.loads(hit.body)
    [execution] = executions(db, job_id)
    assert body["event"] == "execution.failed" and body["job_id"] == job_id
    assert body["tags"] == ["billing"]
    assert body["execution"]["id"] == execution.id
    assert body["execution"]["error_message"] == "HTTP 503; accepted: 200"
    assert body["dead_letter_id"] is not None
    assert hit.header("X-Scheduler-Event") == "execution.failed"
    assert hit.header("X-Scheduler-Job-Id") == job_id
    assert hit.header("Authorization") == "Bearer cb-tok-55"
    assert hit.header("User-Agent").startswith("Scheduler/")
    delivery = hit.header("X-Scheduler-Delivery-Id")
    assert delivery != str(execution.delivery_id)
    stamp = int(hit.header("X-Scheduler-Timestamp"))
    assert hit.header("X-Scheduler-Signature") == signature(KEY, stamp, delivery, hit.body)

    record = client.simulate_get(f"/v1/executions/{execution.id}").json
    assert record["callback"]["status"] == "DELIVERED"
    assert (record["callback"]["attempts"], record["callback"]["event"]) == (1, "execution.failed")
    assert record["callback"]["delivered_at"] is not None


def test_a_callback_to_a_closed_port_is_kept_for_another_attempt(db, client, secret_box):
    job_id = create(client, on_failure={"url": "http://127.0.0.1:9/cb"})
    run_once(db, job_id)
    sender = CallbackSender(db, secret_box, HttpExecutor(), 5)
    assert sender.send_due() == 1
    [execution] = executions(db, job_id)
    callback = client.simulate_get(f"/v1/executions/{execution.id}").json["callback"]
    assert (callback["status"], callback["attempts"]) == ("PENDING", 1)
    assert callback["last_error"] == "connection refused by 127.0.0.1:9"
    assert callback["next_attempt_at"] is not None


@pytest.mark.parametrize(
    ("callback", "error"),
    [
        ({"url": "ftp://x/"}, "on_failure.url 'ftp://x/' must be an http(s) URL"),
        ({"url": ""}, "on_failure.url cannot be empty"),
        ({"headers": {}}, "on_failure.url cannot be empty"),
        ({"url": "https://x/", "headers": {"bad name": "v"}}, "invalid header name"),
        ({"url": "https://x/", "headers": {"Authorization": "***"}}, "no secret is stored"),
        ("https://x/", "on_failure must be a JSON object"),
    ],
)
def test_bad_callbacks_are_refused_clearly(client, callback, error):
    body = {
        "type": "HTTP",
        "cron_schedule": "* * * * *",
        "http_job": {"url": "http://127.0.0.1:9/", "method": "GET"},
        "on_failure": callback,
    }
    response = client.simulate_post("/v1/jobs", json=body)
    assert response.status_code == 400
    assert error in response.json["error"]


def test_an_update_sending_the_placeholder_back_keeps_the_secret(db, client, secret_box):
    job_id = create(
        client,
        on_success={"url": "https://hooks.example/s", "headers": {"X-Api-Key": "key-9931"}},
    )
    shown = client.simulate_get(f"/v1/jobs/{job_id}").json["on_success"]
    assert shown == {"url": "https://hooks.example/s", "headers": {"X-Api-Key": "***"}}
    client.simulate_put(f"/v1/jobs/{job_id}", json={"on_success": shown})
    with db.connection_context():
        row = stored(db, job_id)
    assert "key-9931" not in json.dumps(row.on_success)
    assert secret_box.open(row.secrets)["on_success.headers.x-api-key"] == "key-9931"
    removed = client.simulate_put(f"/v1/jobs/{job_id}", json={"on_success": None}).json
    assert removed["on_success"] is None


def test_retention_prunes_old_callbacks_sent_or_given_up_but_not_one_pending(db, client, target):
    job_id = create(client, on_failure={"url": target.url + "/f"})
    for _ in range(3):
        run_once(db, job_id)
    with db.connection_context():
        db.execute_sql(
            "UPDATE callbacks SET created_at = now() - interval '30 days', status = "
            "CASE WHEN id = (SELECT min(id) FROM callbacks) THEN 'PENDING' ELSE 'DELIVERED' END"
        )
    assert retention.prune(db, retention.CALLBACKS, 86400) == 2
    assert [status for *_, status in outbox(db)] == ["PENDING"]


def test_a_header_the_callback_marks_secret_is_sealed_and_shown_as_the_placeholder(
    db, client, secret_box
):
    hook = {"url": "https://hooks.example/f", "headers": {"X-Token": "tok-4471", "X-Plain": "p"}}
    job_id = create(client, on_failure={**hook, "secret_headers": ["X-Token"]})
    shown = client.simulate_get(f"/v1/jobs/{job_id}").json["on_failure"]
    assert shown["headers"] == {"X-Token": "***", "X-Plain": "p"}
    assert shown["secret_headers"] == ["X-Token"]
    assert secret_box.open(stored(db, job_id).secrets) == {"on_failure.headers.x-token": "tok-4471"}


def test_a_pause_by_a_finish_that_falls_back_still_names_its_execution(db, client, target):
    job_id = create(client, on_failure={"url": target.url + "/f"}, pause_after_failures=1)
    set_row(db, job_id, next_run=datetime.now(UTC) - timedelta(seconds=1))
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    set_row(db, job_id, cron_schedule="0 0 * * *")  # changed while it ran: the fallback
    ended = replace(outcome(claim, "FAILED"), error_message="HTTP 503; accepted: 200")
    claims.finish_many(db, [Finishing(claim, ended, definition.basis, key, "execution.failed")])

    assert stored(db, job_id).status == "STOPPED"
    [record] = executions(db, job_id)
    paused = [row for row in outbox(db) if row[3] == "job.paused"]
    assert [row[1] for row in paused] == [record.id]

"""What operators read: /ready, /metrics and the status report, on real
PostgreSQL and RabbitMQ."""

import uuid
from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest

import api
from api.health import broker_check
from app import claims, report
from app.commands.status import render
from app.jobs.models import DeadLetter, Execution, Job
from tests.prometheus import samples

NOWHERE = "amqp://guest:guest@127.0.0.1:1/"


def app_with(db, broker_url: str | None) -> falcon.testing.TestClient:
    broker = broker_check(broker_url) if broker_url else None
    return falcon.testing.TestClient(api.create_app(db, broker=broker, api_keys=("k",)))


def test_ready_says_what_it_checked_and_is_200_when_all_answer(db, rabbit_vhost):
    response = app_with(db, rabbit_vhost).simulate_get("/ready")  # open: no key needed
    assert response.status_code == 200, response.text
    assert response.json == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }


def test_ready_is_503_naming_an_unreachable_broker(db):
    response = app_with(db, NOWHERE).simulate_get("/ready")
    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert response.json["checks"]["broker"].startswith("unreachable")
    assert response.json["checks"]["database"] == "ok"


def test_ready_is_503_naming_a_migration_not_applied(db):
    with db.connection_context():
        db.execute_sql("DELETE FROM schema_migrations WHERE version LIKE '0004%%'")
    response = app_with(db, None).simulate_get("/ready")
    assert response.status_code == 503
    assert response.json["checks"]["migrations"].startswith("not applied: 0004_")


def test_health_names_the_database_check(db):
    response = app_with(db, None).simulate_get("/health")
    assert response.json == {"status": "ok", "checks": {"database": "ok"}, "database": "ok"}


def test_metrics_count_api_requests_by_route_and_show_the_backlog(db, add_job):
    client = app_with(db, None)
    for _ in range(3):
        add_job()  # due now, unclaimed
    add_job(next_run=datetime.now(UTC) + timedelta(hours=1))
    claimed = claims.claim_due(db, "tick-a", 1, lock_seconds=0.001).claims  # expires at once
    assert len(claimed) == 1
    route = ("route", "/v1/jobs/{job_id_text}")
    before = samples(client.simulate_get("/metrics").text)
    client.simulate_get(f"/v1/jobs/{uuid.uuid4()}", headers={"Authorization": "Bearer k"})
    response = client.simulate_get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    key = ("scheduler_api_requests_total", (("method", "GET"), route, ("status", "404")))
    assert after[key] - before.get(key, 0) == 1
    assert after[("scheduler_due_jobs", ())] == 3  # the expired claim is due again
    assert after[("scheduler_expired_claims", ())] == 1
    assert after[("scheduler_dead_letters", ())] == 0
    dead_letter(db, add_job(next_run=datetime.now(UTC) + timedelta(hours=1)))
    assert samples(client.simulate_get("/metrics").text)[("scheduler_dead_letters", ())] == 1


def dead_letter(db, job_id, redriven: bool = False) -> None:
    """A dead letter of the job, as a FAILED finish leaves one (redriven: and a
    redrive that succeeded)."""
    now = datetime.now(UTC)
    with db.connection_context():
        DeadLetter.create(
            job=job_id,
            execution_id=1,
            delivery_id=uuid.uuid4(),
            scheduled_for=now,
            failed_at=now,
            attempts=4,
            redriven_at=now if redriven else None,
        )


def test_the_status_report_counts_jobs_backlog_and_the_last_hour(db, add_job):
    job_ids = [add_job() for _ in range(2)]
    add_job(status="STOPPED")
    now = datetime.now(UTC)
    with db.connection_context():
        for lag, state in ((10, "SUCCESSFUL"), (30, "SUCCESSFUL"), (2000, "FAILED")):
            Execution.create(
                job=job_ids[0],
                delivery_id=uuid.uuid4(),
                scheduled_for=now,
                start_time=now,
                end_time=now,
                status=state,
                attempts=1,
                lag_ms=lag,
            )
        Job.update(next_run=now + timedelta(hours=1)).where(Job.id == job_ids[1]).execute()
    dead_letter(db, job_ids[0])
    dead_letter(db, job_ids[0], redriven=True)  # not counted: nothing left to do
    summary = report.status(db)
    assert summary.jobs_by_status == {"RUNNING": 2, "STOPPED": 1}
    assert (summary.due_unclaimed, summary.expired_claims) == (1, 0)
    assert summary.dead_letters == 1
    assert (summary.executions, summary.failures) == (3, 1)
    assert summary.lag_p50_ms == pytest.approx(30)
    text = render(summary)
    assert "2 running, 1 stopped" in text and "30 ms" in text
    assert "dead letters, not redriven  1" in text

"""Jitter on real PostgreSQL: the API plans a jittered fire time, the claim takes
the slot by it and carries both, the finish plans the next one, and the preview
shows what the job will do."""

import uuid
from datetime import UTC, datetime, timedelta

from app import claims
from app.claims import Finishing
from tests.integration.api_calls import timestamp
from tests.integration.rows import LOCK, executions, outcome, set_row, stored

BODY = {
    "type": "HTTP",
    "cron_schedule": "*/5 * * * *",
    "jitter": "90s",
    "http_job": {"url": "http://127.0.0.1:9/", "method": "GET"},
}


def test_a_jittered_job_shows_when_it_fires_and_keeps_its_slot(client, db):
    job = client.simulate_post("/v1/jobs", json=BODY).json
    assert job["jitter"] == "1m30s"
    assert job["schedule_text"] == "every 5 minutes, plus up to 1m30s of jitter"
    row = stored(db, job["id"])
    assert row.next_slot.minute % 5 == 0 and row.next_slot.second == 0
    assert row.next_slot <= row.next_run < row.next_slot + timedelta(seconds=90)
    assert timestamp(job["next_run"]) == row.next_run
    assert timestamp(job["next_runs"][0]) == row.next_run

    preview = client.simulate_post(
        "/v1/schedules/preview", json={**_schedule(), "job_id": job["id"], "count": 5}
    ).json["next_runs"]
    assert preview == job["next_runs"]


def _schedule() -> dict:
    return {"cron_schedule": BODY["cron_schedule"], "jitter": BODY["jitter"]}


def test_the_claim_carries_the_slot_and_its_fire_time_and_the_finish_plans_the_next(client, db):
    job_id = client.simulate_post("/v1/jobs", json=BODY).json["id"]
    slot = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    fire = slot + timedelta(seconds=41)
    set_row(db, job_id, next_slot=slot, next_run=fire)

    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    assert (claim.scheduled_for, claim.fire_at, claim.fires) == (slot, fire, fire)
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    ended = outcome(claim)
    claims.finish_many(db, [Finishing(claim, ended, definition.basis, key)])

    [record] = executions(db, job_id)
    assert record.scheduled_for == slot  # the slot, as X-Scheduler-Scheduled-For says
    assert record.lag_ms == round((ended.start_time - fire).total_seconds() * 1000)
    row = stored(db, job_id)
    assert row.next_slot > datetime.now(UTC) - timedelta(seconds=1)
    assert row.next_slot.minute % 5 == 0 and row.next_slot.second == 0
    assert row.next_slot <= row.next_run < row.next_slot + timedelta(seconds=90)


def test_dropping_the_jitter_fires_at_the_slot_again(client, db):
    job_id = client.simulate_post("/v1/jobs", json=BODY).json["id"]
    shown = client.simulate_put(f"/v1/jobs/{job_id}", json={"jitter": None}).json
    assert shown["jitter"] is None
    row = stored(db, job_id)
    assert row.next_slot is None
    assert (row.next_run.minute % 5, row.next_run.second, row.next_run.microsecond) == (0, 0, 0)


def test_jitter_is_validated(client):
    for body, error in (
        ({**BODY, "jitter": "25h"}, "jitter must be from 1ms to 24h"),
        ({**BODY, "jitter": "soon"}, "jitter"),
        (
            {**BODY, "cron_schedule": None, "execute_at": "2099-01-01T00:00:00Z"},
            "max_runs and jitter apply to recurring jobs only",
        ),
    ):
        response = client.simulate_post("/v1/jobs", json=body)
        assert response.status_code == 400, body
        assert error in response.json["error"]
    preview = client.simulate_post("/v1/schedules/preview", json=_schedule())
    assert preview.status_code == 400
    assert "give job_id too" in preview.json["error"]

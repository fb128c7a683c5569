"""Scheduling semantics through the API (issue 4) over a real, freshly migrated database:
pause and resume, run now, next_runs, windows and per-job options, schedule
preview, list filters and the richer execution history."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from app import claims
from tests.integration.api_calls import (
    add_execution,
    amqp_job,
    create,
    error_of,
    get,
    http_job,
    listed,
    timestamp,
)
from tests.integration.rows import set_row, stored

NEW_YORK = ZoneInfo("America/New_York")


def recurring(cron: str = "*/5 * * * *", **overrides) -> dict:
    return http_job(execute_at=None, cron_schedule=cron, **overrides)


def post(client, path: str, status: int = 200) -> dict:
    response = client.simulate_post(path)
    assert response.status_code == status, response.text
    return response.json


def execution_ids(client, job_id: str, **query) -> list[int]:
    response = client.simulate_get(
        f"/v1/jobs/{job_id}/executions", query_string=urlencode({"limit": 100, **query})
    )
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json["executions"]]


# --- pause and resume ----------------------------------------------------------------


def test_pausing_a_job_answers_200_with_it_stopped_and_no_next_runs(client, db):
    job_id = create(client, recurring())["id"]

    paused = post(client, f"/v1/jobs/{job_id}/pause")

    assert paused["id"] == job_id
    assert paused["status"] == "STOPPED"
    assert paused["next_runs"] == []
    assert stored(db, job_id).status == "STOPPED"
    assert get(client, job_id)["status"] == "STOPPED"


def test_resuming_a_paused_job_answers_200_with_it_running_again(client, db):
    job_id = create(client, recurring())["id"]
    post(client, f"/v1/jobs/{job_id}/pause")

    resumed = post(client, f"/v1/jobs/{job_id}/resume")

    assert resumed["status"] == "RUNNING"
    assert len(resumed["next_runs"]) == 5
    assert stored(db, job_id).status == "RUNNING"


def test_resuming_an_overdue_recurring_job_schedules_its_next_slot_after_now(client, db):
    job_id = create(client, recurring("*/5 * * * *"))["id"]
    post(client, f"/v1/jobs/{job_id}/pause")
    set_row(db, job_id, next_run=datetime.now(UTC) - timedelta(days=3))

    before = datetime.now(UTC)
    resumed = post(client, f"/v1/jobs/{job_id}/resume")
    after = datetime.now(UTC)

    next_run = timestamp(resumed["next_run"])
    assert before < next_run <= after + timedelta(minutes=5)
    assert next_run.minute % 5 == 0 and next_run.second == 0
    assert stored(db, job_id).next_run == next_run


def test_resuming_an_overdue_one_off_keeps_its_past_next_run_so_it_runs_once(client, db):
    job_id = create(client, http_job())["id"]
    post(client, f"/v1/jobs/{job_id}/pause")
    overdue = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    set_row(db, job_id, execute_at=overdue, next_run=overdue)

    resumed = post(client, f"/v1/jobs/{job_id}/resume")

    assert timestamp(resumed["next_run"]) == overdue
    [claim] = claims.claim_due(db, "tick-a", 10, 60.0).claims
    assert (claim.job_id, claim.scheduled_for, claim.manual) == (uuid.UUID(job_id), overdue, False)


def test_a_paused_job_is_not_claimed_and_a_resumed_one_is(client, db):
    job_id = create(client, http_job())["id"]
    overdue = datetime.now(UTC) - timedelta(minutes=1)
    set_row(db, job_id, execute_at=overdue, next_run=overdue)

    post(client, f"/v1/jobs/{job_id}/pause")
    assert claims.claim_due(db, "tick-a", 10, 60.0).claims == []
    post(client, f"/v1/jobs/{job_id}/resume")
    assert [c.job_id for c in claims.claim_due(db, "tick-a", 10, 60.0).claims] == [
        uuid.UUID(job_id)
    ]


def test_put_with_status_stopped_pauses_and_with_running_resumes(client, db):
    job_id = create(client, recurring())["id"]

    paused = client.simulate_put(f"/v1/jobs/{job_id}", json={"status": "STOPPED"})
    assert paused.status_code == 200, paused.text
    assert paused.json["status"] == "STOPPED"
    assert paused.json["next_runs"] == []
    assert stored(db, job_id).status == "STOPPED"

    resumed = client.simulate_put(f"/v1/jobs/{job_id}", json={"status": "RUNNING"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json["status"] == "RUNNING"
    assert stored(db, job_id).status == "RUNNING"


def test_put_with_an_unknown_status_is_400_and_changes_nothing(client, db):
    job_id = create(client, recurring())["id"]

    response = client.simulate_put(f"/v1/jobs/{job_id}", json={"status": "BAD"})

    assert "status" in error_of(response, 400)
    assert stored(db, job_id).status == "RUNNING"


@pytest.mark.parametrize("action", ["pause", "resume", "run"])
def test_an_action_on_a_missing_job_is_404(client, action):
    error_of(client.simulate_post(f"/v1/jobs/{uuid.uuid4()}/{action}"), 404)


@pytest.mark.parametrize("action", ["pause", "resume", "run"])
def test_an_action_on_an_id_that_is_not_a_uuid_is_400(client, action):
    error_of(client.simulate_post(f"/v1/jobs/not-a-uuid/{action}"), 400)


# --- run now -------------------------------------------------------------------------


def test_run_now_answers_202_with_the_request_time_and_leaves_next_run_alone(client, db):
    created = create(client, recurring("0 3 * * *"))

    before = datetime.now(UTC)
    response = client.simulate_post(f"/v1/jobs/{created['id']}/run")
    after = datetime.now(UTC)

    assert response.status_code == 202, response.text
    job = response.json
    assert before <= timestamp(job["run_requested_at"]) <= after
    assert job["next_run"] == created["next_run"]
    row = stored(db, created["id"])
    assert before <= row.run_requested_at <= after
    assert row.next_run == timestamp(created["next_run"])


def test_a_second_run_now_while_one_is_pending_keeps_the_first_request_time(client, db):
    job_id = create(client, recurring())["id"]
    first = post(client, f"/v1/jobs/{job_id}/run", 202)["run_requested_at"]

    second = post(client, f"/v1/jobs/{job_id}/run", 202)

    assert first is not None
    assert second["run_requested_at"] == first
    assert stored(db, job_id).run_requested_at == timestamp(first)


def test_run_now_while_the_job_is_executing_is_409_and_requests_nothing(client, db):
    job_id = create(client, recurring())["id"]
    set_row(
        db,
        job_id,
        locked_until=datetime.now(UTC) + timedelta(minutes=1),
        locked_by="tick-a",
        lock_token=uuid.uuid4(),
    )

    response = client.simulate_post(f"/v1/jobs/{job_id}/run")

    assert "executing" in error_of(response, 409)
    assert stored(db, job_id).run_requested_at is None


def test_run_now_after_a_lock_expired_is_accepted(client, db):
    job_id = create(client, recurring())["id"]
    set_row(
        db,
        job_id,
        locked_until=datetime.now(UTC) - timedelta(seconds=1),
        locked_by="tick-a",
        lock_token=uuid.uuid4(),
    )

    post(client, f"/v1/jobs/{job_id}/run", 202)

    assert stored(db, job_id).run_requested_at is not None


# --- next_runs, windows and per-job options ------------------------------------------


def test_next_runs_are_five_fire_times_with_the_offset_of_the_jobs_zone(client):
    job = create(client, recurring("0 9 * * *", timezone="America/New_York"))

    runs = job["next_runs"]

    assert len(runs) == 5
    instants = [timestamp(text) for text in runs]
    assert all(text.endswith(("-05:00", "-04:00")) for text in runs), runs
    assert instants[0] == timestamp(job["next_run"])
    assert instants == sorted(set(instants))
    for instant in instants:
        local = instant.astimezone(NEW_YORK)
        assert (local.hour, local.minute) == (9, 0)
        assert instant.utcoffset() == local.utcoffset()
    assert get(client, job["id"])["next_runs"] == runs


def test_a_job_with_max_runs_2_shows_at_most_two_next_runs(client):
    job = create(client, recurring("*/5 * * * *", max_runs=2))

    assert len(job["next_runs"]) == 2
    assert len(get(client, job["id"])["next_runs"]) == 2


def test_an_overdue_recurring_job_shows_only_future_slots_after_its_overdue_one(client, db):
    job_id = create(client, recurring("*/5 * * * *"))["id"]
    overdue = datetime.now(UTC) - timedelta(days=3)
    set_row(db, job_id, next_run=overdue)

    runs = [timestamp(text) for text in get(client, job_id)["next_runs"]]

    assert runs[0] == overdue  # it runs once, as soon as a tick claims it
    assert len(runs) == 5
    assert all(run > datetime.now(UTC) for run in runs[1:]), runs


def test_next_runs_count_only_the_slots_left_of_max_runs(client, db):
    job_id = create(client, recurring("*/5 * * * *", max_runs=3))["id"]
    set_row(db, job_id, runs=2)

    assert len(get(client, job_id)["next_runs"]) == 1


def test_a_one_off_job_shows_its_single_time_in_next_runs(client):
    job = create(client, http_job())

    assert [timestamp(text) for text in job["next_runs"]] == [timestamp(job["execute_at"])]


def test_window_limits_and_options_round_trip_through_create_and_get(client):
    starts_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    ends_at = starts_at + timedelta(days=30)
    body = recurring(
        "0 * * * *",
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
        max_runs=7,
        misfire_grace="30s",
        timeout="1m",
        retry_policy={"max_attempts": 6, "min_backoff": "2s", "max_backoff": "1m"},
    )

    created = create(client, body)
    fetched = get(client, created["id"])

    for job in (created, fetched):
        assert timestamp(job["starts_at"]) == starts_at
        assert timestamp(job["ends_at"]) == ends_at
        assert job["max_runs"] == 7
        assert job["runs"] == 0
        assert job["misfire_grace"] == "30s"
        assert job["timeout"] == "1m"
        assert job["retry_policy"] == {"max_attempts": 6, "min_backoff": "2s", "max_backoff": "1m"}
        assert starts_at <= timestamp(job["next_run"]) <= starts_at + timedelta(hours=1)
    assert fetched == created


def test_a_job_without_a_retry_policy_shows_the_default_one(client):
    job = create(client, http_job())

    assert job["retry_policy"] == {"max_attempts": 4, "min_backoff": "500ms", "max_backoff": "1m"}
    assert (job["misfire_grace"], job["timeout"], job["max_runs"]) == (None, None, None)
    assert (job["starts_at"], job["ends_at"], job["run_requested_at"]) == (None, None, None)
    assert get(client, job["id"])["retry_policy"] == job["retry_policy"]


# --- schedule preview ----------------------------------------------------------------


def test_preview_answers_count_fire_times_in_the_zone_and_stores_nothing(client):
    body = {"cron_schedule": "30 2 * * *", "timezone": "America/New_York", "count": 7}

    before = datetime.now(UTC)
    response = client.simulate_post("/v1/schedules/preview", json=body)

    assert response.status_code == 200, response.text
    assert set(response.json) == {"next_runs"}
    runs = response.json["next_runs"]
    assert len(runs) == 7
    assert all(text.endswith(("-05:00", "-04:00")) for text in runs), runs
    instants = [timestamp(text) for text in runs]
    assert before < instants[0] <= before + timedelta(days=1, hours=1)
    assert instants == sorted(set(instants))
    assert listed(client) == []


def test_preview_gives_up_to_one_hundred_fire_times(client):
    body = {"cron_schedule": "* * * * *", "count": 100}

    response = client.simulate_post("/v1/schedules/preview", json=body)

    assert response.status_code == 200, response.text
    assert len(response.json["next_runs"]) == 100
    assert response.json["next_runs"][0].endswith("+00:00")


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"cron_schedule": "* * * * *", "count": 101}, "count"),
        ({"cron_schedule": "* * * * *", "count": 0}, "count"),
        ({"timezone": "UTC", "count": 3}, "cron_schedule"),
        ({"cron_schedule": "* * * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_a_bad_preview_request_is_400_naming_the_field(client, body, word):
    assert word in error_of(client.simulate_post("/v1/schedules/preview", json=body), 400)


# --- list filters --------------------------------------------------------------------


def test_jobs_can_be_listed_by_status(client):
    running = create(client, http_job())["id"]
    paused = create(client, http_job())["id"]
    post(client, f"/v1/jobs/{paused}/pause")

    assert [j["id"] for j in listed(client, "status=STOPPED")] == [paused]
    assert [j["id"] for j in listed(client, "status=RUNNING")] == [running]


def test_jobs_can_be_listed_by_type(client):
    create(client, http_job())
    amqp = create(client, amqp_job())["id"]

    assert [j["id"] for j in listed(client, "type=AMQP")] == [amqp]
    assert all(j["type"] == "HTTP" for j in listed(client, "type=HTTP"))
    assert len(listed(client, "type=HTTP")) == 1


def test_status_and_type_filters_combine(client):
    create(client, http_job())
    create(client, amqp_job())
    paused_amqp = create(client, amqp_job())["id"]
    post(client, f"/v1/jobs/{paused_amqp}/pause")

    assert [j["id"] for j in listed(client, "status=STOPPED&type=AMQP")] == [paused_amqp]
    assert listed(client, "status=STOPPED&type=HTTP") == []


@pytest.mark.parametrize("query", ["status=bad", "status=running", "type=SMTP"])
def test_an_unknown_status_or_type_filter_is_400(client, query):
    name = query.split("=")[0]
    assert name in error_of(client.simulate_get("/v1/jobs", query_string=query), 400)


# --- execution history ---------------------------------------------------------------


def test_an_execution_is_shown_by_id_with_all_its_fields(client, db):
    job_id = create(client, http_job())["id"]
    start = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    row = add_execution(
        db,
        job_id,
        start,
        status="FAILED",
        attempts=3,
        error_message="HTTP 503 from target",
        status_code=503,
        response_excerpt="busy, try later",
        manual=True,
        lag_ms=1000,
        duration_ms=2000,
    )

    response = client.simulate_get(f"/v1/executions/{row.id}")

    assert response.status_code == 200, response.text
    shown = response.json
    assert shown["id"] == row.id
    assert shown["job_id"] == job_id
    assert shown["delivery_id"] == str(row.delivery_id)
    assert timestamp(shown["scheduled_for"]) == start - timedelta(seconds=1)
    assert timestamp(shown["start_time"]) == start
    assert timestamp(shown["end_time"]) == start + timedelta(seconds=2)
    assert (shown["status"], shown["success"], shown["attempts"]) == ("FAILED", False, 3)
    assert shown["error_message"] == "HTTP 503 from target"
    assert shown["status_code"] == 503
    assert shown["response_excerpt"] == "busy, try later"
    assert shown["manual"] is True
    assert (shown["lag_ms"], shown["duration_ms"]) == (1000, 2000)


def test_a_skipped_execution_is_shown_with_no_attempts_and_not_as_a_success(client, db):
    job_id = create(client, http_job())["id"]
    row = add_execution(db, job_id, datetime(2030, 1, 1, tzinfo=UTC), "SKIPPED", attempts=0)

    shown = client.simulate_get(f"/v1/executions/{row.id}").json

    assert (shown["status"], shown["success"], shown["attempts"]) == ("SKIPPED", False, 0)
    assert shown["manual"] is False


def test_a_missing_execution_is_404(client):
    error_of(client.simulate_get("/v1/executions/987654321"), 404)


@pytest.mark.parametrize("text", ["abc", "-1", "1.5", "99999999999999999999"])
def test_an_execution_id_that_is_not_a_positive_integer_is_400(client, text):
    error_of(client.simulate_get(f"/v1/executions/{text}"), 400)


def test_job_executions_can_be_filtered_by_status(client, db):
    job_id = create(client, http_job())["id"]
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    add_execution(db, job_id, t0)
    skipped = add_execution(db, job_id, t0 + timedelta(minutes=1), "SKIPPED", attempts=0)
    failed = add_execution(db, job_id, t0 + timedelta(minutes=2), "FAILED")

    assert execution_ids(client, job_id, status="SKIPPED") == [skipped.id]
    assert execution_ids(client, job_id, status="FAILED") == [failed.id]
    assert len(execution_ids(client, job_id)) == 3


def test_job_executions_between_from_inclusive_and_to_exclusive_by_start_time(client, db):
    job_id = create(client, http_job())["id"]
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    rows = [add_execution(db, job_id, t0 + timedelta(minutes=i)) for i in range(5)]

    between = execution_ids(
        client,
        job_id,
        **{
            "from": (t0 + timedelta(minutes=1)).isoformat(),
            "to": (t0 + timedelta(minutes=3)).isoformat(),
        },
    )
    only_from = execution_ids(client, job_id, **{"from": "2030-01-01T12:03:00Z"})
    only_to = execution_ids(client, job_id, to="2030-01-01T12:01:00Z")

    assert between == [rows[2].id, rows[1].id]
    assert only_from == [rows[4].id, rows[3].id]
    assert only_to == [rows[0].id]


def test_execution_time_bounds_honour_their_utc_offset(client, db):
    job_id = create(client, http_job())["id"]
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    early = add_execution(db, job_id, t0)
    late = add_execution(db, job_id, t0 + timedelta(hours=2))

    # 13:00+01:00 is 12:00Z: from is inclusive, so the early one is in.
    assert execution_ids(client, job_id, **{"from": "2030-01-01T13:00:00+01:00"}) == [
        late.id,
        early.id,
    ]
    assert execution_ids(client, job_id, **{"from": "2030-01-01T08:00:01-04:00"}) == [late.id]


@pytest.mark.parametrize(
    "query",
    ["from=garbage", "to=garbage", "from=2030-01-01T00:00:00", "status=DONE"],
)
def test_a_bad_execution_filter_is_400_naming_it(client, query):
    job_id = create(client, http_job())["id"]
    name = query.split("=")[0]

    response = client.simulate_get(f"/v1/jobs/{job_id}/executions", query_string=query)

    assert name in error_of(response, 400)

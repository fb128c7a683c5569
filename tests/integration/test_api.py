"""The REST API v1 (docs/api.md) over a real, freshly migrated PostgreSQL database."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest

import api
from app.config import load_config
from app.db.database import open_database
from testkit.services import scheduler_environ
from tests.integration.api_calls import (
    AMQP_PASSWORD,
    AMQP_URL,
    add_execution,
    amqp_job,
    amqp_payload,
    create,
    error_of,
    get,
    http_job,
    http_payload,
    in_hours,
    listed,
    opened,
    timestamp,
)
from tests.integration.rows import stored

JOB_FIELDS = {
    "id",
    "type",
    "status",
    "execute_at",
    "cron_schedule",
    "tags",
    "next_run",
    "created_at",
    "updated_at",
}
EXECUTION_FIELDS = {
    "id",
    "job_id",
    "start_time",
    "end_time",
    "success",
    "error_message",
    "attempts",
    "status",
    "status_code",
    "delivery_id",
    "scheduled_for",
}
BASIC_PASSWORD = "basic-pw-Zq81x"
BEARER_TOKEN = "bearer-token-Kp27w"
AMQP_URL_SHOWN = "amqp://user:***@rabbit.example:5672/vhost"
HTTP_SECRETS = [
    (
        {"type": "basic", "username": "alice", "password": BASIC_PASSWORD},
        "password",
        BASIC_PASSWORD,
    ),
    ({"type": "bearer", "bearer_token": BEARER_TOKEN}, "bearer_token", BEARER_TOKEN),
]


@pytest.fixture
def unreachable_client():
    """An app whose database is a closed port: every query fails to connect."""
    environ = scheduler_environ(SCHEDULER_DB_HOST="127.0.0.1:1", SCHEDULER_DB_NAME="nowhere")
    database = open_database(load_config(environ=environ))
    yield falcon.testing.TestClient(api.create_app(database))
    database.close_all()


# --- creating ------------------------------------------------------------------------


def test_posting_an_http_job_returns_201_and_the_job_as_stored(client):
    execute_at = in_hours()
    body = http_job(execute_at=execute_at, tags=["billing", "nightly"])
    before = datetime.now(UTC)
    response = client.simulate_post("/v1/jobs", json=body)
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    job = response.json
    assert set(job) >= JOB_FIELDS
    assert uuid.UUID(job["id"])
    assert job["type"] == "HTTP"
    assert job["status"] == "RUNNING"
    assert job["cron_schedule"] is None
    assert timestamp(job["execute_at"]) == datetime.fromisoformat(execute_at)
    assert timestamp(job["next_run"]) == datetime.fromisoformat(execute_at)
    assert job["tags"] == ["billing", "nightly"]
    assert before <= timestamp(job["created_at"]) <= after
    assert before <= timestamp(job["updated_at"]) <= after
    assert job["http_job"]["url"] == "http://example.com/hook"
    assert job["http_job"]["method"] == "POST"
    assert job["http_job"]["headers"] == {"X-Source": "tests"}
    assert job["http_job"]["body"] == '{"ping": true}'
    assert job["http_job"]["valid_response_codes"] == [200, 201]
    assert job.get("amqp_job") is None


def test_posting_an_amqp_job_returns_201_and_its_amqp_payload(client):
    execute_at = in_hours(2)
    response = client.simulate_post("/v1/jobs", json=amqp_job(execute_at=execute_at))

    assert response.status_code == 201, response.text
    job = response.json
    assert job["type"] == "AMQP"
    assert job["status"] == "RUNNING"
    assert timestamp(job["next_run"]) == datetime.fromisoformat(execute_at)
    assert job["tags"] == []
    assert job["amqp_job"]["exchange"] == "jobs"
    assert job["amqp_job"]["routing_key"] == "jobs.run"
    assert job["amqp_job"]["headers"] == {"x-kind": "test"}
    assert job["amqp_job"]["body"] == "hello"
    assert job["amqp_job"]["content_type"] == "text/plain"
    assert job.get("http_job") is None


def test_a_cron_with_a_seconds_field_every_five_seconds_runs_within_five_seconds(client):
    before = datetime.now(UTC)
    response = client.simulate_post(
        "/v1/jobs", json=http_job(execute_at=None, cron_schedule="*/5 * * * * *")
    )
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    job = response.json
    assert job["cron_schedule"] == "*/5 * * * * *"
    assert job["execute_at"] is None
    next_run = timestamp(job["next_run"])
    assert before < next_run <= after + timedelta(seconds=5)
    assert next_run.second % 5 == 0 and next_run.microsecond == 0


def test_an_hourly_descriptor_runs_at_the_next_full_hour(client):
    before = datetime.now(UTC)
    response = client.simulate_post(
        "/v1/jobs", json=http_job(execute_at=None, cron_schedule="@hourly")
    )
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    job = response.json
    assert job["cron_schedule"] == "@hourly"
    assert job["execute_at"] is None
    next_run = timestamp(job["next_run"])
    assert before < next_run <= after + timedelta(hours=1)
    assert (next_run.minute, next_run.second, next_run.microsecond) == (0, 0, 0)


def test_a_json_body_sent_as_form_urlencoded_is_parsed_as_json(client):
    # curl -d '{...}' sends Content-Type: application/x-www-form-urlencoded.
    response = client.simulate_post(
        "/v1/jobs",
        body=json.dumps(http_job(tags=["from-curl"])),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 201, response.text
    assert response.json["type"] == "HTTP"
    assert response.json["tags"] == ["from-curl"]
    assert response.json["http_job"]["url"] == "http://example.com/hook"


# --- reading one ---------------------------------------------------------------------


def test_getting_a_job_returns_it_as_it_was_created(client):
    created = create(client, http_job(tags=["x"]))

    response = client.simulate_get(f"/v1/jobs/{created['id']}")

    assert response.status_code == 200
    assert response.json == created


def test_getting_an_unknown_job_is_404_with_an_error_naming_it(client):
    missing = str(uuid.uuid4())

    message = error_of(client.simulate_get(f"/v1/jobs/{missing}"), 404)

    assert missing in message


def test_getting_a_job_by_an_id_that_is_not_a_uuid_is_400(client):
    message = error_of(client.simulate_get("/v1/jobs/not-a-uuid"), 400)

    assert "UUID" in message


# --- listing -------------------------------------------------------------------------


def test_listing_with_no_jobs_returns_an_empty_array(client):
    response = client.simulate_get("/v1/jobs")

    assert response.status_code == 200
    assert response.json == []


def test_listing_returns_ten_jobs_by_default(client):
    ids = [create(client, http_job())["id"] for _ in range(12)]

    page = listed(client)

    assert len(page) == 10
    assert len({job["id"] for job in page}) == 10
    assert {job["id"] for job in page} <= set(ids)
    assert all(set(job) >= JOB_FIELDS for job in page)
    assert {job["id"] for job in listed(client, "limit=12")} == set(ids)


def test_limit_and_offset_give_disjoint_pages_that_cover_every_job(client):
    ids = {create(client, http_job())["id"] for _ in range(5)}

    pages = [listed(client, f"limit=2&offset={offset}") for offset in (0, 2, 4, 6)]

    assert [len(page) for page in pages] == [2, 2, 1, 0]
    seen = [job["id"] for page in pages for job in page]
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == ids


def test_after_pages_through_every_job_in_order_with_filters_kept(client):
    ids = [create(client, http_job(tags=["k"]))["id"] for _ in range(5)]
    create(client, http_job(tags=["other"]))
    seen, after = [], ""
    while page := listed(client, f"limit=2&tags=k{after}"):
        seen += [job["id"] for job in page]
        after = f"&after={page[-1]['id']}"
    assert seen == ids


@pytest.mark.parametrize(
    ("after", "word"), [("nope", "invalid job id"), (str(uuid.uuid4()), "after: no job")]
)
def test_after_an_unknown_or_malformed_job_id_is_400(client, after, word):
    assert word in error_of(client.simulate_get("/v1/jobs", query_string=f"after={after}"), 400)


def test_repeated_tags_parameters_return_only_jobs_having_every_given_tag(client):

    both = create(client, http_job(tags=["a", "b"]))["id"]
    only_a = create(client, http_job(tags=["a"]))["id"]
    create(client, http_job(tags=["b"]))
    superset = create(client, http_job(tags=["c", "b", "a"]))["id"]
    create(client, http_job())

    assert {job["id"] for job in listed(client, "tags=a&tags=b")} == {both, superset}
    assert {job["id"] for job in listed(client, "tags=a")} == {both, only_a, superset}
    assert listed(client, "tags=a&tags=unknown") == []


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("limit=abc", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("offset=xyz", "offset"),
    ],
)
def test_a_bad_paging_parameter_is_400_naming_it(client, query, word):
    message = error_of(client.simulate_get("/v1/jobs", query_string=query), 400)

    assert word in message


def test_a_limit_of_exactly_1000_is_accepted(client):
    job_id = create(client, http_job())["id"]

    assert [job["id"] for job in listed(client, "limit=1000")] == [job_id]


# --- updating ------------------------------------------------------------------------


def test_updating_only_the_tags_keeps_everything_else(client):
    created = create(client, http_job(tags=["old"]))

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"tags": ["new", "more"]})

    assert response.status_code == 200, response.text
    job = response.json
    assert job["tags"] == ["new", "more"]
    for unchanged in ("id", "type", "status", "execute_at", "cron_schedule", "next_run"):
        assert job[unchanged] == created[unchanged], unchanged
    assert job["http_job"] == created["http_job"]
    assert job["created_at"] == created["created_at"]
    assert timestamp(job["updated_at"]) >= timestamp(created["updated_at"])
    assert get(client, created["id"]) == job


def test_setting_a_cron_schedule_clears_execute_at_and_recomputes_next_run(client):
    created = create(client, http_job(execute_at=in_hours(30)))

    before = datetime.now(UTC)
    response = client.simulate_put(
        f"/v1/jobs/{created['id']}", json={"cron_schedule": "*/5 * * * * *"}
    )
    after = datetime.now(UTC)

    assert response.status_code == 200, response.text
    job = response.json
    assert job["cron_schedule"] == "*/5 * * * * *"
    assert job["execute_at"] is None
    next_run = timestamp(job["next_run"])
    assert before < next_run <= after + timedelta(seconds=5)
    assert get(client, created["id"]) == job


def test_setting_execute_at_clears_the_cron_schedule_and_moves_next_run_to_it(client):
    created = create(client, http_job(execute_at=None, cron_schedule="@hourly"))
    execute_at = in_hours(5)

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"execute_at": execute_at})

    assert response.status_code == 200, response.text
    job = response.json
    assert job["cron_schedule"] is None
    assert timestamp(job["execute_at"]) == datetime.fromisoformat(execute_at)
    assert timestamp(job["next_run"]) == datetime.fromisoformat(execute_at)
    assert get(client, created["id"]) == job


def test_an_http_payload_with_type_http_turns_an_amqp_job_into_an_http_job(client, db):
    created = create(client, amqp_job())

    response = client.simulate_put(
        f"/v1/jobs/{created['id']}",
        json={"type": "HTTP", "http": http_payload(url="http://example.org/switched")},
    )

    assert response.status_code == 200, response.text
    job = response.json
    assert job["type"] == "HTTP"
    assert job["http_job"]["url"] == "http://example.org/switched"
    assert job.get("amqp_job") is None
    row = stored(db, created["id"])
    assert row.type == "HTTP"
    assert row.amqp_job is None
    assert row.http_job["url"] == "http://example.org/switched"


@pytest.mark.parametrize(("auth", "secret_field", "secret"), HTTP_SECRETS, ids=["basic", "bearer"])
def test_sending_back_a_redacted_http_secret_keeps_the_stored_one(
    client, db, secret_box, auth, secret_field, secret
):
    created = create(client, http_job(http_job=http_payload(auth=auth)))
    shown = get(client, created["id"])["http_job"]
    assert shown["auth"][secret_field] == "***"
    shown["url"] = "http://example.com/edited"

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"http": shown})

    assert response.status_code == 200, response.text
    assert response.json["http_job"]["url"] == "http://example.com/edited"
    assert response.json["http_job"]["auth"][secret_field] == "***"
    assert secret not in response.text
    row = stored(db, created["id"])
    assert row.http_job["auth"][secret_field] == "***"
    http, _ = opened(db, secret_box, created["id"])
    assert http["url"] == "http://example.com/edited"
    assert http["auth"][secret_field] == secret


def test_a_new_http_secret_replaces_the_stored_one(client, db, secret_box):
    auth = {"type": "basic", "username": "alice", "password": BASIC_PASSWORD}
    created = create(client, http_job(http_job=http_payload(auth=auth)))

    new_auth = {"type": "basic", "username": "alice", "password": "a-new-password"}
    response = client.simulate_put(
        f"/v1/jobs/{created['id']}", json={"http": http_payload(auth=new_auth)}
    )

    assert response.status_code == 200, response.text
    assert response.json["http_job"]["auth"]["password"] == "***"
    http, _ = opened(db, secret_box, created["id"])
    assert http["auth"]["password"] == "a-new-password"


def test_sending_back_the_redacted_amqp_url_keeps_the_stored_password(client, db, secret_box):
    created = create(client, amqp_job())
    shown = get(client, created["id"])["amqp_job"]
    assert shown["connection"] == AMQP_URL_SHOWN
    shown["exchange"] = "other-exchange"

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"amqp": shown})

    assert response.status_code == 200, response.text
    assert response.json["amqp_job"]["connection"] == AMQP_URL_SHOWN
    assert response.json["amqp_job"]["exchange"] == "other-exchange"
    assert AMQP_PASSWORD not in response.text
    assert stored(db, created["id"]).amqp_job["connection"] == AMQP_URL_SHOWN
    _, amqp = opened(db, secret_box, created["id"])
    assert amqp["connection"] == AMQP_URL
    assert amqp["exchange"] == "other-exchange"


def test_a_redacted_amqp_password_sent_for_another_host_does_not_get_the_stored_one(
    client, db, secret_box
):
    created = create(client, amqp_job())
    elsewhere = amqp_payload(connection="amqp://user:***@elsewhere.example:5672/vhost")

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"amqp": elsewhere})

    assert "***" in error_of(response, 400)
    _, amqp = opened(db, secret_box, created["id"])
    assert amqp["connection"] == AMQP_URL


def test_a_redacted_http_secret_sent_for_another_host_does_not_get_the_stored_one(
    client, db, secret_box
):
    auth = {"type": "basic", "username": "alice", "password": BASIC_PASSWORD}
    created = create(client, http_job(http_job=http_payload(auth=auth)))
    shown = get(client, created["id"])["http_job"]
    shown["url"] = "http://elsewhere.example/collect"

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"http": shown})

    assert "***" in error_of(response, 400)
    http, _ = opened(db, secret_box, created["id"])
    assert http["url"] == "http://example.com/hook"
    assert http["auth"]["password"] == BASIC_PASSWORD


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (
            {"execute_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            "execute_at must be in the future",
        ),
        ({"cron_schedule": "every day at noon"}, "invalid cron schedule"),
        ({"tags": "a"}, "tags must be an array of non-empty strings"),
        ({"type": "AMQP"}, "AMQP job must be defined"),
        ({"type": "FTP"}, "job type must be either HTTP or AMQP"),
        (
            {"cron_schedule": "@hourly", "execute_at": in_hours()},
            "only one of execute_at and cron_schedule",
        ),
        ({"http": {"url": "", "method": "GET"}}, "HTTP job URL cannot be empty"),
        ([{"tags": ["x"]}], "request body must be a JSON object"),
    ],
    ids=["past", "cron", "tags", "type-without-payload", "type", "both", "url", "array"],
)
def test_an_invalid_update_is_400_with_the_validation_message_and_changes_nothing(
    client, update, message
):
    created = create(client, http_job(tags=["kept"]))

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json=update)

    assert message in error_of(response, 400)
    assert get(client, created["id"]) == created


def test_updating_an_unknown_job_is_404(client):
    missing = str(uuid.uuid4())

    message = error_of(client.simulate_put(f"/v1/jobs/{missing}", json={"tags": ["x"]}), 404)

    assert missing in message
    assert listed(client) == []


# --- deleting ------------------------------------------------------------------------


def test_deleting_a_job_is_204_and_afterwards_it_is_gone(client):
    created = create(client, http_job())
    kept = create(client, http_job())

    response = client.simulate_delete(f"/v1/jobs/{created['id']}")

    assert response.status_code == 204
    assert response.content == b""
    error_of(client.simulate_get(f"/v1/jobs/{created['id']}"), 404)
    assert [job["id"] for job in listed(client)] == [kept["id"]]


def test_deleting_an_unknown_job_is_404(client):
    error_of(client.simulate_delete(f"/v1/jobs/{uuid.uuid4()}"), 404)


# --- executions ----------------------------------------------------------------------


def test_a_new_job_has_no_executions(client):
    created = create(client, http_job())

    response = client.simulate_get(f"/v1/jobs/{created['id']}/executions")

    assert response.status_code == 200
    assert response.json == {"executions": []}


def test_executions_are_listed_newest_first_with_all_their_fields(client, db):
    job_id = create(client, http_job())["id"]
    other_job = create(client, http_job())["id"]
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    middle = add_execution(db, job_id, t0 + timedelta(minutes=1))
    newest = add_execution(
        db,
        job_id,
        t0 + timedelta(minutes=2),
        status="FAILED",
        attempts=3,
        error_message="HTTP 503 from target",
        status_code=503,
    )
    oldest = add_execution(db, job_id, t0, status_code=200)
    add_execution(db, other_job, t0 + timedelta(minutes=5))

    response = client.simulate_get(f"/v1/jobs/{job_id}/executions")

    assert response.status_code == 200, response.text
    executions = response.json["executions"]
    assert [e["id"] for e in executions] == [newest.id, middle.id, oldest.id]
    assert all(set(e) >= EXECUTION_FIELDS for e in executions)
    shown = executions[0]
    assert shown["job_id"] == job_id
    assert shown["delivery_id"] == str(newest.delivery_id)
    assert timestamp(shown["scheduled_for"]) == t0 + timedelta(minutes=2, seconds=-1)
    assert timestamp(shown["start_time"]) == t0 + timedelta(minutes=2)
    assert timestamp(shown["end_time"]) == t0 + timedelta(minutes=2, seconds=2)
    assert shown["success"] is False
    assert shown["status"] == "FAILED"
    assert shown["attempts"] == 3
    assert shown["error_message"] == "HTTP 503 from target"
    assert shown["status_code"] == 503
    assert executions[2]["success"] is True
    assert executions[2]["status"] == "SUCCESSFUL"
    assert executions[2]["error_message"] is None
    assert executions[2]["status_code"] == 200


def test_failed_only_lists_only_the_failed_executions(client, db):
    job_id = create(client, http_job())["id"]
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    add_execution(db, job_id, t0)
    failed_old = add_execution(db, job_id, t0 + timedelta(minutes=1), status="FAILED")
    add_execution(db, job_id, t0 + timedelta(minutes=2))
    failed_new = add_execution(db, job_id, t0 + timedelta(minutes=3), status="FAILED")

    failed = client.simulate_get(f"/v1/jobs/{job_id}/executions", query_string="failedOnly=true")
    everything = client.simulate_get(
        f"/v1/jobs/{job_id}/executions", query_string="failedOnly=false"
    )

    assert failed.status_code == 200, failed.text
    assert [e["id"] for e in failed.json["executions"]] == [failed_new.id, failed_old.id]
    assert all(e["success"] is False for e in failed.json["executions"])
    assert everything.status_code == 200
    assert len(everything.json["executions"]) == 4


def test_executions_limit_and_offset_give_disjoint_pages_in_order(client, db):
    job_id = create(client, http_job())["id"]
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    rows = [add_execution(db, job_id, t0 + timedelta(minutes=i)) for i in range(5)]
    newest_first = [row.id for row in reversed(rows)]

    pages = []
    for offset in (0, 2, 4):
        response = client.simulate_get(
            f"/v1/jobs/{job_id}/executions", query_string=f"limit=2&offset={offset}"
        )
        assert response.status_code == 200, response.text
        pages.append([e["id"] for e in response.json["executions"]])

    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]


def test_executions_are_limited_to_ten_by_default(client, db):
    job_id = create(client, http_job())["id"]
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    for i in range(12):
        add_execution(db, job_id, t0 + timedelta(minutes=i))

    response = client.simulate_get(f"/v1/jobs/{job_id}/executions")

    assert response.status_code == 200
    assert len(response.json["executions"]) == 10


def test_failed_only_that_is_not_a_boolean_is_400(client):
    job_id = create(client, http_job())["id"]

    response = client.simulate_get(f"/v1/jobs/{job_id}/executions", query_string="failedOnly=maybe")

    assert "failedOnly" in error_of(response, 400)


def test_executions_of_an_unknown_job_are_404(client):
    error_of(client.simulate_get(f"/v1/jobs/{uuid.uuid4()}/executions"), 404)


def test_executions_of_a_job_id_that_is_not_a_uuid_are_400(client):
    error_of(client.simulate_get("/v1/jobs/123/executions"), 400)


# --- secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(("auth", "secret_field", "secret"), HTTP_SECRETS, ids=["basic", "bearer"])
def test_http_auth_secrets_are_shown_as_stars_and_never_in_clear(
    client, auth, secret_field, secret
):
    created = client.simulate_post("/v1/jobs", json=http_job(http_job=http_payload(auth=auth)))
    assert created.status_code == 201, created.text
    job_id = created.json["id"]
    one = client.simulate_get(f"/v1/jobs/{job_id}")
    every = client.simulate_get("/v1/jobs")

    assert one.status_code == 200 and every.status_code == 200
    for response in (created, one, every):
        assert secret not in response.text
    shown = one.json["http_job"]["auth"]
    assert shown == {**auth, secret_field: "***"}
    assert every.json[0]["http_job"]["auth"] == shown
    assert created.json["http_job"]["auth"] == shown


def test_an_amqp_connection_password_is_shown_as_stars_and_never_in_clear(client):
    created = client.simulate_post("/v1/jobs", json=amqp_job())
    assert created.status_code == 201, created.text
    job_id = created.json["id"]
    one = client.simulate_get(f"/v1/jobs/{job_id}")
    every = client.simulate_get("/v1/jobs")

    assert one.status_code == 200 and every.status_code == 200
    for response in (created, one, every):
        assert AMQP_PASSWORD not in response.text
    assert created.json["amqp_job"]["connection"] == AMQP_URL_SHOWN
    assert one.json["amqp_job"]["connection"] == AMQP_URL_SHOWN
    assert every.json[0]["amqp_job"]["connection"] == AMQP_URL_SHOWN


# --- client mistakes never give a 500 ------------------------------------------------


def _with_http(**fields) -> str:
    return json.dumps(http_job(http_job=http_payload(**fields)))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"type": "HTTP", ', "malformed JSON"),
        ("", "request body must be a JSON object"),
        ("   \n", "request body must be a JSON object"),
        ("[]", "request body must be a JSON object"),
        ("null", "request body must be a JSON object"),
        ('"a job"', "request body must be a JSON object"),
        (b"\xff\xfe{}", "malformed JSON"),
        (lambda: json.dumps(http_job(http_job="x")), "http_job must be a JSON object"),
        (lambda: json.dumps(http_job(tags="a")), "tags must be an array of non-empty strings"),
        (lambda: json.dumps(http_job(tags=[1])), "tags must be an array of non-empty strings"),
        (lambda: _with_http(valid_response_codes=["200"]), "valid_response_codes"),
        (lambda: _with_http(headers=["X-A: b"]), "HTTP job headers"),
        (lambda: _with_http(method=7), "HTTP job method must be a string"),
        (lambda: _with_http(auth={"type": "basic"}), "username must be defined"),
        (lambda: json.dumps(http_job(execute_at=123)), "execute_at must be an RFC 3339"),
        (lambda: json.dumps(http_job(execute_at="tomorrow")), "execute_at is not an RFC 3339"),
        (lambda: json.dumps(http_job(execute_at="2099-01-01T09:00:00")), "UTC offset"),
        (lambda: json.dumps(http_job(type="SMTP")), "job type must be either HTTP or AMQP"),
        (lambda: json.dumps(http_job(cron_schedule="@hourly")), "only one of execute_at"),
        (lambda: json.dumps(http_job(timezone="Mars/Olympus")), "timezone"),
        (lambda: json.dumps(amqp_job(amqp_job={"connection": 5})), "AMQP connection"),
    ],
    ids=[
        "malformed",
        "empty",
        "blank",
        "array",
        "null",
        "string",
        "not-utf8",
        "http_job-string",
        "tags-string",
        "tags-number",
        "codes-strings",
        "headers-list",
        "method-number",
        "basic-without-user",
        "execute_at-number",
        "execute_at-words",
        "execute_at-naive",
        "type",
        "two-schedules",
        "timezone",
        "connection-number",
    ],
)
def test_a_malformed_or_invalid_job_is_400_with_a_json_error(client, raw, message):
    body = raw() if callable(raw) else raw

    response = client.simulate_post("/v1/jobs", body=body)

    assert message in error_of(response, 400)
    assert listed(client) == []


def test_a_body_over_one_mebibyte_is_413(client):
    body = json.dumps(http_job(http_job=http_payload(body="x" * (1024 * 1024 + 1))))

    response = client.simulate_post("/v1/jobs", body=body)

    error_of(response, 413)
    assert listed(client) == []


def test_an_unknown_route_is_a_json_404(client):
    error_of(client.simulate_get("/v2/nothing-here"), 404)


def test_an_unsupported_method_is_a_json_405(client):
    response = client.simulate_patch("/v1/jobs", json={"tags": ["x"]})

    error_of(response, 405)
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["allow"].split(",")}


# Inputs that pass validation but that JSON parsing, URL parsing, PostgreSQL or
# croniter cannot take: each must be refused as the client's mistake, not crash.
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        json.dumps(http_job(tags=["a\u0000b"])),
        json.dumps(http_job(tags=["\ud800"])),
        json.dumps(http_job(http_job=http_payload(body="nul \u0000 inside"))),
        json.dumps(amqp_job()).replace('"x-kind": "test"', '"x-kind": NaN'),
        json.dumps(http_job(http_job=http_payload(url="http://[::1/hook"))),
        json.dumps(http_job(execute_at=None, cron_schedule="0 0 31 2 *")),
    ],
    ids=[
        "deeply-nested-json",
        "nul-in-tag",
        "lone-surrogate-in-tag",
        "nul-in-http-body",
        "nan-in-amqp-headers",
        "unbalanced-ipv6-url",
        "cron-that-never-fires",
    ],
)
def test_input_the_store_cannot_take_is_refused_as_a_client_error(client, raw):
    response = client.simulate_post("/v1/jobs", body=raw)

    assert response.status_code in (400, 422), response.text
    error_of(response, response.status_code)
    assert listed(client) == []


@pytest.mark.parametrize(
    "body",
    [
        amqp_job(amqp_job=amqp_payload(connection="amqp://user:pw@rabbit.example:99999/v")),
        amqp_job(amqp_job=amqp_payload(connection="amqp://user:pw@rabbit.example:abc/v")),
        http_job(execute_at="9999-12-31T23:30:00-01:00"),
    ],
    ids=["amqp-port-out-of-range", "amqp-port-not-a-number", "execute_at-after-year-9999-utc"],
)
def test_a_job_that_cannot_be_shown_is_refused_and_does_not_break_the_list(client, body):
    response = client.simulate_post("/v1/jobs", json=body)

    # Checked first: a stored job that cannot be rendered breaks the list for everyone.
    assert listed(client) == []
    assert response.status_code in (400, 422), response.text
    error_of(response, response.status_code)


def test_a_redacted_amqp_url_with_a_bad_port_in_an_update_is_refused(client):
    created = create(client, amqp_job())
    bad = amqp_payload(connection="amqp://user:***@rabbit.example:99999/vhost")

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"amqp": bad})

    assert response.status_code in (400, 422), response.text
    error_of(response, response.status_code)
    assert get(client, created["id"]) == created


@pytest.mark.parametrize("query", ["limit=%C2%B2", "offset=%C2%B2"], ids=["limit", "offset"])
def test_a_non_ascii_digit_as_a_paging_number_is_400(client, query):
    error_of(client.simulate_get("/v1/jobs", query_string=query), 400)


def test_a_tag_filter_with_a_nul_character_is_not_a_500(client):
    create(client, http_job(tags=["a"]))

    response = client.simulate_get("/v1/jobs", query_string="tags=a%00b")

    if response.status_code == 200:
        assert response.json == []
    else:
        error_of(response, 400)


# --- health --------------------------------------------------------------------------


def test_health_is_200_ok_when_the_database_answers(client):
    response = client.simulate_get("/health")

    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_health_is_503_with_a_json_body_when_the_database_is_unreachable(unreachable_client):
    response = unreachable_client.simulate_get("/health")

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(response.text)
    assert isinstance(body, dict)
    assert body["status"] != "ok"


def test_job_requests_are_a_json_503_when_the_database_is_unreachable(unreachable_client):
    error_of(unreachable_client.simulate_get("/v1/jobs"), 503)
    error_of(unreachable_client.simulate_post("/v1/jobs", json=http_job()), 503)
    error_of(unreachable_client.simulate_get(f"/v1/jobs/{uuid.uuid4()}"), 503)

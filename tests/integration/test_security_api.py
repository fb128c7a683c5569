"""Security of the API (issue 5) over a real, freshly migrated PostgreSQL database:
API keys, secrets sealed at rest and never shown, body and payload limits, and
re-sealing under a rotated key."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest

import api
from app.jobs.models import Job
from app.jobs.store import reseal_all
from app.secrets.redaction import merge_secrets
from app.secrets.sealing import SealingError, SecretBox, generate_key
from tests.integration import api_calls
from tests.integration.api_calls import error_of, http_payload, in_hours

API_KEY = "api-key-one-Wq83r"
OTHER_API_KEY = "api-key-two-Ty62p"

BASIC_PASSWORD = "basic-pw-Hn47c"
BEARER_TOKEN = "bearer-tok-Jd90s"
AUTH_HEADER = "Token auth-hdr-Lk25m"
MARKED_HEADER = "marked-hdr-Pz13x"
URL_PASSWORD = "url-pw-Cv58b"
AMQP_PASSWORD = "amqp-pw-Gr71e"
AMQP_URL = f"amqp://user:{AMQP_PASSWORD}@rabbit.example:5672/vhost"
AMQP_URL_SHOWN = "amqp://user:***@rabbit.example:5672/vhost"

EVERY_SECRET = (
    BASIC_PASSWORD,
    BEARER_TOKEN,
    AUTH_HEADER,
    MARKED_HEADER,
    URL_PASSWORD,
    AMQP_PASSWORD,
)


# --- helpers -------------------------------------------------------------------------


def http_job(**payload_overrides) -> dict:
    return api_calls.http_job(http_job=http_payload(**payload_overrides))


def basic_job() -> dict:
    """An HTTP job with a secret in every place but the bearer token."""
    return http_job(
        url=f"http://hook-user:{URL_PASSWORD}@example.com/hook",
        headers={
            "Authorization": AUTH_HEADER,
            "X-Marked": MARKED_HEADER,
            "X-Source": "tests",
        },
        secret_headers=["X-Marked"],
        auth={"type": "basic", "username": "alice", "password": BASIC_PASSWORD},
    )


BASIC_JOB_SECRETS = {
    "http.auth.password": BASIC_PASSWORD,
    "http.headers.authorization": AUTH_HEADER,
    "http.headers.x-marked": MARKED_HEADER,
    "http.url": URL_PASSWORD,
}


def bearer_job() -> dict:
    return http_job(auth={"type": "bearer", "bearer_token": BEARER_TOKEN})


def amqp_job() -> dict:
    return {
        "type": "AMQP",
        "execute_at": in_hours(),
        "amqp_job": {
            "connection": AMQP_URL,
            "exchange": "jobs",
            "routing_key": "jobs.run",
            "body": "hello",
        },
    }


def create(client, body: dict, **kwargs) -> dict:
    response = client.simulate_post("/v1/jobs", json=body, **kwargs)
    assert response.status_code == 201, response.text
    return response.json


def stored(db, job_id) -> Job:
    with db.connection_context():
        return Job.get_by_id(uuid.UUID(str(job_id)))


def all_rows(db) -> list[Job]:
    with db.connection_context():
        return list(Job.select().order_by(Job.id))


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def body_of_size(size: int) -> str:
    """A JSON job exactly `size` bytes long."""
    body = http_job(body="")
    padding = size - len(json.dumps(body))
    assert padding >= 0
    body["http_job"]["body"] = "x" * padding
    text = json.dumps(body)
    assert len(text.encode()) == size
    return text


@pytest.fixture
def keyed_client(db, secret_box):
    return falcon.testing.TestClient(
        api.create_app(db, box=secret_box, api_keys=(API_KEY, OTHER_API_KEY))
    )


@pytest.fixture
def keyless_box_client(db):
    """The API with no secret key configured."""
    return falcon.testing.TestClient(api.create_app(db))


# --- API keys --------------------------------------------------------------------------

ANY_ID = "00000000-0000-4000-8000-000000000001"
PROTECTED = [
    ("GET", "/v1/jobs"),
    ("POST", "/v1/jobs"),
    ("GET", f"/v1/jobs/{ANY_ID}"),
    ("PUT", f"/v1/jobs/{ANY_ID}"),
    ("DELETE", f"/v1/jobs/{ANY_ID}"),
    ("GET", f"/v1/jobs/{ANY_ID}/executions"),
    ("POST", f"/v1/jobs/{ANY_ID}/pause"),
    ("POST", f"/v1/jobs/{ANY_ID}/resume"),
    ("POST", f"/v1/jobs/{ANY_ID}/run"),
    ("GET", "/v1/executions/1"),
    ("POST", "/v1/schedules/preview"),
    ("GET", "/v2/no-such-route"),
]
BAD_CREDENTIALS = {
    "none": {},
    "wrong-key": bearer("not-the-key"),
    "empty-bearer": {"Authorization": "Bearer "},
    "basic-scheme": {"Authorization": f"Basic {API_KEY}"},
    "token-scheme": {"Authorization": f"Token {API_KEY}"},
    "key-alone": {"Authorization": API_KEY},
    "key-prefix": bearer(API_KEY[:-1]),
    "key-extended": bearer(API_KEY + "x"),
    "both-keys": bearer(f"{API_KEY},{OTHER_API_KEY}"),
}


def _simulate(client, method: str, path: str, headers: dict):
    body = None
    if method in ("POST", "PUT"):
        body = json.dumps(http_job()) if "preview" not in path else '{"cron_schedule": "@daily"}'
    return client.simulate_request(method, path, headers=headers, body=body)


REFUSED_ON_EVERY_ROUTE = ("none", "wrong-key", "basic-scheme")


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
@pytest.mark.parametrize("credentials", REFUSED_ON_EVERY_ROUTE)
def test_with_api_keys_every_route_but_health_is_401_without_the_right_key(
    keyed_client, method, path, credentials
):
    response = _simulate(keyed_client, method, path, BAD_CREDENTIALS[credentials])

    assert "API key" in error_of(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_with_api_keys_anything_but_bearer_and_an_exact_key_is_401(keyed_client, credentials):
    response = keyed_client.simulate_get("/v1/jobs", headers=credentials)

    assert "API key" in error_of(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("key", [API_KEY, OTHER_API_KEY], ids=["first", "second"])
def test_either_configured_api_key_lets_a_client_create_read_and_list_jobs(keyed_client, key):
    created = create(keyed_client, http_job(), headers=bearer(key))

    one = keyed_client.simulate_get(f"/v1/jobs/{created['id']}", headers=bearer(key))
    every = keyed_client.simulate_get("/v1/jobs", headers=bearer(key))

    assert one.status_code == 200, one.text
    assert one.json["id"] == created["id"]
    assert [job["id"] for job in every.json] == [created["id"]]


@pytest.mark.parametrize(
    "header",
    [f"bearer {API_KEY}", f"BEARER {API_KEY}", f"Bearer   {API_KEY}  "],
    ids=["lowercase-scheme", "uppercase-scheme", "extra-spaces"],
)
def test_the_bearer_scheme_is_case_insensitive_and_spaces_around_the_key_are_ignored(
    keyed_client, header
):
    response = keyed_client.simulate_get("/v1/jobs", headers={"Authorization": header})
    assert response.status_code == 200, response.text


def test_a_request_refused_for_its_key_changes_nothing(keyed_client):
    created = create(keyed_client, http_job(), headers=bearer(API_KEY))

    deleted = keyed_client.simulate_delete(
        f"/v1/jobs/{created['id']}", headers=bearer("not-the-key")
    )
    posted = keyed_client.simulate_post("/v1/jobs", json=http_job())

    error_of(deleted, 401)
    error_of(posted, 401)
    every = keyed_client.simulate_get("/v1/jobs", headers=bearer(API_KEY)).json
    assert [job["id"] for job in every] == [created["id"]]


@pytest.mark.parametrize("credentials", [{}, bearer("not-the-key")], ids=["none", "wrong"])
def test_health_answers_without_a_key_when_keys_are_configured(keyed_client, credentials):
    response = keyed_client.simulate_get("/health", headers=credentials)
    assert response.status_code == 200, response.text


def test_without_api_keys_every_route_is_open(client):
    created = create(client, http_job())
    job_id = created["id"]

    answers = {
        "list": client.simulate_get("/v1/jobs"),
        "get": client.simulate_get(f"/v1/jobs/{job_id}"),
        "put": client.simulate_put(f"/v1/jobs/{job_id}", json={"tags": ["x"]}),
        "executions": client.simulate_get(f"/v1/jobs/{job_id}/executions"),
        "pause": client.simulate_post(f"/v1/jobs/{job_id}/pause"),
        "resume": client.simulate_post(f"/v1/jobs/{job_id}/resume"),
        "run": client.simulate_post(f"/v1/jobs/{job_id}/run"),
        "preview": client.simulate_post("/v1/schedules/preview", json={"cron_schedule": "@daily"}),
        "health": client.simulate_get("/health"),
        "delete": client.simulate_delete(f"/v1/jobs/{job_id}"),
    }

    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "list": 200,
        "get": 200,
        "put": 200,
        "executions": 200,
        "pause": 200,
        "resume": 200,
        "run": 202,
        "preview": 200,
        "health": 200,
        "delete": 204,
    }


def test_without_api_keys_a_bearer_header_is_ignored(client):
    response = client.simulate_get("/v1/jobs", headers=bearer("anything"))
    assert response.status_code == 200, response.text


# --- secrets sealed at rest ------------------------------------------------------------


def test_http_secrets_are_stored_as_stars_and_sealed_apart(client, db, secret_box):
    created = create(client, basic_job())

    row = stored(db, created["id"])

    assert row.http_job["url"] == "http://hook-user:***@example.com/hook"
    assert row.http_job["auth"] == {"type": "basic", "username": "alice", "password": "***"}
    assert row.http_job["headers"] == {
        "Authorization": "***",
        "X-Marked": "***",
        "X-Source": "tests",
    }
    for secret in EVERY_SECRET:
        assert secret not in str(row.http_job)
    assert row.secrets is not None
    for secret in EVERY_SECRET:
        assert secret.encode() not in bytes(row.secrets)
    assert secret_box.open(row.secrets) == BASIC_JOB_SECRETS


def test_a_bearer_token_is_stored_as_stars_and_sealed_apart(client, db, secret_box):
    created = create(client, bearer_job())

    row = stored(db, created["id"])

    assert row.http_job["auth"] == {"type": "bearer", "bearer_token": "***"}
    assert BEARER_TOKEN not in str(row.http_job)
    assert secret_box.open(row.secrets) == {"http.auth.bearer_token": BEARER_TOKEN}


def test_an_amqp_url_password_is_stored_as_stars_and_sealed_apart(client, db, secret_box):
    created = create(client, amqp_job())

    row = stored(db, created["id"])

    assert row.amqp_job["connection"] == AMQP_URL_SHOWN
    assert AMQP_PASSWORD not in str(row.amqp_job)
    assert row.http_job is None
    assert secret_box.open(row.secrets) == {"amqp.connection": AMQP_PASSWORD}


def test_opening_the_sealed_secrets_gives_back_the_job_as_it_was_sent(client, db, secret_box):
    sent = basic_job()["http_job"]
    created = create(client, {**basic_job(), "http_job": sent})

    row = stored(db, created["id"])
    http, amqp = merge_secrets(row.http_job, row.amqp_job, secret_box.open(row.secrets))

    assert amqp is None
    assert http["url"] == sent["url"]
    assert http["auth"] == sent["auth"]
    assert http["headers"] == sent["headers"]


def test_a_job_without_secrets_stores_no_sealed_token(client, db):
    created = create(client, http_job())
    assert stored(db, created["id"]).secrets is None


@pytest.mark.parametrize("body", [basic_job, bearer_job, amqp_job], ids=["basic", "bearer", "amqp"])
def test_no_answer_of_the_api_ever_contains_a_secret(client, body):
    created = client.simulate_post("/v1/jobs", json=body())
    assert created.status_code == 201, created.text
    job_id = created.json["id"]

    answers = [
        created,
        client.simulate_get(f"/v1/jobs/{job_id}"),
        client.simulate_get("/v1/jobs"),
        client.simulate_put(f"/v1/jobs/{job_id}", json={"tags": ["edited"]}),
        client.simulate_post(f"/v1/jobs/{job_id}/pause"),
        client.simulate_post(f"/v1/jobs/{job_id}/resume"),
        client.simulate_post(f"/v1/jobs/{job_id}/run"),
    ]

    for response in answers:
        assert response.status_code < 300, response.text
        for secret in EVERY_SECRET:
            assert secret not in response.text
    assert "***" in answers[1].text


def test_the_api_shows_every_secret_of_an_http_job_as_stars(client):
    created = create(client, basic_job())

    shown = client.simulate_get(f"/v1/jobs/{created['id']}").json["http_job"]

    assert shown["url"] == "http://hook-user:***@example.com/hook"
    assert shown["auth"]["password"] == "***"
    assert shown["headers"]["Authorization"] == "***"
    assert shown["headers"]["X-Marked"] == "***"
    assert shown["headers"]["X-Source"] == "tests"


@pytest.mark.parametrize("body", [basic_job, bearer_job, amqp_job], ids=["basic", "bearer", "amqp"])
def test_a_job_with_secrets_is_refused_without_a_secret_key_saying_how_to_set_one(
    keyless_box_client, db, body
):
    response = keyless_box_client.simulate_post("/v1/jobs", json=body())

    message = error_of(response, 400)
    assert "SCHEDULER_SECRET_KEY" in message
    assert "scheduler keygen" in message
    for secret in EVERY_SECRET:
        assert secret not in message
    assert all_rows(db) == []


def test_a_job_without_secrets_is_accepted_without_a_secret_key(keyless_box_client, db):
    created = create(keyless_box_client, http_job())

    assert created["http_job"]["url"] == "http://example.com/hook"
    assert stored(db, created["id"]).secrets is None


def test_adding_a_secret_in_an_update_without_a_secret_key_is_refused(keyless_box_client, db):
    created = create(keyless_box_client, http_job())

    response = keyless_box_client.simulate_put(
        f"/v1/jobs/{created['id']}",
        json={"http": http_payload(auth={"type": "bearer", "bearer_token": BEARER_TOKEN})},
    )

    assert "SCHEDULER_SECRET_KEY" in error_of(response, 400)
    row = stored(db, created["id"])
    assert row.secrets is None
    assert row.http_job["auth"] == {"type": "none"}


# --- PUT keeps sealed secrets ----------------------------------------------------------


def test_a_put_sending_back_every_star_keeps_every_sealed_secret(client, db, secret_box):
    created = create(client, basic_job())
    shown = client.simulate_get(f"/v1/jobs/{created['id']}").json["http_job"]
    shown["body"] = "edited"
    shown["headers"]["X-Source"] = "edited"

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"http": shown})

    assert response.status_code == 200, response.text
    row = stored(db, created["id"])
    assert row.http_job["body"] == "edited"
    assert row.http_job["headers"]["X-Source"] == "edited"
    assert row.http_job["headers"]["Authorization"] == "***"
    assert secret_box.open(row.secrets) == BASIC_JOB_SECRETS


def test_a_put_with_a_starred_amqp_url_keeps_the_sealed_password(client, db, secret_box):
    created = create(client, amqp_job())
    shown = client.simulate_get(f"/v1/jobs/{created['id']}").json["amqp_job"]
    shown["routing_key"] = "jobs.edited"

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"amqp": shown})

    assert response.status_code == 200, response.text
    row = stored(db, created["id"])
    assert row.amqp_job["routing_key"] == "jobs.edited"
    assert row.amqp_job["connection"] == AMQP_URL_SHOWN
    assert secret_box.open(row.secrets) == {"amqp.connection": AMQP_PASSWORD}


def test_a_put_that_does_not_touch_the_payload_keeps_the_sealed_secrets(client, db, secret_box):
    created = create(client, basic_job())

    response = client.simulate_put(
        f"/v1/jobs/{created['id']}", json={"tags": ["a"], "cron_schedule": "@hourly"}
    )

    assert response.status_code == 200, response.text
    assert secret_box.open(stored(db, created["id"]).secrets) == BASIC_JOB_SECRETS


def test_a_put_with_one_new_secret_replaces_only_that_one(client, db, secret_box):
    created = create(client, basic_job())
    shown = client.simulate_get(f"/v1/jobs/{created['id']}").json["http_job"]
    shown["headers"]["X-Marked"] = "a-new-marked-value"

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"http": shown})

    assert response.status_code == 200, response.text
    assert "a-new-marked-value" not in response.text
    row = stored(db, created["id"])
    assert "a-new-marked-value" not in str(row.http_job)
    assert secret_box.open(row.secrets) == {
        **BASIC_JOB_SECRETS,
        "http.headers.x-marked": "a-new-marked-value",
    }


def test_a_put_removing_every_secret_drops_the_sealed_token(client, db):
    created = create(client, bearer_job())

    response = client.simulate_put(
        f"/v1/jobs/{created['id']}", json={"http": http_payload(auth={"type": "none"})}
    )

    assert response.status_code == 200, response.text
    assert stored(db, created["id"]).secrets is None


# --- limits ----------------------------------------------------------------------------


@pytest.fixture
def small_body_client(db, secret_box):
    return falcon.testing.TestClient(api.create_app(db, box=secret_box, max_body_bytes=2048))


def test_a_body_over_the_configured_limit_is_413_and_stores_nothing(small_body_client, db):
    response = small_body_client.simulate_post("/v1/jobs", body=body_of_size(3000))

    error_of(response, 413)
    assert all_rows(db) == []


def test_a_body_within_the_configured_limit_is_accepted(small_body_client):
    response = small_body_client.simulate_post("/v1/jobs", body=body_of_size(2048))
    assert response.status_code == 201, response.text


def test_an_update_over_the_configured_limit_is_413_and_changes_nothing(small_body_client, db):
    created = create(small_body_client, http_job())

    response = small_body_client.simulate_put(f"/v1/jobs/{created['id']}", body=body_of_size(3000))

    error_of(response, 413)
    assert stored(db, created["id"]).http_job["body"] == '{"ping": true}'


def test_a_preview_over_the_configured_limit_is_413(small_body_client):
    body = json.dumps({"cron_schedule": "@daily", "padding": "x" * 3000})
    error_of(small_body_client.simulate_post("/v1/schedules/preview", body=body), 413)


def _headers(count: int) -> dict:
    return {f"X-H{i}": "v" for i in range(count)}


def test_fifty_headers_are_accepted(client):
    create(client, http_job(headers=_headers(50)))


def test_fifty_one_headers_are_400(client, db):
    response = client.simulate_post("/v1/jobs", json=http_job(headers=_headers(51)))

    assert "at most 50 headers" in error_of(response, 400)
    assert all_rows(db) == []


def test_fifty_one_amqp_headers_are_400(client):
    body = amqp_job()
    body["amqp_job"]["headers"] = _headers(51)
    assert "at most 50 headers" in error_of(client.simulate_post("/v1/jobs", json=body), 400)


def test_a_header_value_of_8192_characters_is_accepted(client):
    create(client, http_job(headers={"X-Long": "v" * 8192}))


def test_a_header_value_over_8192_characters_is_400(client, db):
    response = client.simulate_post("/v1/jobs", json=http_job(headers={"X-Long": "v" * 8193}))

    assert "8192" in error_of(response, 400)
    assert all_rows(db) == []


def test_a_body_of_256_kib_is_accepted(client):
    create(client, http_job(body="b" * 256 * 1024))


def test_a_job_body_over_256_kib_is_400(client, db):
    response = client.simulate_post("/v1/jobs", json=http_job(body="b" * (256 * 1024 + 1)))

    assert str(256 * 1024) in error_of(response, 400)
    assert all_rows(db) == []


def test_an_amqp_body_over_256_kib_is_400(client):
    body = amqp_job()
    body["amqp_job"]["body"] = "b" * (256 * 1024 + 1)
    error_of(client.simulate_post("/v1/jobs", json=body), 400)


def test_an_update_over_the_payload_limits_is_400_and_changes_nothing(client, db):
    created = create(client, http_job())

    response = client.simulate_put(
        f"/v1/jobs/{created['id']}", json={"http": http_payload(headers=_headers(51))}
    )

    error_of(response, 400)
    assert stored(db, created["id"]).http_job["headers"] == {"X-Source": "tests"}


# --- re-sealing under a rotated key ----------------------------------------------------


def _legacy_row(db) -> uuid.UUID:
    """A job written before sealing existed: secrets in clear in the payload."""
    now = datetime.now(UTC)
    job_id = uuid.uuid4()
    with db.connection_context():
        Job.create(
            id=job_id,
            type="HTTP",
            status="RUNNING",
            execute_at=now + timedelta(hours=1),
            http_job={
                "url": "http://example.com/legacy",
                "method": "POST",
                "headers": {"Cookie": "legacy-cookie-Ux04"},
                "auth": {"type": "basic", "username": "old", "password": "legacy-pw-Bn66"},
            },
            secrets=None,
            tags=[],
            next_run=now + timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
    return job_id


def _reseal(db, box: SecretBox, **kwargs) -> tuple[int, int]:
    with db.connection_context():
        return reseal_all(db, box, **kwargs)


@pytest.fixture
def rotation(db):
    """Jobs sealed under key A through the API, one job without secrets, one legacy row."""
    key_a, key_b = generate_key(), generate_key()
    client_a = falcon.testing.TestClient(api.create_app(db, box=SecretBox((key_a,))))
    jobs = {
        "basic": create(client_a, basic_job())["id"],
        "bearer": create(client_a, bearer_job())["id"],
        "amqp": create(client_a, amqp_job())["id"],
        "plain": create(client_a, http_job())["id"],
        "legacy": str(_legacy_row(db)),
    }
    return key_a, key_b, jobs


def test_a_legacy_row_with_secrets_in_clear_is_shown_with_stars_before_resealing(client, db):
    job_id = _legacy_row(db)

    one = client.simulate_get(f"/v1/jobs/{job_id}")
    every = client.simulate_get("/v1/jobs")

    assert one.status_code == 200, one.text
    for response in (one, every):
        assert "legacy-pw-Bn66" not in response.text
        assert "legacy-cookie-Ux04" not in response.text
    assert one.json["http_job"]["auth"]["password"] == "***"
    assert one.json["http_job"]["headers"] == {"Cookie": "***"}


def test_a_put_on_a_legacy_row_seals_its_secrets(client, db, secret_box):
    job_id = _legacy_row(db)
    shown = client.simulate_get(f"/v1/jobs/{job_id}").json["http_job"]
    shown["body"] = "edited"

    response = client.simulate_put(f"/v1/jobs/{job_id}", json={"http": shown})

    assert response.status_code == 200, response.text
    row = stored(db, job_id)
    assert "legacy-pw-Bn66" not in str(row.http_job)
    assert secret_box.open(row.secrets) == {
        "http.auth.password": "legacy-pw-Bn66",
        "http.headers.cookie": "legacy-cookie-Ux04",
    }


def test_resealing_with_a_new_key_in_front_lets_the_new_key_alone_open_every_job(db, rotation):
    key_a, key_b, jobs = rotation

    counts = _reseal(db, SecretBox((key_b, key_a)))

    assert counts == (3, 1)
    only_b, only_a = SecretBox((key_b,)), SecretBox((key_a,))
    assert only_b.open(stored(db, jobs["basic"]).secrets) == BASIC_JOB_SECRETS
    assert only_b.open(stored(db, jobs["bearer"]).secrets) == {
        "http.auth.bearer_token": BEARER_TOKEN
    }
    assert only_b.open(stored(db, jobs["amqp"]).secrets) == {"amqp.connection": AMQP_PASSWORD}
    for name in ("basic", "bearer", "amqp", "legacy"):
        with pytest.raises(SealingError):
            only_a.open(stored(db, jobs[name]).secrets)


def test_resealing_seals_the_secrets_of_a_legacy_row_kept_in_clear(db, rotation):
    key_a, key_b, jobs = rotation

    _reseal(db, SecretBox((key_b, key_a)))

    row = stored(db, jobs["legacy"])
    assert row.http_job["auth"] == {"type": "basic", "username": "old", "password": "***"}
    assert row.http_job["headers"] == {"Cookie": "***"}
    assert "legacy-pw-Bn66" not in str(row.http_job)
    assert "legacy-cookie-Ux04" not in str(row.http_job)
    assert SecretBox((key_b,)).open(row.secrets) == {
        "http.auth.password": "legacy-pw-Bn66",
        "http.headers.cookie": "legacy-cookie-Ux04",
    }


def test_resealing_leaves_a_job_without_secrets_alone(db, rotation):
    key_a, key_b, jobs = rotation
    before = stored(db, jobs["plain"])

    _reseal(db, SecretBox((key_b, key_a)))

    after = stored(db, jobs["plain"])
    assert after.secrets is None
    assert after.http_job == before.http_job
    assert after.updated_at == before.updated_at


def test_resealing_keeps_the_starred_payloads_as_they_were(db, rotation):
    key_a, key_b, jobs = rotation
    before = {name: stored(db, jobs[name]) for name in ("basic", "bearer", "amqp")}

    _reseal(db, SecretBox((key_b, key_a)))

    for name, row in before.items():
        after = stored(db, jobs[name])
        assert (after.http_job, after.amqp_job) == (row.http_job, row.amqp_job)
        assert bytes(after.secrets) != bytes(row.secrets)


def test_resealing_again_counts_every_sealed_job_and_no_legacy_one(db, rotation):
    key_a, key_b, _ = rotation
    _reseal(db, SecretBox((key_b, key_a)))

    assert _reseal(db, SecretBox((key_b,))) == (4, 0)


def test_resealing_in_small_batches_reaches_every_row_and_counts_right(db, rotation):
    key_a, key_b, jobs = rotation

    assert _reseal(db, SecretBox((key_b, key_a)), batch=2) == (3, 1)

    only_b = SecretBox((key_b,))
    for name in ("basic", "bearer", "amqp", "legacy"):
        assert only_b.open(stored(db, jobs[name]).secrets)


def test_resealed_jobs_are_shown_and_updated_through_the_api_under_the_new_key(db, rotation):
    key_a, key_b, jobs = rotation
    _reseal(db, SecretBox((key_b, key_a)))
    client_b = falcon.testing.TestClient(api.create_app(db, box=SecretBox((key_b,))))

    shown = client_b.simulate_get(f"/v1/jobs/{jobs['legacy']}")
    assert shown.status_code == 200, shown.text
    assert "legacy-pw-Bn66" not in shown.text
    http = shown.json["http_job"]
    http["body"] = "after rotation"
    response = client_b.simulate_put(f"/v1/jobs/{jobs['legacy']}", json={"http": http})

    assert response.status_code == 200, response.text
    assert (
        SecretBox((key_b,)).open(stored(db, jobs["legacy"]).secrets)["http.auth.password"]
        == "legacy-pw-Bn66"
    )

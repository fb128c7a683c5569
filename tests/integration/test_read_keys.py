"""Read-only API keys (SCHEDULER_API_READ_KEYS) over real PostgreSQL: such a key
reads everything and changes nothing, on every route the API describes."""

import falcon.testing
import pytest

import api
from api.openapi import document
from app.config import ConfigError, load_config
from tests.integration.api_calls import concrete, error_of, http_job

WRITE_KEY = "write-key-Ab12c"
READ_KEY = "read-key-Xy34z"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed(db, secret_box):
    app = api.create_app(db, box=secret_box, api_keys=(WRITE_KEY,), api_read_keys=(READ_KEY,))
    return falcon.testing.TestClient(app)


WRITING = sorted(
    (method.upper(), concrete(path))
    for path, operations in document()["paths"].items()
    for method in operations
    if method != "get"
)
READING = sorted(
    concrete(path)
    for path, operations in document()["paths"].items()
    if "get" in operations and "{" not in path
)


def test_every_writing_route_is_described_as_such():
    assert len(WRITING) == 15  # jobs, their actions, bulk, dead letters, flow controls, preview
    assert ("POST", "/v1/jobs") in WRITING and ("PUT", "/v1/flow-controls/a-key") in WRITING


@pytest.mark.parametrize(("method", "path"), WRITING, ids=[f"{m} {p}" for m, p in WRITING])
def test_a_read_key_is_refused_on_every_writing_route_with_403(keyed, method, path):
    response = keyed.simulate_request(method, path, headers=bearer(READ_KEY), json={})
    message = error_of(response, 403)
    assert message == (
        f"this API key may only read (GET); {method} {path} needs a key of SCHEDULER_API_KEYS"
    )


@pytest.mark.parametrize("path", READING)
def test_a_read_key_reads_every_list(keyed, path):
    response = keyed.simulate_get(path, headers=bearer(READ_KEY))
    assert response.status_code == 200, response.text


def test_a_read_key_reads_a_job_and_changes_nothing_while_a_write_key_does(keyed):
    created = keyed.simulate_post("/v1/jobs", json=http_job(), headers=bearer(WRITE_KEY))
    assert created.status_code == 201, created.text
    job_id = created.json["id"]
    read = keyed.simulate_get(f"/v1/jobs/{job_id}", headers=bearer(READ_KEY))
    assert read.json["id"] == job_id
    error_of(keyed.simulate_delete(f"/v1/jobs/{job_id}", headers=bearer(READ_KEY)), 403)
    error_of(keyed.simulate_post(f"/v1/jobs/{job_id}/pause", headers=bearer(READ_KEY)), 403)
    assert keyed.simulate_get(f"/v1/jobs/{job_id}", headers=bearer(WRITE_KEY)).json["status"] == (
        "RUNNING"
    )


def test_access_says_what_the_key_may_do(keyed, client):
    assert keyed.simulate_get("/v1/access", headers=bearer(READ_KEY)).json == {"access": "read"}
    assert keyed.simulate_get("/v1/access", headers=bearer(WRITE_KEY)).json == {"access": "write"}
    error_of(keyed.simulate_get("/v1/access"), 401)
    assert client.simulate_get("/v1/access").json == {"access": "write"}  # an open API


def test_read_keys_alone_protect_the_api(db, secret_box):
    app = api.create_app(db, box=secret_box, api_read_keys=(READ_KEY,))
    reader = falcon.testing.TestClient(app)
    error_of(reader.simulate_get("/v1/jobs"), 401)
    assert reader.simulate_get("/v1/jobs", headers=bearer(READ_KEY)).status_code == 200
    error_of(reader.simulate_post("/v1/jobs", json=http_job(), headers=bearer(READ_KEY)), 403)


def test_a_key_in_both_lists_stops_startup_naming_the_option():
    environ = {"SCHEDULER_API_KEYS": "same,other", "SCHEDULER_API_READ_KEYS": "same"}
    with pytest.raises(ConfigError) as raised:
        load_config(environ=environ)
    assert str(raised.value) == (
        "invalid value *** for --api-read-keys (SCHEDULER_API_READ_KEYS): "
        "a key may not also be in api-keys"
    )
    assert load_config(environ={"SCHEDULER_API_READ_KEYS": "r1, r2"}).api_read_keys == (
        "r1",
        "r2",
    )

"""X-Request-Id on every answer of the real API, the client's own when sane."""

import re

import falcon.testing
import pytest

import api
from tests.integration.api_calls import http_job

FRESH = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/jobs", 200),
        ("GET", "/v1/jobs/00000000-0000-4000-8000-000000000001", 404),
        ("POST", "/v1/jobs", 400),
        ("GET", "/health", 200),
        ("GET", "/v2/nothing", 404),
    ],
)
def test_every_answer_carries_a_fresh_id_errors_too(client, method, path, status):
    response = client.simulate_request(method, path, body="{}" if method == "POST" else None)
    assert response.status_code == status
    assert FRESH.match(response.headers["x-request-id"])


def test_each_request_gets_its_own(client):
    ids = {client.simulate_get("/v1/jobs").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("given", ["req-42", "7f3a/b:c@d=e+f", "a" * 128])
def test_a_sane_id_from_the_client_is_kept(client, given):
    response = client.simulate_post("/v1/jobs", json=http_job(), headers={"X-Request-Id": given})
    assert response.status_code == 201
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "a" * 129, "two words", "new\\nline", "<script>", "ü"])
def test_anything_else_is_replaced_by_a_fresh_one(client, given):
    response = client.simulate_get("/v1/jobs", headers={"X-Request-Id": given})
    assert FRESH.match(response.headers["x-request-id"])


def test_a_refused_key_still_gets_an_id(db, secret_box):
    keyed = falcon.testing.TestClient(api.create_app(db, box=secret_box, api_keys=("k",)))
    response = keyed.simulate_get("/v1/jobs", headers={"X-Request-Id": "mine"})
    assert response.status_code == 401 and response.headers["x-request-id"] == "mine"

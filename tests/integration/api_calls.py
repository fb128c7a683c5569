"""Requests to the API under test and checks of its answers, shared by the API tests:
job bodies to send, and what a created, fetched or listed job must look like."""

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from app.jobs.models import Execution
from app.secrets.redaction import merge_secrets
from tests.integration.rows import stored

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
AMQP_PASSWORD = "amqp-pw-Rt55v"
ANY_ID = "00000000-0000-4000-8000-000000000001"
AMQP_URL = f"amqp://user:{AMQP_PASSWORD}@rabbit.example:5672/vhost"


def in_hours(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp with an offset, parsed; fails the test otherwise."""
    assert isinstance(text, str) and RFC3339.match(text), f"not RFC 3339 with offset: {text!r}"
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None
    return parsed


def http_payload(**overrides) -> dict:
    payload = {
        "url": "http://example.com/hook",
        "method": "POST",
        "headers": {"X-Source": "tests"},
        "body": '{"ping": true}',
        "valid_response_codes": [200, 201],
    }
    payload.update(overrides)
    return payload


def http_job(**overrides) -> dict:
    body = {"type": "HTTP", "execute_at": in_hours(), "http_job": http_payload()}
    body.update(overrides)
    return body


def amqp_payload(**overrides) -> dict:
    payload = {
        "connection": AMQP_URL,
        "exchange": "jobs",
        "routing_key": "jobs.run",
        "headers": {"x-kind": "test"},
        "body": "hello",
        "content_type": "text/plain",
    }
    payload.update(overrides)
    return payload


def amqp_job(**overrides) -> dict:
    body = {"type": "AMQP", "execute_at": in_hours(), "amqp_job": amqp_payload()}
    body.update(overrides)
    return body


def create(client, body: dict) -> dict:
    response = client.simulate_post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json


def get(client, job_id: str) -> dict:
    response = client.simulate_get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json


def listed(client, query: str = "") -> list[dict]:
    response = client.simulate_get("/v1/jobs", query_string=query)
    assert response.status_code == 200, response.text
    assert isinstance(response.json, list)
    return response.json


def error_of(response, status: int) -> str:
    """The message of an error answer, after checking it is exactly {"error": "<text>"}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(response.text)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


def opened(db, box, job_id: str) -> tuple[dict | None, dict | None]:
    """The stored (http_job, amqp_job) with their sealed secrets opened and put back."""
    row = stored(db, job_id)
    return merge_secrets(row.http_job, row.amqp_job, box.open(row.secrets))


def add_execution(db, job_id: str, start: datetime, status: str = "SUCCESSFUL", **fields):
    values = {
        "job": uuid.UUID(job_id),
        "delivery_id": uuid.uuid4(),
        "scheduled_for": start - timedelta(seconds=1),
        "start_time": start,
        "end_time": start + timedelta(seconds=2),
        "status": status,
        "attempts": 1,
    }
    values.update(fields)
    with db.connection_context():
        return Execution.create(**values)


def concrete(path: str) -> str:
    """A path of the API's description with its parameters filled in."""
    path = path.replace("/v1/dead-letters/{id}", "/v1/dead-letters/1")
    path = path.replace("{name}", "team/nightly")
    path = path.replace("/v1/executions/{id}", "/v1/executions/1")
    return re.sub(r"\{(id|key)\}", lambda m: ANY_ID if m.group(1) == "id" else "a-key", path)

import uuid
from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest

import api
from app.jobs.models import Job
from app.secrets.sealing import SecretBox, generate_key
from testkit.jobs import http_job


@pytest.fixture
def add_job(db):
    """Insert a job straight into the table; due a second ago unless told otherwise.
    With `url` its payload is an HTTP call to it as the API stores one; other
    columns may be given too (retry_policy, misfire_grace, ...)."""

    def add(
        *, next_run=None, cron=None, execute_at=None, status="RUNNING", url=None, **columns
    ) -> uuid.UUID:
        now = datetime.now(UTC)
        due = next_run or now - timedelta(seconds=1)
        if cron is None and execute_at is None:
            execute_at = due
        job_id = uuid.uuid4()
        with db.connection_context():
            Job.create(
                id=job_id,
                type="HTTP",
                status=status,
                execute_at=execute_at,
                cron_schedule=cron,
                http_job=http_job(url) if url else {"url": "http://127.0.0.1:9/", "method": "GET"},
                tags=[],
                next_run=due,
                created_at=now,
                updated_at=now,
                **columns,
            )
        return job_id

    return add


@pytest.fixture(scope="session")
def secret_box():
    """A box with a key of the session's own, for jobs that carry secrets."""
    return SecretBox((generate_key(),))


@pytest.fixture
def client(db, secret_box):
    """The API over the test's database, with a secret key and no API keys."""
    return falcon.testing.TestClient(api.create_app(db, box=secret_box))

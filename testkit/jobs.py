"""Jobs to create: request bodies for the API, and rows inserted in bulk."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from app.db.wakeup import WAKE


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


def soon(seconds: float = 1.5) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def later(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def one_off(url: str, method: str = "GET", execute_at: str | None = None, **http: object) -> dict:
    """A one-off HTTP job due `execute_at` (default: soon()); `http` adds to its payload."""
    return {
        "type": "HTTP",
        "execute_at": execute_at or soon(),
        "http_job": {"url": url, "method": method, **http},
    }


def recurring(url: str, cron: str, method: str = "GET") -> dict:
    return {"type": "HTTP", "cron_schedule": cron, "http_job": {"url": url, "method": method}}


def http_job(url: str) -> dict:
    """An HTTP payload as the API stores it (app/jobs/spec.py, _http_job)."""
    return {
        "url": url,
        "method": "POST",
        "headers": {},
        "secret_headers": [],
        "body": "",
        "valid_response_codes": [200],
        "auth": {"type": "none"},
        "follow_redirects": False,
    }


INSERT_JOBS = """
INSERT INTO jobs (id, type, status, execute_at, timezone, http_job, next_run,
                  created_at, updated_at)
SELECT gen_random_uuid(), 'HTTP', 'RUNNING', slot, 'UTC', %(http_job)s, slot,
       created, created
FROM (
    SELECT %(first)s::timestamptz + make_interval(secs => i * %(step)s) AS slot,
           -- distinct creation times, in the order of i, as the API would give them
           now() - make_interval(secs => (%(count)s - i) * 0.001) AS created
    FROM generate_series(0, %(count)s - 1) AS i
) AS s
"""


def insert_jobs(
    connection,
    count: int,
    url: str,
    first: datetime,
    step: float = 0.0,
    wake: bool = False,
) -> None:
    """`count` one-off HTTP jobs to `url`, the i-th due at `first` + i * `step` seconds,
    inserted in one statement as the API would shape them. With `wake`, the tick is
    told as the API tells it of a job it creates; otherwise only its poll finds them."""
    params = {
        "http_job": json.dumps(http_job(url)),
        "first": first,
        "step": step,
        "count": count,
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_JOBS, params)
        if wake:
            cursor.execute(WAKE)


def with_host(url: str, host: str) -> str:
    """`url` with its host replaced, its user, password, port and path kept."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}:{parts.port}"))


def amqp_one_off(connection: str, exchange: str, routing_key: str) -> dict:
    """A one-off AMQP job due soon(), publishing "hi"."""
    return {
        "type": "AMQP",
        "execute_at": soon(),
        "amqp_job": {
            "connection": connection,
            "exchange": exchange,
            "routing_key": routing_key,
            "body": "hi",
        },
    }

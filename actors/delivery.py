"""What every delivery carries, and what an attempt returns."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version

from app.failures import Failure
from app.secrets.redaction import REDACTED, redact_amqp, redact_http, redact_url

# Bound on the excerpt of a target's answer kept in the execution record.
RESPONSE_EXCERPT_BYTES = 1024
# Sent with every delivery, so that a target can tell a scheduled call from any other.
USER_AGENT = f"Scheduler/{version('scheduler')}"


@dataclass(frozen=True)
class Delivery:
    job_id: uuid.UUID
    delivery_id: uuid.UUID
    scheduled_for: datetime
    attempt: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Scheduler-Job-Id": str(self.job_id),
            "X-Scheduler-Delivery-Id": str(self.delivery_id),
            "X-Scheduler-Scheduled-For": self.scheduled_for.astimezone(UTC).isoformat(),
            "X-Scheduler-Attempt": str(self.attempt),
        }


@dataclass(frozen=True)
class AttemptResult:
    success: bool
    failure: Failure | None = None  # why it failed
    status_code: int | None = None
    response_excerpt: str | None = None
    # Worth another attempt: connection errors, timeouts, 5xx, 408, 429, nacks.
    retryable: bool = True
    retry_after: float | None = None  # seconds the target asked us to wait

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure else None


def excerpt(data: bytes) -> str:
    return data[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


def utcnow() -> datetime:
    return datetime.now(UTC)


def request_sent(job_type: str, http_job: dict | None, amqp_job: dict | None, delivery: Delivery):
    """What an attempt sent, secrets as "***": what a dead letter keeps (the
    payloads as stored, with the delivery's own headers)."""
    if job_type == "HTTP":
        http_job = redact_http(http_job)
        headers = {"User-Agent": USER_AGENT, **(http_job.get("headers") or {})}
        if (http_job.get("auth") or {}).get("type", "none") != "none":
            headers["Authorization"] = REDACTED
        return {
            "method": http_job["method"],
            "url": redact_url(http_job["url"]),
            "headers": {**headers, **delivery.headers()},
            "body": http_job.get("body"),
        }
    amqp_job = redact_amqp(amqp_job)
    return {
        "connection": amqp_job["connection"],
        "exchange": amqp_job["exchange"],
        "routing_key": amqp_job["routing_key"],
        "headers": {**(amqp_job.get("headers") or {}), **delivery.headers()},
        "body": amqp_job.get("body"),
        "body_encoding": amqp_job.get("body_encoding"),
        "content_type": amqp_job.get("content_type"),
    }

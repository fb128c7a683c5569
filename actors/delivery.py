"""What every delivery carries, and what an attempt returns."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

# Bound on the excerpt of a target's answer kept in the execution record.
RESPONSE_EXCERPT_BYTES = 1024


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
    error: str | None = None
    status_code: int | None = None
    response_excerpt: str | None = None
    # Worth another attempt: connection errors, timeouts, 5xx, 408, 429, nacks.
    retryable: bool = True
    retry_after: float | None = None  # seconds the target asked us to wait


def excerpt(data: bytes) -> str:
    return data[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


def utcnow() -> datetime:
    return datetime.now(UTC)

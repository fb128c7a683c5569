"""Retry policy: pure functions of the attempt and its result.

The default follows the reference scheduler (github.com/cenkalti/backoff defaults
with 3 retries): 4 attempts in all, waiting 0.5 s, 0.75 s, 1.125 s between them,
so a failing job settles within a few seconds. A job may set its own policy
within the limits below.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_ATTEMPTS_LIMIT = 20
MAX_BACKOFF_LIMIT = 24 * 3600.0  # seconds
MULTIPLIER = 1.5


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    min_backoff: float = 0.5  # seconds before the first retry
    max_backoff: float = 60.0  # seconds, the cap of any computed wait

    def as_json(self) -> dict:
        return {
            "max_attempts": self.max_attempts,
            "min_backoff": self.min_backoff,
            "max_backoff": self.max_backoff,
        }


DEFAULT_POLICY = RetryPolicy()


def policy_from_json(stored: dict | None) -> RetryPolicy:
    return RetryPolicy(**stored) if stored else DEFAULT_POLICY


def backoff(attempt: int, policy: RetryPolicy = DEFAULT_POLICY) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 for the first)."""
    return min(policy.max_backoff, policy.min_backoff * MULTIPLIER ** (attempt - 1))


def should_retry(attempt: int, policy: RetryPolicy = DEFAULT_POLICY) -> bool:
    """Whether failed attempt number `attempt` is followed by another."""
    return attempt < policy.max_attempts


def retry_delay(
    attempt: int, policy: RetryPolicy, retryable: bool, retry_after: float | None = None
) -> float | None:
    """Seconds before the next attempt after failed attempt `attempt`, or None when
    there is none: the failure is not worth retrying or the attempts are used up.

    A target's Retry-After is honoured when longer than the backoff, up to 24 h.
    """
    if not retryable or not should_retry(attempt, policy):
        return None
    wait = backoff(attempt, policy)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_BACKOFF_LIMIT))
    return wait


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds in a Retry-After header: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # asctime dates carry no zone; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retryable_status(status: int) -> bool:
    """5xx, 408 and 429 may succeed later; any other refusal will not."""
    return status >= 500 or status in (408, 429)

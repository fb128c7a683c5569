"""Retry policy: pure functions of the attempt number.

The default follows the reference scheduler (github.com/cenkalti/backoff defaults
with 3 retries): 4 attempts in all, waiting 0.5 s, 0.75 s, 1.125 s between them,
so a failing job settles within a few seconds.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    min_backoff: float = 0.5  # seconds before the first retry
    max_backoff: float = 60.0  # seconds, the cap of any wait
    multiplier: float = 1.5


DEFAULT_POLICY = RetryPolicy()


def backoff(attempt: int, policy: RetryPolicy = DEFAULT_POLICY) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 for the first)."""
    return min(policy.max_backoff, policy.min_backoff * policy.multiplier ** (attempt - 1))


def should_retry(attempt: int, policy: RetryPolicy = DEFAULT_POLICY) -> bool:
    """Whether failed attempt number `attempt` is followed by another."""
    return attempt < policy.max_attempts

"""Retry policy: app.retry."""

import pytest

from app.timing.retry import DEFAULT_POLICY, RetryPolicy, backoff, should_retry


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 0.5), (2, 0.75), (3, 1.125)])
def test_default_backoff_grows_by_half_from_half_a_second(attempt, seconds):
    assert backoff(attempt) == pytest.approx(seconds)


def test_backoff_is_capped_by_max_backoff():
    policy = RetryPolicy(min_backoff=1.0, max_backoff=5.0)
    assert backoff(4, policy) == pytest.approx(3.375)
    assert backoff(5, policy) == pytest.approx(5.0)
    assert backoff(30, policy) == pytest.approx(5.0)


def test_default_backoff_never_exceeds_a_minute():
    assert backoff(100) == pytest.approx(DEFAULT_POLICY.max_backoff)
    assert DEFAULT_POLICY.max_backoff == 60.0


def test_backoff_follows_the_policy_given():
    policy = RetryPolicy(min_backoff=2.0)
    assert backoff(1, policy) == pytest.approx(2.0)
    assert backoff(2, policy) == pytest.approx(3.0)


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_default_policy_retries_the_first_three_failed_attempts(attempt):
    assert should_retry(attempt) is True


@pytest.mark.parametrize("attempt", [4, 5, 10])
def test_default_policy_gives_up_after_the_fourth_attempt(attempt):
    assert should_retry(attempt) is False


def test_single_attempt_policy_never_retries():
    assert should_retry(1, RetryPolicy(max_attempts=1)) is False


def test_should_retry_follows_max_attempts_of_the_policy():
    policy = RetryPolicy(max_attempts=6)
    assert should_retry(5, policy) is True
    assert should_retry(6, policy) is False

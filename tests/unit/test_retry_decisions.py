"""Whether and when to retry: app.retry.retry_delay, parse_retry_after, retryable_status,
policy_from_json."""

from datetime import UTC, datetime

import pytest

from app.timing.retry import (
    DEFAULT_POLICY,
    MAX_BACKOFF_LIMIT,
    RetryPolicy,
    parse_retry_after,
    policy_from_json,
    retry_delay,
    retryable_status,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, min_backoff=2.0, max_backoff=10.0)


# retry_delay


def test_a_failure_not_worth_retrying_has_no_retry():
    assert retry_delay(1, POLICY, retryable=False) is None


def test_a_failure_not_worth_retrying_has_no_retry_even_with_retry_after():
    assert retry_delay(1, POLICY, retryable=False, retry_after=5.0) is None


def test_the_last_attempt_has_no_retry():
    assert retry_delay(3, POLICY, retryable=True) is None
    assert retry_delay(4, POLICY, retryable=True, retry_after=1.0) is None


def test_a_single_attempt_policy_never_retries():
    assert retry_delay(1, RetryPolicy(max_attempts=1), retryable=True) is None


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 2.0), (2, 3.0)])
def test_a_retryable_failure_waits_the_policys_backoff(attempt, seconds):
    assert retry_delay(attempt, POLICY, retryable=True) == pytest.approx(seconds)


def test_the_default_policy_waits_half_a_second_after_the_first_failure():
    assert retry_delay(1, DEFAULT_POLICY, retryable=True) == pytest.approx(0.5)


def test_backoff_is_capped_by_the_policys_max_backoff():
    policy = RetryPolicy(max_attempts=20, min_backoff=2.0, max_backoff=10.0)
    assert retry_delay(15, policy, retryable=True) == pytest.approx(10.0)


def test_a_longer_retry_after_wins_over_the_backoff():
    assert retry_delay(1, POLICY, retryable=True, retry_after=120.0) == pytest.approx(120.0)


def test_a_retry_after_longer_than_max_backoff_still_wins():
    # max_backoff caps the computed wait, not what the target asked for.
    assert retry_delay(2, POLICY, retryable=True, retry_after=30.0) == pytest.approx(30.0)


def test_a_retry_after_beyond_a_day_is_capped_at_24_hours():
    wait = retry_delay(1, POLICY, retryable=True, retry_after=10 * 86400.0)
    assert wait == pytest.approx(24 * 3600.0)
    assert MAX_BACKOFF_LIMIT == 24 * 3600.0


def test_an_infinite_retry_after_is_capped_at_24_hours():
    assert retry_delay(1, POLICY, retryable=True, retry_after=float("inf")) == 86400.0


def test_a_shorter_retry_after_does_not_shorten_the_backoff():
    assert retry_delay(2, POLICY, retryable=True, retry_after=0.5) == pytest.approx(3.0)


def test_a_zero_retry_after_does_not_shorten_the_backoff():
    assert retry_delay(1, POLICY, retryable=True, retry_after=0.0) == pytest.approx(2.0)


# parse_retry_after


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), (" 30 ", 30.0)])
def test_retry_after_in_delta_seconds_is_read_as_seconds(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_as_an_http_date_is_relative_to_now():
    assert parse_retry_after("Thu, 15 Jan 2026 12:02:00 GMT", NOW) == pytest.approx(120.0)


def test_retry_after_as_an_http_date_depends_on_now():
    later = datetime(2026, 1, 15, 12, 1, 30, tzinfo=UTC)
    assert parse_retry_after("Thu, 15 Jan 2026 12:02:00 GMT", later) == pytest.approx(30.0)


def test_retry_after_as_an_rfc_850_date_is_accepted():
    assert parse_retry_after("Thursday, 15-Jan-26 12:02:00 GMT", NOW) == pytest.approx(120.0)


def test_retry_after_with_a_numeric_offset_is_converted_to_utc():
    # 14:02 at +01:00 is 13:02 UTC, an hour and two minutes after NOW.
    assert parse_retry_after("Thu, 15 Jan 2026 14:02:00 +0100", NOW) == pytest.approx(3720.0)


@pytest.mark.parametrize(
    "value", ["Wed, 21 Oct 2015 07:28:00 GMT", "Thu, 15 Jan 2026 11:59:59 GMT"]
)
def test_retry_after_as_a_past_date_is_zero(value):
    assert parse_retry_after(value, NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "1.5",
        "1e3",
        "١٢٠",  # Arabic-Indic digits are not delta-seconds
        "Thu, 45 Foo 2026 99:99:99 GMT",
    ],
)
def test_unusable_retry_after_is_none(value):
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize("value", ["Thu Jan 15 12:02:00 2026", "Thu, 15 Jan 2026 12:02:00 -0000"])
def test_retry_after_dates_without_a_zone_are_read_as_gmt(value):
    # HTTP dates are always GMT; asctime's format just does not say so.
    assert parse_retry_after(value, NOW) == pytest.approx(120.0)


# retryable_status


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_server_errors_timeouts_and_throttling_are_retried(status):
    assert retryable_status(status) is True


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 301, 302, 200])
def test_other_answers_are_not_retried(status):
    assert retryable_status(status) is False


# policy_from_json / as_json


def test_no_stored_policy_means_the_default_policy():
    assert policy_from_json(None) is DEFAULT_POLICY


def test_the_default_policy_is_four_attempts_from_half_a_second_up_to_a_minute():
    assert DEFAULT_POLICY.as_json() == {"max_attempts": 4, "min_backoff": 0.5, "max_backoff": 60.0}


def test_a_stored_policy_is_read_back_as_a_retry_policy():
    stored = {"max_attempts": 2, "min_backoff": 1.0, "max_backoff": 10.0}
    assert policy_from_json(stored) == RetryPolicy(2, 1.0, 10.0)


def test_as_json_names_every_field():
    assert RetryPolicy(7, 3.0, 90.0).as_json() == {
        "max_attempts": 7,
        "min_backoff": 3.0,
        "max_backoff": 90.0,
    }


@pytest.mark.parametrize(
    "policy", [DEFAULT_POLICY, RetryPolicy(1, 0.0, 0.0), RetryPolicy(20, 1.5, 86400.0)]
)
def test_a_policy_survives_a_json_round_trip(policy):
    assert policy_from_json(policy.as_json()) == policy

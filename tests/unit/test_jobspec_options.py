"""Per-job options of job definitions: windows, max_runs, misfire_grace, timeout,
retry_policy, status and the preview body (app.jobs.spec)."""

from datetime import UTC, datetime

import pytest

from app.errors import InvalidJob
from app.jobs.spec import apply_update, parse_create, parse_preview, parse_status
from app.timing.retry import DEFAULT_POLICY, RetryPolicy
from app.timing.schedule import Schedule

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOMORROW = "2026-01-16T12:00:00Z"
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)
ONLY_RECURRING = "starts_at, ends_at, max_runs and jitter apply to recurring jobs only"
MAX_RUNS_MESSAGE = "max_runs must be an integer from 1 to 1000000000"
ATTEMPTS_MESSAGE = "retry_policy.max_attempts must be an integer from 1 to 20"


def _cron_body(**changes):
    return {
        "type": "HTTP",
        "http_job": {"url": "https://example.com/hook", "method": "POST"},
        "cron_schedule": "0 9 * * *",
        **changes,
    }


def _one_off_body(**changes):
    body = _cron_body(execute_at=TOMORROW, **changes)
    del body["cron_schedule"]
    return body


def _refused(body, message):
    with pytest.raises(InvalidJob) as raised:
        parse_create(body, NOW)
    assert str(raised.value) == message


def _windowed_job():
    return parse_create(
        _cron_body(
            timezone="Europe/Berlin",
            starts_at="2026-02-01T00:00:00Z",
            ends_at="2026-03-01T00:00:00Z",
            max_runs=10,
            misfire_grace="30s",
            timeout="10s",
            retry_policy={"max_attempts": 2},
            tags=["billing"],
        ),
        NOW,
    )


# windows and max_runs


def test_window_and_max_runs_are_accepted_on_a_cron_job_and_stored_in_its_schedule():
    spec = parse_create(
        _cron_body(starts_at="2026-02-01T00:00:00Z", ends_at="2026-03-01T00:00:00Z", max_runs=3),
        NOW,
    )
    assert spec.schedule == Schedule(cron="0 9 * * *", starts_at=FEB_1, ends_at=MAR_1, max_runs=3)


def test_window_timestamps_with_an_offset_are_stored_in_utc():
    spec = parse_create(_cron_body(starts_at="2026-02-01T01:00:00+01:00"), NOW)
    assert spec.schedule.starts_at == FEB_1
    assert spec.schedule.starts_at.utcoffset().total_seconds() == 0


def test_a_cron_job_without_window_has_no_limits():
    schedule = parse_create(_cron_body(), NOW).schedule
    assert (schedule.starts_at, schedule.ends_at, schedule.max_runs) == (None, None, None)


@pytest.mark.parametrize(
    "window",
    [
        {"starts_at": "2026-02-01T00:00:00Z"},
        {"ends_at": "2026-03-01T00:00:00Z"},
        {"max_runs": 3},
    ],
)
def test_window_and_max_runs_are_refused_on_a_one_off_job(window):
    _refused(_one_off_body(**window), ONLY_RECURRING)


@pytest.mark.parametrize("ends_at", ["2026-02-01T00:00:00Z", "2026-01-31T00:00:00Z"])
def test_ends_at_not_after_starts_at_is_refused(ends_at):
    _refused(
        _cron_body(starts_at="2026-02-01T00:00:00Z", ends_at=ends_at),
        "ends_at must be after starts_at",
    )


def test_ends_at_is_compared_with_starts_at_as_instants():
    # 00:30 at +01:00 is 23:30 UTC on the day before starts_at.
    _refused(
        _cron_body(starts_at="2026-02-01T00:00:00Z", ends_at="2026-02-01T00:30:00+01:00"),
        "ends_at must be after starts_at",
    )


def test_window_timestamp_without_offset_is_refused():
    _refused(
        _cron_body(starts_at="2026-02-01T00:00:00"),
        "starts_at must carry a UTC offset, e.g. 2030-01-01T09:00:00Z",
    )


@pytest.mark.parametrize("max_runs", [0, -1, True, "3", 1.5, 3.0, 1_000_000_001])
def test_max_runs_that_is_not_a_positive_integer_is_refused(max_runs):
    _refused(_cron_body(max_runs=max_runs), MAX_RUNS_MESSAGE)


@pytest.mark.parametrize("max_runs", [1, 1_000_000_000])
def test_max_runs_at_its_limits_is_accepted(max_runs):
    assert parse_create(_cron_body(max_runs=max_runs), NOW).schedule.max_runs == max_runs


# misfire_grace


def test_misfire_grace_is_parsed_to_seconds():
    assert parse_create(_cron_body(misfire_grace="30s"), NOW).misfire_grace == 30.0


def test_misfire_grace_absent_means_a_late_slot_always_runs():
    assert parse_create(_cron_body(), NOW).misfire_grace is None


def test_misfire_grace_of_a_year_is_accepted():
    assert parse_create(_cron_body(misfire_grace="365d"), NOW).misfire_grace == 365 * 86400.0


@pytest.mark.parametrize("value", ["soon", "30", "-30s", 30])
def test_misfire_grace_that_is_not_a_duration_is_refused(value):
    with pytest.raises(InvalidJob) as raised:
        parse_create(_cron_body(misfire_grace=value), NOW)
    assert str(raised.value).startswith("misfire_grace: ")


@pytest.mark.parametrize("value", ["0s", "0", "366d"])
def test_misfire_grace_out_of_range_is_refused(value):
    _refused(_cron_body(misfire_grace=value), "misfire_grace must be from 1ms to 8760h")


# timeout


def test_timeout_is_parsed_to_seconds():
    assert parse_create(_cron_body(timeout="10s"), NOW).timeout == 10.0


def test_timeout_of_five_minutes_is_accepted():
    assert parse_create(_cron_body(timeout="5m"), NOW).timeout == 300.0


@pytest.mark.parametrize("value", ["5m1s", "1h", "0s"])
def test_timeout_out_of_range_is_refused(value):
    _refused(_cron_body(timeout=value), "timeout must be from 1ms to 5m")


def test_timeout_that_is_not_a_duration_is_refused():
    with pytest.raises(InvalidJob) as raised:
        parse_create(_cron_body(timeout="ten seconds"), NOW)
    assert str(raised.value).startswith("timeout: ")


# retry_policy


def test_retry_policy_durations_are_parsed_to_seconds():
    body = _cron_body(retry_policy={"max_attempts": 2, "min_backoff": "1s", "max_backoff": "10s"})
    assert parse_create(body, NOW).retry_policy == RetryPolicy(2, 1.0, 10.0)


def test_retry_policy_keys_left_out_take_the_default():
    spec = parse_create(_cron_body(retry_policy={"max_attempts": 7}), NOW)
    assert spec.retry_policy == RetryPolicy(
        7, DEFAULT_POLICY.min_backoff, DEFAULT_POLICY.max_backoff
    )


def test_an_empty_retry_policy_is_the_default_policy():
    assert parse_create(_cron_body(retry_policy={}), NOW).retry_policy == DEFAULT_POLICY


def test_no_retry_policy_leaves_it_unset():
    assert parse_create(_cron_body(), NOW).retry_policy is None


@pytest.mark.parametrize("attempts", [0, 21, "x", True, 2.0])
def test_retry_policy_max_attempts_out_of_range_is_refused(attempts):
    _refused(_cron_body(retry_policy={"max_attempts": attempts}), ATTEMPTS_MESSAGE)


@pytest.mark.parametrize("attempts", [1, 20])
def test_retry_policy_max_attempts_at_its_limits_is_accepted(attempts):
    spec = parse_create(_cron_body(retry_policy={"max_attempts": attempts}), NOW)
    assert spec.retry_policy.max_attempts == attempts


def test_retry_policy_min_backoff_above_max_backoff_is_refused():
    _refused(
        _cron_body(retry_policy={"min_backoff": "20s", "max_backoff": "10s"}),
        "retry_policy.min_backoff must not exceed retry_policy.max_backoff",
    )


def test_retry_policy_min_backoff_above_the_default_max_backoff_raises_the_cap():
    spec = parse_create(_cron_body(retry_policy={"min_backoff": "2m"}), NOW)
    assert (spec.retry_policy.min_backoff, spec.retry_policy.max_backoff) == (120.0, 120.0)


def test_retry_policy_min_backoff_above_a_given_max_backoff_is_refused():
    _refused(
        _cron_body(retry_policy={"min_backoff": "2m", "max_backoff": "1m"}),
        "retry_policy.min_backoff must not exceed retry_policy.max_backoff",
    )


def test_retry_policy_null_max_attempts_means_the_default():
    spec = parse_create(_cron_body(retry_policy={"max_attempts": None}), NOW)
    assert spec.retry_policy.max_attempts == 4


@pytest.mark.parametrize(
    ("policy", "name"),
    [
        ({"min_backoff": "24h1s", "max_backoff": "24h"}, "min_backoff"),
        ({"max_backoff": "24h1s"}, "max_backoff"),
        ({"max_backoff": "2d"}, "max_backoff"),
    ],
)
def test_retry_policy_backoff_over_24_hours_is_refused(policy, name):
    _refused(_cron_body(retry_policy=policy), f"retry_policy.{name} must be from 0s to 24h")


def test_retry_policy_backoff_of_exactly_24_hours_is_accepted():
    body = _cron_body(retry_policy={"min_backoff": "1d", "max_backoff": "24h"})
    assert parse_create(body, NOW).retry_policy == RetryPolicy(4, 86400.0, 86400.0)


@pytest.mark.parametrize("value", ["fast", [2], 3, True])
def test_retry_policy_that_is_not_an_object_is_refused(value):
    _refused(_cron_body(retry_policy=value), "retry_policy must be a JSON object")


# apply_update


def test_setting_execute_at_on_a_windowed_recurring_job_drops_its_window():
    updated = apply_update(_windowed_job(), {"execute_at": "2026-01-20T08:00:00Z"}, NOW)
    assert updated.schedule == Schedule(
        execute_at=datetime(2026, 1, 20, 8, 0, tzinfo=UTC), timezone="Europe/Berlin"
    )


def test_setting_execute_at_with_a_window_in_the_same_update_is_refused():
    with pytest.raises(InvalidJob) as raised:
        apply_update(_windowed_job(), {"execute_at": TOMORROW, "max_runs": 2}, NOW)
    assert str(raised.value) == ONLY_RECURRING


def test_a_window_cannot_be_added_to_a_one_off_job():
    one_off = parse_create(_one_off_body(), NOW)
    with pytest.raises(InvalidJob) as raised:
        apply_update(one_off, {"starts_at": "2026-02-01T00:00:00Z"}, NOW)
    assert str(raised.value) == ONLY_RECURRING


def test_null_misfire_grace_clears_it_and_keeps_everything_else():
    before = _windowed_job()
    updated = apply_update(before, {"misfire_grace": None}, NOW)
    assert before.misfire_grace == 30.0
    assert updated.misfire_grace is None
    assert updated.schedule == before.schedule
    assert (updated.timeout, updated.retry_policy) == (before.timeout, before.retry_policy)


def test_update_of_retry_policy_alone_keeps_the_rest():
    before = _windowed_job()
    updated = apply_update(before, {"retry_policy": {"max_attempts": 7}}, NOW)
    assert updated.retry_policy == RetryPolicy(7, 0.5, 60.0)
    assert updated.schedule == before.schedule
    assert updated.misfire_grace == 30.0
    assert updated.timeout == 10.0
    assert updated.tags == ["billing"]
    assert updated.http_job == before.http_job


def test_update_without_options_keeps_them():
    before = _windowed_job()
    updated = apply_update(before, {"tags": ["other"]}, NOW)
    assert (updated.misfire_grace, updated.timeout, updated.retry_policy) == (
        30.0,
        10.0,
        RetryPolicy(2, 0.5, 60.0),
    )


def test_null_starts_at_clears_it_and_keeps_ends_at_and_max_runs():
    updated = apply_update(_windowed_job(), {"starts_at": None}, NOW)
    assert (updated.schedule.starts_at, updated.schedule.ends_at) == (None, MAR_1)
    assert updated.schedule.max_runs == 10


def test_update_that_moves_ends_at_before_starts_at_is_refused():
    with pytest.raises(InvalidJob) as raised:
        apply_update(_windowed_job(), {"ends_at": "2026-01-20T00:00:00Z"}, NOW)
    assert str(raised.value) == "ends_at must be after starts_at"


def test_update_with_an_invalid_option_is_refused():
    with pytest.raises(InvalidJob) as raised:
        apply_update(_windowed_job(), {"timeout": "10m"}, NOW)
    assert str(raised.value) == "timeout must be from 1ms to 5m"


# parse_status


@pytest.mark.parametrize("status", ["RUNNING", "STOPPED"])
def test_running_and_stopped_are_statuses(status):
    assert parse_status(status) == status


@pytest.mark.parametrize("status", ["running", "PAUSED", "", None, 1, ["RUNNING"]])
def test_any_other_status_is_refused(status):
    with pytest.raises(InvalidJob) as raised:
        parse_status(status)
    assert str(raised.value) == "status must be either RUNNING or STOPPED"


# parse_preview


def test_preview_needs_a_cron_schedule():
    with pytest.raises(InvalidJob) as raised:
        parse_preview({"timezone": "Europe/Berlin", "count": 3})
    assert str(raised.value) == "cron_schedule must be defined"


def test_preview_body_must_be_an_object():
    with pytest.raises(InvalidJob) as raised:
        parse_preview(["0 9 * * *"])
    assert str(raised.value) == "request body must be a JSON object"


def test_preview_count_defaults_to_five_and_timezone_to_utc():
    schedule, count, _ = parse_preview({"cron_schedule": "0 9 * * *"})
    assert count == 5
    assert schedule == Schedule(cron="0 9 * * *", timezone="UTC")


@pytest.mark.parametrize("count", [1, 100])
def test_preview_count_at_its_limits_is_accepted(count):
    assert parse_preview({"cron_schedule": "0 9 * * *", "count": count})[1] == count


@pytest.mark.parametrize("count", [0, 101, -1, True, "5", 2.0])
def test_preview_count_out_of_range_is_refused(count):
    with pytest.raises(InvalidJob) as raised:
        parse_preview({"cron_schedule": "0 9 * * *", "count": count})
    assert str(raised.value) == "count must be an integer from 1 to 100"


def test_preview_timezone_is_kept():
    schedule, _, _ = parse_preview({"cron_schedule": "0 9 * * *", "timezone": "Australia/Sydney"})
    assert schedule.timezone == "Australia/Sydney"


def test_preview_unknown_timezone_is_refused_naming_the_field():
    with pytest.raises(InvalidJob) as raised:
        parse_preview({"cron_schedule": "0 9 * * *", "timezone": "Mars/Olympus"})
    assert str(raised.value).startswith("timezone: unknown time zone 'Mars/Olympus'")


def test_preview_invalid_cron_is_refused():
    with pytest.raises(InvalidJob) as raised:
        parse_preview({"cron_schedule": "every day"})
    assert str(raised.value).startswith("invalid cron schedule 'every day'")


def test_preview_passes_the_window_through():
    schedule, _, _ = parse_preview(
        {
            "cron_schedule": "0 9 * * *",
            "starts_at": "2026-02-01T01:00:00+01:00",
            "ends_at": "2026-03-01T00:00:00Z",
        }
    )
    assert (schedule.starts_at, schedule.ends_at) == (FEB_1, MAR_1)


def test_preview_window_timestamp_without_offset_is_refused():
    with pytest.raises(InvalidJob) as raised:
        parse_preview({"cron_schedule": "0 9 * * *", "ends_at": "2026-03-01T00:00:00"})
    assert str(raised.value) == "ends_at must carry a UTC offset, e.g. 2030-01-01T09:00:00Z"

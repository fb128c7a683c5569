"""Fire times: app.timing.schedule (pure functions of a schedule and the time given)."""

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.timing.schedule import (
    Schedule,
    ScheduleError,
    check_cron,
    delivery_id,
    first_run,
    next_fire,
    run_after,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
JOB = uuid.UUID("11111111-2222-3333-4444-555555555555")
OTHER_JOB = uuid.UUID("99999999-8888-7777-6666-555555555555")


# check_cron


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "*/15 9-17 * * 1-5",
        "0 0 1 1 *",
        "*/5 * * * * *",  # six fields, seconds first
        "30 0 9 * * *",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@yearly",
    ],
)
def test_valid_cron_is_accepted(expression):
    check_cron(expression)  # raises on refusal


@pytest.mark.parametrize(
    "expression",
    [
        "* * * *",  # four fields
        "* * * * * * *",  # seven fields
        "61 * * * *",
        "* 24 * * *",
        "60 * * * * *",
        "@reboot",
        "@hourly *",
        "garbage",
        "",
    ],
)
def test_invalid_cron_raises_schedule_error(expression):
    with pytest.raises(ScheduleError, match="invalid cron schedule"):
        check_cron(expression)


def test_schedule_error_is_a_value_error():
    with pytest.raises(ValueError):
        check_cron("garbage")


# next_fire


def test_next_fire_is_the_next_slot_after_the_given_time():
    assert next_fire("*/5 * * * *", "UTC", NOW + timedelta(minutes=1)) == datetime(
        2026, 1, 15, 12, 5, tzinfo=UTC
    )


def test_next_fire_is_strictly_after_a_time_that_is_itself_a_slot():
    assert next_fire("0 * * * *", "UTC", NOW) == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)


def test_next_fire_returns_an_aware_utc_datetime():
    fire = next_fire("0 9 * * *", "Europe/Berlin", NOW)
    assert fire.tzinfo is not None
    assert fire.utcoffset() == timedelta(0)


def test_cron_is_evaluated_in_the_job_zone_in_winter():
    # 09:00 in Berlin is 08:00 UTC while Berlin is on CET (UTC+1).
    assert next_fire("0 9 * * *", "Europe/Berlin", NOW) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)


def test_cron_is_evaluated_in_the_job_zone_in_summer():
    # 09:00 in Berlin is 07:00 UTC while Berlin is on CEST (UTC+2).
    after = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert next_fire("0 9 * * *", "Europe/Berlin", after) == datetime(2026, 7, 16, 7, 0, tzinfo=UTC)


def test_next_fire_accepts_after_in_any_offset():
    after = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert next_fire("0 9 * * *", "Europe/Berlin", after) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)


def test_seconds_schedule_fires_at_second_granularity():
    fire = next_fire("*/5 * * * * *", "UTC", NOW + timedelta(seconds=1))
    assert fire == NOW + timedelta(seconds=5)
    assert next_fire("*/5 * * * * *", "UTC", fire) == NOW + timedelta(seconds=10)


def test_next_fire_of_a_descriptor():
    assert next_fire("@daily", "UTC", NOW) == datetime(2026, 1, 16, 0, 0, tzinfo=UTC)


def test_next_fire_refuses_an_unknown_zone():
    with pytest.raises(ScheduleError, match="unknown time zone"):
        next_fire("* * * * *", "Mars/Olympus", NOW)


def test_daily_slot_in_the_spring_forward_gap_is_not_skipped():
    # 2026-03-29 in Berlin has no 02:30 (02:00 jumps to 03:00); the day must still fire.
    fire = next_fire("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert fire.astimezone(BERLIN).date() == date(2026, 3, 29)


def test_daily_slot_in_the_repeated_autumn_hour_runs_once():
    # 2026-10-25 in Berlin has 02:30 twice (00:30 UTC and 01:30 UTC); a daily job runs once.
    first = next_fire("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert next_fire("30 2 * * *", "Europe/Berlin", first) == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )


def test_hourly_job_fires_every_real_hour_across_the_autumn_change():
    fires, after = [], datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    for _ in range(4):
        after = next_fire("0 * * * *", "Europe/Berlin", after)
        fires.append(after)
    assert fires == [datetime(2026, 10, 25, hour, 0, tzinfo=UTC) for hour in range(4)]


# first_run / run_after


def test_first_run_of_a_one_off_job_is_its_execute_at():
    at = NOW + timedelta(hours=3)
    assert first_run(Schedule(execute_at=at), NOW) == at


def test_first_run_of_a_recurring_job_is_its_next_slot_after_now():
    schedule = Schedule(cron="0 9 * * *", timezone="Europe/Berlin")
    assert first_run(schedule, NOW) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)


def test_one_off_job_ends_after_its_slot_ran():
    slot = NOW - timedelta(minutes=1)
    assert run_after(Schedule(execute_at=slot), slot, NOW) is None


def test_one_off_job_moved_earlier_while_running_still_ends():
    slot = NOW - timedelta(minutes=1)
    assert run_after(Schedule(execute_at=slot - timedelta(hours=1)), slot, NOW) is None


def test_one_off_job_moved_later_while_running_runs_again_at_the_new_time():
    slot = NOW - timedelta(minutes=1)
    moved = NOW + timedelta(hours=2)
    assert run_after(Schedule(execute_at=moved), slot, NOW) == moved


def test_recurring_job_runs_at_the_slot_after_the_one_it_served():
    slot = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    now = slot + timedelta(seconds=3)
    assert run_after(Schedule(cron="*/10 * * * *"), slot, now) == datetime(
        2026, 1, 15, 12, 10, tzinfo=UTC
    )


def test_recurring_job_after_long_downtime_resumes_after_now_not_after_the_old_slot():
    # Missed slots are coalesced: the slot served was 3 days ago; the next run is the
    # first slot after now, not the backlog of hourly slots since then.
    old_slot = NOW - timedelta(days=3)
    now = NOW + timedelta(minutes=20)
    next_run = run_after(Schedule(cron="0 * * * *"), old_slot, now)
    assert next_run == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    assert next_run > now


def test_recurring_job_served_ahead_of_its_slot_continues_after_the_slot():
    # A slot later than now (served early) must not be served again.
    slot = NOW + timedelta(minutes=10)
    assert run_after(Schedule(cron="*/10 * * * *"), slot, NOW) == slot + timedelta(minutes=10)


def test_one_off_job_changed_to_recurring_while_running_follows_the_cron():
    slot = NOW - timedelta(seconds=5)
    assert run_after(Schedule(cron="0 * * * *"), slot, NOW) == datetime(
        2026, 1, 15, 13, 0, tzinfo=UTC
    )


def test_recurring_run_after_is_evaluated_in_the_job_zone():
    schedule = Schedule(cron="0 9 * * *", timezone="Europe/Berlin")
    slot = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    assert run_after(schedule, slot, NOW) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)


# delivery_id


def test_delivery_id_is_the_same_for_the_same_job_and_slot():
    assert delivery_id(JOB, NOW) == delivery_id(JOB, NOW)
    assert isinstance(delivery_id(JOB, NOW), uuid.UUID)


def test_delivery_id_differs_between_slots_of_one_job():
    assert delivery_id(JOB, NOW) != delivery_id(JOB, NOW + timedelta(minutes=1))
    assert delivery_id(JOB, NOW) != delivery_id(JOB, NOW + timedelta(microseconds=1))


def test_delivery_id_differs_between_jobs_at_one_slot():
    assert delivery_id(JOB, NOW) != delivery_id(OTHER_JOB, NOW)


def test_delivery_id_does_not_depend_on_the_offset_the_slot_is_written_in():
    in_berlin = NOW.astimezone(BERLIN)
    in_new_york = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert delivery_id(JOB, in_berlin) == delivery_id(JOB, NOW)
    assert delivery_id(JOB, in_new_york) == delivery_id(JOB, NOW)

"""DST: across the 2026 transitions no slot is skipped and none runs twice."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.timing.schedule import next_fire


def fires(cron: str, timezone: str, start: datetime, until: datetime) -> list[str]:
    """Local wall times with offsets of every slot in (start, until]."""
    out, instant = [], start
    while (instant := next_fire(cron, timezone, instant)) <= until:
        out.append(instant.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M%z"))
    return out


@pytest.mark.parametrize(
    ("timezone", "start", "until", "expected"),
    [
        # New York springs forward on 8 March: 02:30 does not exist, it runs at 03:00.
        (
            "America/New_York",
            datetime(2026, 3, 7, 12, tzinfo=UTC),
            datetime(2026, 3, 9, 12, tzinfo=UTC),
            ["03-08 03:00-0400", "03-09 02:30-0400"],
        ),
        # Sydney springs forward on 4 October (southern hemisphere).
        (
            "Australia/Sydney",
            datetime(2026, 10, 3, 0, tzinfo=UTC),
            datetime(2026, 10, 5, 0, tzinfo=UTC),
            ["10-04 03:00+1100", "10-05 02:30+1100"],
        ),
    ],
)
def test_a_daily_slot_in_the_spring_gap_runs_once_right_after_it(timezone, start, until, expected):
    assert fires("30 2 * * *", timezone, start, until) == expected


@pytest.mark.parametrize(
    ("timezone", "cron", "start", "until", "expected"),
    [
        (
            "America/New_York",
            "30 2 * * *",
            datetime(2026, 10, 31, 12, tzinfo=UTC),
            datetime(2026, 11, 2, 12, tzinfo=UTC),
            ["11-01 02:30-0500", "11-02 02:30-0500"],
        ),
        (
            "America/New_York",
            "30 1 * * *",
            datetime(2026, 10, 31, 12, tzinfo=UTC),
            datetime(2026, 11, 2, 12, tzinfo=UTC),
            ["11-01 01:30-0400", "11-02 01:30-0500"],
        ),
        # Sydney falls back on 5 April: 02:30 happens twice, the job runs once.
        (
            "Australia/Sydney",
            "30 2 * * *",
            datetime(2026, 4, 4, 0, tzinfo=UTC),
            datetime(2026, 4, 6, 0, tzinfo=UTC),
            ["04-05 02:30+1100", "04-06 02:30+1000"],
        ),
    ],
)
def test_a_daily_slot_in_the_repeated_hour_runs_once(timezone, cron, start, until, expected):
    assert fires(cron, timezone, start, until) == expected


def test_an_hourly_job_runs_once_per_real_hour_across_fall_back():
    slots = fires(
        "0 * * * *",
        "America/New_York",
        datetime(2026, 11, 1, 3, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
    )
    assert slots == [
        "11-01 00:00-0400",
        "11-01 01:00-0400",
        "11-01 01:00-0500",
        "11-01 02:00-0500",
        "11-01 03:00-0500",
    ]


def test_an_hourly_job_runs_once_for_the_skipped_hour_across_spring_forward():
    slots = fires(
        "0 * * * *",
        "Australia/Sydney",
        datetime(2026, 10, 3, 14, 30, tzinfo=UTC),
        datetime(2026, 10, 3, 17, 30, tzinfo=UTC),
    )
    assert slots == ["10-04 01:00+1000", "10-04 03:00+1100", "10-04 04:00+1100"]


def test_a_job_every_20_minutes_keeps_its_order_through_the_repeated_hour():
    slots = fires(
        "*/20 * * * *",
        "America/New_York",
        datetime(2026, 11, 1, 5, 50, tzinfo=UTC),  # 01:50 EDT, the first 01:50
        datetime(2026, 11, 1, 7, 0, tzinfo=UTC),
    )
    assert slots == ["11-01 01:00-0500", "11-01 01:20-0500", "11-01 01:40-0500", "11-01 02:00-0500"]


def test_from_inside_the_second_occurrence_the_first_ones_are_not_repeated():
    after = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, the second 01:10
    assert next_fire("30 1 * * *", "America/New_York", after) == datetime(
        2026, 11, 2, 6, 30, tzinfo=UTC
    )
    assert next_fire("0 * * * *", "America/New_York", after) == datetime(
        2026, 11, 1, 7, 0, tzinfo=UTC
    )

"""Schedules in words: app.timing.cron_words (pure)."""

from datetime import UTC, datetime

import pytest

from app.timing.cron_words import DESCRIPTORS, describe
from app.timing.schedule import Schedule, check_cron

SAID = [
    # Frequencies: the same anywhere, so no zone.
    ("* * * * * *", "UTC", "every second"),
    ("*/10 * * * * *", "UTC", "every 10 seconds"),
    ("* * * * *", "UTC", "every minute"),
    ("*/1 * * * *", "UTC", "every minute"),
    ("*/5 * * * *", "Europe/Berlin", "every 5 minutes"),
    ("30 * * * * *", "UTC", "every minute at second 30"),
    ("0 * * * *", "UTC", "every hour"),
    ("15 * * * *", "UTC", "every hour at minute 15"),
    ("0,30 * * * *", "UTC", "every hour at minutes 0 and 30"),
    ("0 */2 * * *", "UTC", "every 2 hours"),
    ("30 */6 * * *", "UTC", "every 6 hours at minute 30"),
    # Times of day.
    ("30 2 * * *", "Europe/Berlin", "every day at 02:30 (Europe/Berlin)"),
    ("0 9 * * *", "UTC", "every day at 09:00 UTC"),
    ("15 30 6 * * *", "UTC", "every day at 06:30:15 UTC"),
    ("0 0,6,12,18 * * *", "UTC", "every day at 00:00, 06:00, 12:00 and 18:00 UTC"),
    ("0,30 9 * * *", "UTC", "every day at 09:00 and 09:30 UTC"),
    # Bounded to some hours.
    ("*/15 9-17 * * *", "UTC", "every 15 minutes from 09:00 to 17:45 UTC"),
    ("30 9-17 * * *", "America/New_York", "every hour from 09:30 to 17:30 (America/New_York)"),
    ("* 9 * * *", "UTC", "every minute from 09:00 to 09:59 UTC"),
    # Weekdays.
    ("0 9 * * 1", "UTC", "every Monday at 09:00 UTC"),
    ("0 9 * * MON-FRI", "UTC", "every weekday at 09:00 UTC"),
    ("0 9,17 * * 1-5", "UTC", "every weekday at 09:00 and 17:00 UTC"),
    ("0 8 * * sat,sun", "UTC", "every Saturday and Sunday at 08:00 UTC"),
    ("0 8 * * 1,3,5", "UTC", "every Monday, Wednesday and Friday at 08:00 UTC"),
    ("0 8 * * 1-3", "UTC", "every Monday to Wednesday at 08:00 UTC"),
    ("0 0 * * 7", "UTC", "every Sunday at 00:00 UTC"),
    ("*/5 * * * 1-5", "Europe/Berlin", "every 5 minutes on weekdays (Europe/Berlin)"),
    ("0 * * * 6", "UTC", "every hour on Saturday UTC"),
    # Days of the month and months.
    ("0 0 1 * *", "UTC", "every month on day 1 at 00:00 UTC"),
    ("0 0 1,15 * *", "UTC", "every month on days 1 and 15 at 00:00 UTC"),
    ("0 12 1-7 * *", "UTC", "every month on days 1 to 7 at 12:00 UTC"),
    ("0 0 1 1 *", "UTC", "every year on January 1 at 00:00 UTC"),
    ("0 0 1 jan,jul *", "UTC", "every year on day 1 of January and July at 00:00 UTC"),
    ("0 12 * 1,7 *", "UTC", "every day in January and July at 12:00 UTC"),
    ("0 9 * DEC 1", "UTC", "every Monday in December at 09:00 UTC"),
    ("*/10 * 1 * *", "UTC", "every 10 minutes on day 1 of the month UTC"),
    ("0 0 ? * *", "UTC", "every day at 00:00 UTC"),
    # Descriptors.
    ("@hourly", "UTC", "every hour"),
    ("@daily", "Europe/Berlin", "every day at 00:00 (Europe/Berlin)"),
    ("@midnight", "UTC", "every day at 00:00 UTC"),
    ("@weekly", "UTC", "every Sunday at 00:00 UTC"),
    ("@monthly", "UTC", "every month on day 1 at 00:00 UTC"),
    ("@yearly", "UTC", "every year on January 1 at 00:00 UTC"),
    ("@annually", "UTC", "every year on January 1 at 00:00 UTC"),
]

# Shapes with no short exact sentence: shown as they are, with the zone.
UNSAID = [
    "*/7 * * * *",  # fires at :56 and then :00, so not "every 7 minutes"
    "5/15 * * * *",
    "0-30/10 * * * *",
    "0 0 L * *",
    "0 0 * * 1#2",
    "0 9 1 * 1",  # day of month OR weekday
    "0,30 8-9 * * *",
    "0 0 */2 * *",
    "0,30 * * * * *",
    "0 0 0,1,2,3,4,5,6 * * *",  # seven times a day: too many to list
    "*/10 5 * * * *",
]


@pytest.mark.parametrize(("cron", "timezone", "words"), SAID, ids=[c for c, _, _ in SAID])
def test_common_schedules_are_said_in_words(cron, timezone, words):
    check_cron(cron)  # the table holds only schedules a job may have
    assert describe(Schedule(cron=cron, timezone=timezone)) == words


@pytest.mark.parametrize("cron", UNSAID)
def test_a_schedule_without_a_simple_wording_is_shown_as_it_is_with_its_zone(cron):
    check_cron(cron)
    assert describe(Schedule(cron=cron)) == f"{cron} UTC"
    assert describe(Schedule(cron=cron, timezone="Asia/Tokyo")) == f"{cron} (Asia/Tokyo)"


def test_every_descriptor_is_said_in_words():
    for descriptor in DESCRIPTORS:
        assert not describe(Schedule(cron=descriptor)).startswith("@")


def test_descriptors_are_read_whatever_their_case():
    assert describe(Schedule(cron="@Daily")) == "every day at 00:00 UTC"


def test_a_one_off_job_is_said_at_its_time_in_its_zone():
    at = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)

    assert describe(Schedule(execute_at=at)) == "once at 2030-01-01 09:00 UTC"
    assert (
        describe(Schedule(execute_at=at, timezone="Europe/Berlin"))
        == "once at 2030-01-01 10:00 (Europe/Berlin)"
    )


def test_a_one_off_time_with_seconds_keeps_them():
    at = datetime(2030, 1, 1, 9, 0, 5, tzinfo=UTC)

    assert describe(Schedule(execute_at=at)) == "once at 2030-01-01 09:00:05 UTC"

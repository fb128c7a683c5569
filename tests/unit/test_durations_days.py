"""Durations in days ("30d", used by retention periods): app.durations.parse_duration."""

import pytest

from app.timing.durations import format_duration, parse_duration

DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * DAY),
        ("1d", DAY),
        ("1d12h", 1.5 * DAY),
        ("1.5d", 1.5 * DAY),
        ("2d3h4m5s", 2 * DAY + 3 * 3600 + 4 * 60 + 5),
        ("0d", 0.0),
    ],
)
def test_days_are_parsed_as_24_hours_each(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_thirty_days_is_720_hours():
    assert parse_duration("30d") == parse_duration("720h")


def test_a_day_and_a_half_equals_36_hours():
    assert parse_duration("1d12h") == parse_duration("36h")


@pytest.mark.parametrize("text", ["d", "1D", "1dd", "1day", "1d-1h", "-1d", "1 d"])
def test_malformed_day_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_duration_in_days_formats_back_in_hours_and_parses_to_the_same_value():
    assert format_duration(parse_duration("30d")) == "720h"
    assert parse_duration(format_duration(parse_duration("1d12h"))) == 1.5 * DAY

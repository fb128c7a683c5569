"""Go-style duration strings: app.durations.parse_duration / format_duration."""

import pytest

from app.timing.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("1000ns", 0.000001),
        ("0", 0.0),
        ("0s", 0.0),
        ("+5s", 5.0),
        (" 10s ", 10.0),
    ],
)
def test_valid_duration_is_parsed_to_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "10",  # a bare number other than "0" has no unit
        "1.5",
        "-5s",
        "-1h30m",
        "abc",
        "10 s",
        "1h 30m",
        "10sec",
        "5w",
        "s",
        "1e3s",
        "1.5.5s",
        "",
        "   ",
        "+",
    ],
)
def test_invalid_duration_raises_value_error(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("value", [10, 1.5, None, b"10s"])
def test_non_string_duration_raises_value_error(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_negative_duration_error_says_it_must_not_be_negative():
    with pytest.raises(ValueError, match="negative"):
        parse_duration("-5s")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (1.5, "1500ms"),
        (10, "10s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (3661, "1h1m1s"),
        (7200, "2h"),
    ],
)
def test_format_gives_the_shortest_go_spelling(seconds, text):
    assert format_duration(seconds) == text


def test_format_keeps_microseconds_and_rounds_below_them():
    assert format_duration(0.0104) == "10400us"
    assert format_duration(0.0000004) == "0s"


@pytest.mark.parametrize("text", ["500ms", "10s", "1m", "1h30m", "1m30s", "1h1m1s", "1500ms", "0s"])
def test_formatted_duration_parses_back_to_the_same_spelling(text):
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("seconds", [0.0, 0.001, 0.5, 1.5, 10.0, 59.999, 60.0, 5400.0, 86400.0])
def test_parse_of_format_returns_the_same_number_of_seconds(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)

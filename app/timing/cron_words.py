"""Schedules in words, for people scanning a job list: "every day at 02:30 (Europe/Berlin)".

Pure: no I/O and no clock. It says only what it can say exactly and simply; for
anything else it gives the cron expression itself, since a raw expression is
never wrong and a clumsy paraphrase of one easily is.
"""

from dataclasses import dataclass

from app.timing.durations import format_duration
from app.timing.schedule import Schedule, zone

# What croniter reads each descriptor as.
DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# Cron numbers weekdays from Sunday, and takes 7 for Sunday too.
WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NUMBERS = {name[:3].upper(): number for number, name in enumerate(MONTHS, 1)}
_WEEKDAY_NUMBERS = {name[:3].upper(): number for number, name in enumerate(WEEKDAYS[:7])}


class _Unsaid(Exception):
    """The expression has no simple wording here: show it as it is."""


@dataclass(frozen=True)
class _Field:
    """One cron field: any value (`*`), a step from the start (`*/n`), or a list of
    values and ranges (`1,15`, `MON-FRI`), each range a (low, high) pair."""

    step: int | None = None
    items: tuple[int | tuple[int, int], ...] = ()

    @property
    def any(self) -> bool:
        return self.step is None and not self.items

    @property
    def values(self) -> list[int] | None:
        """The single values it lists, or None when it is not a list of single values."""
        if not self.items or any(isinstance(item, tuple) for item in self.items):
            return None
        return list(self.items)

    @property
    def span(self) -> tuple[int, int] | None:
        """(low, high) of a field that is one value or one range, else None."""
        if len(self.items) != 1:
            return None
        item = self.items[0]
        return item if isinstance(item, tuple) else (item, item)


def _field(text: str, names: dict[str, int] | None = None) -> _Field:
    if text in ("*", "?"):
        return _Field()
    if text.startswith("*/"):
        return _Field(step=_number(text[2:], None))
    items: list[int | tuple[int, int]] = []
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if dash:
            items.append((_number(low, names), _number(high, names)))
        else:
            items.append(_number(part, names))
    return _Field(items=tuple(items))


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():  # L, W, #, steps of ranges: not worth a sentence
        raise _Unsaid
    return int(text)


def describe(schedule: Schedule) -> str:
    """The schedule in words: "every 5 minutes", "every Monday at 09:00 UTC",
    "once at 2030-01-01 09:00 UTC"; a cron expression it cannot say simply comes
    back as it is, with its time zone."""
    if schedule.cron is None:
        return _in_zone(f"once at {_instant(schedule)}", schedule.timezone)
    expression = DESCRIPTORS.get(schedule.cron.lower(), schedule.cron)
    try:
        said = _cron(expression.split(), schedule.timezone)
    except _Unsaid:
        # Whether the zone matters is exactly what could not be worked out.
        said = _in_zone(schedule.cron, schedule.timezone)
    if schedule.jitter:
        said += f", plus up to {format_duration(schedule.jitter)} of jitter"
    return said


def _instant(schedule: Schedule) -> str:
    local = schedule.execute_at.astimezone(zone(schedule.timezone))
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _in_zone(text: str, timezone: str) -> str:
    return f"{text} UTC" if timezone == "UTC" else f"{text} ({timezone})"


def _cron(fields: list[str], timezone: str) -> str:
    # Five fields fire at second 0; six put the seconds first.
    second = _field(fields[0]) if len(fields) == 6 else _Field(items=(0,))
    minute, hour, day, month, weekday = fields[-5:]
    minute, hour = _field(minute), _field(hour)
    every_day, on_days = _days(
        _field(day), _field(month, _MONTH_NUMBERS), _field(weekday, _WEEKDAY_NUMBERS)
    )
    times = _clock_times(second, minute, hour)
    if times is not None:
        return _in_zone(f"{every_day} at {_join(times)}", timezone)
    text = _frequency(second, minute, hour)
    # Wall-clock hours or days make the zone matter; "every 5 minutes" is the
    # same anywhere.
    if on_days or hour.items:
        return _in_zone(f"{text} {on_days}".rstrip(), timezone)
    return text


def _clock_times(second: _Field, minute: _Field, hour: _Field) -> list[str] | None:
    """The times of day of a schedule that fires at a few fixed ones, else None."""
    seconds, minutes, hours = second.values, minute.values, hour.values
    if not (seconds and minutes and hours) or len(seconds) > 1:
        return None
    times = [_clock(h, m, seconds[0]) for h in hours for m in minutes]
    return times if len(times) <= 6 else None


def _clock(hour: int, minute: int, second: int = 0) -> str:
    return f"{hour:02}:{minute:02}:{second:02}" if second else f"{hour:02}:{minute:02}"


def _frequency(second: _Field, minute: _Field, hour: _Field) -> str:
    """A schedule that fires many times a day: "every 15 minutes from 09:00 to 17:45"."""
    if second.any or second.step:
        if not (minute.any and hour.any):
            raise _Unsaid
        return _every(second.step or 1, "second", 60)
    if second.values != [0]:
        if second.values is None or len(second.values) > 1 or not minute.any:
            raise _Unsaid
        return _during(f"every minute at second {second.values[0]}", hour, 0, 59)
    if minute.any or minute.step:
        step = minute.step or 1
        return _during(_every(step, "minute", 60), hour, 0, max(range(0, 60, step)))
    minutes = minute.values
    if minutes is None or (len(minutes) > 1 and not hour.any):
        raise _Unsaid
    if hour.step:
        at = f" at minute {minutes[0]}" if minutes[0] else ""
        return _every(hour.step, "hour", 24) + at
    if hour.any:
        if minutes == [0]:
            return "every hour"
        noun = "minute" if len(minutes) == 1 else "minutes"
        return f"every hour at {noun} {_join([str(m) for m in minutes])}"
    return _during("every hour", hour, minutes[0], minutes[0])


def _every(step: int, unit: str, cycle: int) -> str:
    # A step that does not divide its cycle leaves a shorter gap at the wrap
    # (*/7 minutes fires at :56 and then :00), so "every 7 minutes" would be wrong.
    if cycle % step:
        raise _Unsaid
    return f"every {unit}" if step == 1 else f"every {step} {unit}s"


def _during(text: str, hour: _Field, first_minute: int, last_minute: int) -> str:
    if hour.any:
        return text
    if hour.span is None:
        raise _Unsaid
    low, high = hour.span
    return f"{text} from {_clock(low, first_minute)} to {_clock(high, last_minute)}"


def _days(day: _Field, month: _Field, weekday: _Field) -> tuple[str, str]:
    """The days a schedule fires on, as ("every Monday", "on Monday"): the first
    leads a time of day ("every Monday at 09:00"), the second follows a frequency
    ("every 5 minutes on Monday"); ("every day", "") when it fires every day."""
    if day.step or month.step or weekday.step or not (day.any or weekday.any):
        # Cron fires when either day field matches: no plain sentence says that.
        raise _Unsaid
    months = _join(_names(month, MONTHS, 1)) if month.items else ""
    if not weekday.any:
        every, on = _weekdays(weekday)
        if month.any:
            return every, on
        return f"{every} in {months}", f"{on} in {months}"
    if not day.any:
        plural = len(day.items) > 1 or day.values is None
        days = f"{'days' if plural else 'day'} {_join(_names(day, None, 0))}"
        if month.any:
            return f"every month on {days}", f"on {days} of the month"
        if not plural and month.values is not None and len(month.values) == 1:
            date = f"{MONTHS[month.values[0] - 1]} {day.values[0]}"
            return f"every year on {date}", f"on {date}"
        return f"every year on {days} of {months}", f"on {days} of {months}"
    if not month.any:
        return f"every day in {months}", f"in {months}"
    return "every day", ""


def _weekdays(weekday: _Field) -> tuple[str, str]:
    if weekday.items == ((1, 5),):
        return "every weekday", "on weekdays"
    names = _join(_names(weekday, WEEKDAYS, 0))
    return f"every {names}", f"on {names}"


def _names(field: _Field, names: tuple[str, ...] | None, first: int) -> list[str]:
    """The field's items in words; `names` holds the name of each number from `first`
    on (None: the numbers themselves)."""

    def name(number: int) -> str:
        return str(number) if names is None else names[number - first]

    return [
        f"{name(item[0])} to {name(item[1])}" if isinstance(item, tuple) else name(item)
        for item in field.items
    ]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"

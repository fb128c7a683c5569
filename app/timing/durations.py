"""Go-style durations ("500ms", "10s", "1m30s") to and from seconds."""

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError on anything else.

    Like Go's time.ParseDuration a unit is required (except for "0") and parts may
    be combined ("1h30m"); unlike it, "d" (24 h) is accepted for retention periods
    ("30d"), and a negative duration is refused because nothing here has a use for one.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string such as '10s', got {text!r}")
    value = text.strip()
    if value == "0":
        return 0.0
    if value.startswith("-"):
        raise ValueError(f"duration {text!r} must not be negative")
    value = value.lstrip("+")
    if not value:
        raise ValueError("empty duration")
    total, position = 0.0, 0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"invalid duration {text!r} (use e.g. 500ms, 10s, 1m, 1h30m, 30d)")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Go-style spelling of `seconds`, exact to the microsecond."""
    micros = round(seconds * 1_000_000)
    if micros == 0:
        return "0s"
    if micros % 1000:
        return f"{micros}us"
    if micros % 1_000_000:
        return f"{micros // 1000}ms"
    whole = micros // 1_000_000
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)

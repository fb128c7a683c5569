"""Fire times: pure functions of a job's schedule and the time given to them.

Cron is evaluated in the job's time zone; every datetime returned is aware, in UTC.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

# Namespace of delivery ids: uuid5(namespace, job id + slot) is the same for every
# attempt and every re-claim of one slot, so a receiver can de-duplicate on it.
_DELIVERY_NAMESPACE = uuid.UUID("6f1c1d4e-8a43-4f8e-9a55-3b5e2f7c9d10")


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used."""


@dataclass(frozen=True)
class Schedule:
    """When a job runs: at `execute_at` once, or on `cron` in `timezone`."""

    execute_at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"


def check_cron(expression: str) -> None:
    """Accept 5 fields, 6 fields with seconds first, or an @hourly-style descriptor."""
    fields = expression.split()
    ok = len(fields) == 1 if expression.startswith("@") else len(fields) in (5, 6)
    if not ok or not croniter.is_valid(expression, second_at_beginning=True):
        raise ScheduleError(
            f"invalid cron schedule {expression!r}: use 5 fields (minute hour day month "
            "weekday), 6 fields with seconds first, or a descriptor such as @hourly"
        )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None


def next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """The first slot of `cron` strictly after `after`, evaluated in `timezone`."""
    local = after.astimezone(zone(timezone))
    fire = croniter(cron, local, second_at_beginning=True).get_next(datetime)
    return fire.astimezone(UTC)


def first_run(schedule: Schedule, now: datetime) -> datetime:
    """next_run of a job created (or rescheduled) at `now`."""
    if schedule.execute_at is not None:
        return schedule.execute_at
    return next_fire(schedule.cron, schedule.timezone, now)


def run_after(schedule: Schedule, slot: datetime, now: datetime) -> datetime | None:
    """next_run once `slot` has been served, by the job's definition at `now`.

    Missed slots are coalesced: a recurring job resumes from `now`, not from the
    slot it served. A one-off job ends (None) unless it was moved to a later time
    while this slot ran.
    """
    if schedule.cron is not None:
        return next_fire(schedule.cron, schedule.timezone, max(slot, now))
    if schedule.execute_at is not None and schedule.execute_at > slot:
        return schedule.execute_at
    return None


def delivery_id(job_id: uuid.UUID, slot: datetime) -> uuid.UUID:
    """The id shared by every attempt and re-claim of one slot of one job."""
    stamp = slot.astimezone(UTC).isoformat(timespec="microseconds")
    return uuid.uuid5(_DELIVERY_NAMESPACE, f"{job_id}/{stamp}")

"""Fire times: pure functions of a job's schedule and the time given to them.

Cron is evaluated in the job's time zone; every datetime returned is aware, in UTC.
"""

import hashlib
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

# Namespace of delivery ids: uuid5(namespace, job id + slot) is the same for every
# attempt and every re-claim of one slot, so a receiver can de-duplicate on it.
_DELIVERY_NAMESPACE = uuid.UUID("6f1c1d4e-8a43-4f8e-9a55-3b5e2f7c9d10")


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# What becomes of the slots of a recurring job that come while its execution
# runs: skipped (recorded as SKIPPED), the first of them run as soon as it ends
# and the rest skipped, or each run at its time beside the others (up to the
# job's max_concurrent).
OVERLAP_POLICIES = ("skip", "buffer_one", "allow")
DEFAULT_MAX_CONCURRENT = 10
# Skipped slots recorded for one execution, at most: an every-second job that ran
# for an hour would otherwise write 3,600 rows at once.
MAX_SKIPPED_RECORDED = 1000


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used."""


@dataclass(frozen=True)
class Schedule:
    """When a job runs: at `execute_at` once, or on `cron` in `timezone`, with no
    slot before `starts_at` or after `ends_at`, and at most `max_runs` slots; each
    cron slot fires up to `jitter` seconds after it (see fire_time)."""

    execute_at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    max_runs: int | None = None
    jitter: float | None = None
    overlap: str = "skip"  # what becomes of slots that come while one runs (OVERLAP_POLICIES)


def check_cron(expression: str) -> None:
    """Accept 5 fields, 6 fields with seconds first, or an @hourly-style descriptor."""
    fields = expression.split()
    ok = len(fields) == 1 if expression.startswith("@") else len(fields) in (5, 6)
    if not ok or not croniter.is_valid(expression, second_at_beginning=True):
        raise ScheduleError(
            f"invalid cron schedule {expression!r}: use 5 fields (minute hour day month "
            "weekday), 6 fields with seconds first, or a descriptor such as @hourly"
        )
    # A valid expression may still name no real day (30 February): refuse it now
    # rather than fail every time a next run is computed.
    try:
        croniter(expression, _EPOCH, second_at_beginning=True).get_next(datetime)
    except CroniterBadDateError:
        raise ScheduleError(f"cron schedule {expression!r} never fires") from None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None


def next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """The first slot of `cron` strictly after `after`, evaluated in `timezone`.

    Cron names wall-clock times; around DST changes these are resolved so that no
    slot is skipped and none runs twice:
    - a time that does not exist (spring forward) fires at the first valid instant
      after the gap;
    - a time that exists twice (fall back) fires once, at its first occurrence,
      unless the schedule runs every hour, which then also fires in the repeated
      hour, once per real hour.
    """
    tz = zone(timezone)
    local = after.astimezone(tz)
    start = local.replace(tzinfo=None)
    if _occurrences(start, tz)[0] != _occurrences(start, tz)[-1]:
        # Inside a repeated hour: the second occurrences of wall times before
        # `after` may still be ahead of it.
        start -= local.utcoffset() - (local + timedelta(hours=3)).utcoffset()
    candidates = _parsed(cron)
    candidates.set_current(start - timedelta(microseconds=1), force=True)
    # In a repeated hour the second occurrences run later than the first ones of
    # the wall times after them: keep the earliest seen until a plain time comes.
    later: datetime | None = None
    while True:
        wall = candidates.get_next(datetime)
        first, *second = _occurrences(wall, tz)
        if first > after:
            return min(first, later) if later else first
        if second and second[0] > after and _every_hour(cron):
            later = min(later or second[0], second[0])


def _every_hour(cron: str) -> bool:
    return _parsed(cron).expanded[1] in (["*"], list(range(24)))


_PARSED = threading.local()
_PARSED_KEEP = 256  # expressions kept per thread


def _parsed(cron: str) -> croniter:
    """A croniter for `cron`, parsed once per thread: parsing is most of the cost of a
    next fire time, and an iterator is not safe to share between threads."""
    cache = getattr(_PARSED, "cache", None)
    if cache is None:
        cache = _PARSED.cache = {}
    iterator = cache.get(cron)
    if iterator is None:
        if len(cache) >= _PARSED_KEEP:
            cache.clear()
        iterator = cache[cron] = croniter(cron, _EPOCH, second_at_beginning=True)
    return iterator


def _occurrences(wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """The instants (UTC) a naive wall time names: one, two in a repeated hour, or,
    for a time skipped by DST, the first instant after the gap."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return [first, second]
    return [_transition(second, first, tz)]


def _transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The instant in (before, after] at which the UTC offset of `tz` changes."""
    offset = before.astimezone(tz).utcoffset()
    low, high = 0, int((after - before).total_seconds())
    while low < high:
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(tz).utcoffset() == offset:
            low = middle + 1
        else:
            high = middle
    return before + timedelta(seconds=low)


def slot_after(schedule: Schedule, after: datetime, runs: int = 0) -> datetime | None:
    """The first cron slot strictly after `after` inside the window, or None when
    the window is over or `runs` slots of `max_runs` were already served."""
    if schedule.max_runs is not None and runs >= schedule.max_runs:
        return None
    if schedule.starts_at is not None and schedule.starts_at > after:
        after = schedule.starts_at - timedelta(microseconds=1)  # starts_at itself counts
    fire = next_fire(schedule.cron, schedule.timezone, after)
    if schedule.ends_at is not None and fire > schedule.ends_at:
        return None
    return fire


def first_run(schedule: Schedule, now: datetime, runs: int = 0) -> datetime | None:
    """next_run of a job created, rescheduled or resumed at `now`."""
    if schedule.execute_at is not None:
        return schedule.execute_at
    return slot_after(schedule, now, runs)


def run_after(schedule: Schedule, slot: datetime, now: datetime, runs: int = 0) -> datetime | None:
    """next_run once `slot` has been served, by the job's definition at `now`.

    `runs` counts the slots served so far, this one included. Missed slots are
    coalesced: a recurring job resumes from `now`, not from the slot it served.
    A one-off job ends (None) unless it was moved to a later time while this slot ran.
    """
    if schedule.cron is not None:
        return slot_after(schedule, max(slot, now), runs)
    if schedule.execute_at is not None and schedule.execute_at > slot:
        return schedule.execute_at
    return None


def came_during(schedule: Schedule, start: datetime, end: datetime, runs: int) -> list[datetime]:
    """The slots in (start, end]: those that came while an execution ran, at most
    MAX_SKIPPED_RECORDED + 1."""
    came: list[datetime] = []
    slot = slot_after(schedule, start, runs) if schedule.cron else None
    while slot is not None and slot <= end and len(came) <= MAX_SKIPPED_RECORDED:
        came.append(slot)
        slot = slot_after(schedule, slot, runs)
    return came


def after_overlap(
    schedule: Schedule, came: list[datetime], following: datetime | None
) -> tuple[datetime | None, list[datetime]]:
    """(next slot, slots to record as SKIPPED) once an execution that `came`
    overlapped ends; `following` is the next slot otherwise (after now)."""
    if schedule.overlap == "allow":  # each slot started at its time
        return following, []
    if schedule.overlap == "buffer_one" and came:
        return came[0], came[1 : MAX_SKIPPED_RECORDED + 1]
    return following, came[:MAX_SKIPPED_RECORDED]


def upcoming(
    schedule: Schedule,
    next_slot: datetime | None,
    count: int,
    now: datetime,
    runs: int = 0,
    job_id: uuid.UUID | None = None,
) -> list[datetime]:
    """When `next_slot` and the slots that follow it fire: at most `count` times
    (with jitter, each slot's fire time for the job `job_id`).

    An overdue slot runs once, and the schedule goes on from `now` (missed slots
    are coalesced), so the slots after it are those after `now`.
    """
    fires: list[datetime] = []
    while next_slot is not None and len(fires) < count:
        fired = fire_time(schedule, job_id, next_slot)
        fires.append(fired)
        runs += 1
        next_slot = slot_after(schedule, max(fired, now), runs) if schedule.cron else None
    return fires


def jitter_offset(job_id: uuid.UUID, slot: datetime, window: float) -> timedelta:
    """A deterministic offset in [0, `window`) seconds, to the microsecond, spread
    evenly over the window by a hash of the job and the slot: the same for every
    tick and worker that computes it, different from job to job."""
    window_us = int(window * 1_000_000)
    if window_us <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{job_id}/{_stamp(slot)}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(microseconds=min(int(fraction * window_us), window_us - 1))


def fire_time(schedule: Schedule, job_id: uuid.UUID, slot: datetime | None) -> datetime | None:
    """When `slot` fires: the slot itself, or with jitter the slot plus its offset,
    which stays before the cron's next slot (so slots never swap or merge)."""
    if slot is None or not schedule.jitter or schedule.cron is None:
        return slot
    following = next_fire(schedule.cron, schedule.timezone, slot)
    window = min(schedule.jitter, (following - slot).total_seconds())
    return slot + jitter_offset(job_id, slot, window)


def planned(
    schedule: Schedule, job_id: uuid.UUID, slot: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """(next_run, next_slot) of a job whose next slot is `slot`: the slot's fire
    time, which the tick claims by, and, with jitter, the slot it serves."""
    jittered = slot is not None and bool(schedule.jitter) and schedule.cron is not None
    return fire_time(schedule, job_id, slot), slot if jittered else None


def lag_exceeds(slot: datetime, started: datetime, grace: float | None) -> bool:
    """Whether a slot started `started` is later than its misfire grace (seconds)."""
    return grace is not None and (started - slot).total_seconds() > grace


def _stamp(slot: datetime) -> str:
    return slot.astimezone(UTC).isoformat(timespec="microseconds")


def delivery_id(job_id: uuid.UUID, slot: datetime) -> uuid.UUID:
    """The id shared by every attempt and re-claim of one slot of one job."""
    return uuid.uuid5(_DELIVERY_NAMESPACE, f"{job_id}/{_stamp(slot)}")

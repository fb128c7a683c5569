"""Jitter (app/timing/schedule.py): each slot of a recurring job fires at the slot
plus a deterministic offset in [0, jitter), before the next slot; what the API
previews is what the service then does."""

import statistics
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.timing.cron_words import describe
from app.timing.schedule import (
    Schedule,
    fire_time,
    first_run,
    jitter_offset,
    next_fire,
    planned,
    run_after,
    upcoming,
)

JOB = uuid.UUID("0b6f6f9e-58e3-4a43-9d1b-1d0f3f6a7c11")
START = datetime(2030, 1, 1, tzinfo=UTC)


def test_ten_thousand_offsets_lie_in_the_window_and_average_half_of_it():
    window = 30.0
    slots = [START + timedelta(minutes=i) for i in range(10_000)]
    offsets = [jitter_offset(JOB, slot, window).total_seconds() for slot in slots]
    assert all(0 <= offset < window for offset in offsets)
    assert abs(statistics.mean(offsets) - window / 2) <= 0.05 * window / 2
    # Spread over the whole window, not bunched.
    assert min(offsets) < window * 0.01 and max(offsets) > window * 0.99


def test_a_slot_fires_before_the_next_one_however_large_the_jitter():
    every_second = Schedule(cron="* * * * * *", jitter=3600)
    for i in range(2_000):
        slot = START + timedelta(seconds=i)
        fired = fire_time(every_second, JOB, slot)
        assert slot <= fired < next_fire(every_second.cron, "UTC", slot)


def test_offsets_are_the_same_wherever_computed_and_differ_between_jobs():
    slot = START + timedelta(hours=5)
    assert jitter_offset(JOB, slot, 30) == jitter_offset(JOB, slot, 30)
    others = {jitter_offset(uuid.uuid4(), slot, 30) for _ in range(50)}
    assert len(others) > 45  # jobs sharing a schedule are spread apart


def test_without_jitter_or_for_a_one_off_job_the_fire_time_is_the_slot():
    assert fire_time(Schedule(cron="0 * * * *"), JOB, START) == START
    one_off = Schedule(execute_at=START, jitter=30)
    assert fire_time(one_off, JOB, START) == START
    assert planned(Schedule(cron="0 * * * *"), JOB, START) == (START, None)
    run, slot = planned(Schedule(cron="0 * * * *", jitter=30), JOB, START)
    assert slot == START and START <= run < START + timedelta(seconds=30)
    assert planned(Schedule(cron="0 * * * *", jitter=30), JOB, None) == (None, None)


def test_the_preview_is_what_the_service_then_does():
    """upcoming() against the path a job takes: planned when created, then after
    each slot is served at its fire time, the next one planned by the finish."""
    schedule = Schedule(cron="*/5 * * * *", timezone="Europe/Berlin", jitter=90)
    now = START + timedelta(seconds=7)
    shown = upcoming(schedule, first_run(schedule, now), 20, now, 0, JOB)

    fire, slot = planned(schedule, JOB, first_run(schedule, now))
    done = []
    for runs in range(1, 21):
        done.append(fire)
        served_at = fire + timedelta(milliseconds=40)  # the finish comes a little later
        fire, slot = planned(schedule, JOB, run_after(schedule, slot, served_at, runs))
    assert shown == done
    slots = upcoming(replace(schedule, jitter=None), first_run(schedule, now), 20, now)
    offsets = [(fire - slot).total_seconds() for fire, slot in zip(shown, slots, strict=True)]
    assert all(0 <= offset < 90 for offset in offsets) and max(offsets) > 1


def test_the_schedule_in_words_names_the_jitter():
    assert describe(Schedule(cron="0 * * * *", jitter=30)) == "every hour, plus up to 30s of jitter"

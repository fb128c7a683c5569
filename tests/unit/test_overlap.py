"""Overlap policies (app/timing/schedule.py): which slots came while an execution
ran, and what becomes of them."""

from datetime import UTC, datetime, timedelta

from app.timing.schedule import (
    MAX_SKIPPED_RECORDED,
    Schedule,
    after_overlap,
    came_during,
)

T = datetime(2030, 1, 1, 12, tzinfo=UTC)
EVERY_SECOND = Schedule(cron="* * * * * *")


def test_the_slots_that_came_while_an_execution_ran():
    came = came_during(EVERY_SECOND, T, T + timedelta(seconds=2.5), runs=1)
    assert came == [T + timedelta(seconds=1), T + timedelta(seconds=2)]
    assert came_during(EVERY_SECOND, T, T + timedelta(milliseconds=900), runs=1) == []


def test_the_window_and_max_runs_bound_them():
    ending = Schedule(cron="* * * * * *", ends_at=T + timedelta(seconds=1))
    assert came_during(ending, T, T + timedelta(seconds=5), 1) == [T + timedelta(seconds=1)]
    spent = Schedule(cron="* * * * * *", max_runs=3)
    assert came_during(spent, T, T + timedelta(seconds=5), runs=3) == []


def test_skip_records_them_all_and_goes_on_after_now():
    came = [T + timedelta(seconds=1), T + timedelta(seconds=2)]
    following = T + timedelta(seconds=3)
    assert after_overlap(EVERY_SECOND, came, following) == (following, came)


def test_buffer_one_runs_the_first_at_once_and_skips_the_rest():
    buffering = Schedule(cron="* * * * * *", overlap="buffer_one")
    came = [T + timedelta(seconds=1), T + timedelta(seconds=2)]
    assert after_overlap(buffering, came, T + timedelta(seconds=3)) == (came[0], came[1:])
    assert after_overlap(buffering, [], T + timedelta(seconds=3)) == (T + timedelta(seconds=3), [])


def test_a_long_run_records_a_bounded_number_of_skipped_slots():
    came = came_during(EVERY_SECOND, T, T + timedelta(hours=2), runs=1)
    _, skipped = after_overlap(EVERY_SECOND, came, None)
    assert len(skipped) == MAX_SKIPPED_RECORDED


def test_allow_skips_none_since_each_slot_started_at_its_time():
    allowing = Schedule(cron="* * * * * *", overlap="allow")
    came = [T + timedelta(seconds=1), T + timedelta(seconds=2)]
    following = T + timedelta(seconds=3)
    assert after_overlap(allowing, came, following) == (following, [])

"""Windows, max_runs, coalescing, previews and misfire lag: app.schedule."""

from datetime import UTC, datetime, timedelta

import pytest

from app.timing.schedule import (
    Schedule,
    first_run,
    lag_exceeds,
    run_after,
    slot_after,
    upcoming,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
HOURLY = "0 * * * *"
EVERY_5_MIN = "*/5 * * * *"


def _at(day, hour, minute=0, second=0, micro=0):
    return datetime(2026, 1, day, hour, minute, second, micro, tzinfo=UTC)


# slot_after: the window


def test_slot_exactly_at_starts_at_counts():
    schedule = Schedule(cron=HOURLY, starts_at=_at(16, 9))
    assert slot_after(schedule, NOW) == _at(16, 9)


def test_no_slot_is_given_before_starts_at():
    schedule = Schedule(cron=HOURLY, starts_at=_at(16, 9, 30))
    assert slot_after(schedule, NOW) == _at(16, 10)


def test_starts_at_a_microsecond_after_a_slot_excludes_that_slot():
    schedule = Schedule(cron=HOURLY, starts_at=_at(16, 9, micro=1))
    assert slot_after(schedule, NOW) == _at(16, 10)


def test_starts_at_in_the_past_does_not_bring_back_old_slots():
    schedule = Schedule(cron=HOURLY, starts_at=_at(1, 0))
    assert slot_after(schedule, NOW) == _at(15, 13)


def test_slot_after_is_strictly_after_the_time_given_once_inside_the_window():
    schedule = Schedule(cron=HOURLY, starts_at=_at(16, 9))
    assert slot_after(schedule, _at(16, 9)) == _at(16, 10)


def test_starts_at_is_compared_as_an_instant_whatever_the_jobs_time_zone():
    # 09:00 in Berlin is 08:00 UTC in winter: starts_at 08:00 UTC lets it fire.
    schedule = Schedule(cron="0 9 * * *", timezone="Europe/Berlin", starts_at=_at(16, 8))
    assert slot_after(schedule, NOW) == _at(16, 8)


def test_slot_exactly_at_ends_at_counts():
    schedule = Schedule(cron=HOURLY, ends_at=_at(15, 13))
    assert slot_after(schedule, NOW) == _at(15, 13)


def test_no_slot_after_ends_at():
    schedule = Schedule(cron=HOURLY, ends_at=_at(15, 12, 59))
    assert slot_after(schedule, NOW) is None


def test_window_over_gives_none_after_its_last_slot():
    schedule = Schedule(cron=HOURLY, starts_at=_at(16, 9), ends_at=_at(16, 12))
    assert slot_after(schedule, _at(16, 11)) == _at(16, 12)
    assert slot_after(schedule, _at(16, 12)) is None


def test_window_with_no_slot_inside_gives_none():
    schedule = Schedule(cron=HOURLY, starts_at=_at(16, 9, 10), ends_at=_at(16, 9, 50))
    assert slot_after(schedule, NOW) is None


def test_max_runs_reached_gives_none():
    schedule = Schedule(cron=HOURLY, max_runs=3)
    assert slot_after(schedule, NOW, runs=3) is None


def test_max_runs_exceeded_gives_none():
    schedule = Schedule(cron=HOURLY, max_runs=3)
    assert slot_after(schedule, NOW, runs=7) is None


def test_max_runs_not_yet_reached_gives_the_next_slot():
    schedule = Schedule(cron=HOURLY, max_runs=3)
    assert slot_after(schedule, NOW, runs=2) == _at(15, 13)


# first_run


def test_first_run_of_a_one_off_job_is_its_execute_at():
    schedule = Schedule(execute_at=_at(20, 8))
    assert first_run(schedule, NOW) == _at(20, 8)


def test_first_run_of_a_recurring_job_is_its_next_slot_after_now():
    assert first_run(Schedule(cron=EVERY_5_MIN), _at(15, 12, 2)) == _at(15, 12, 5)


def test_first_run_of_a_recurring_job_waits_for_starts_at():
    schedule = Schedule(cron=EVERY_5_MIN, starts_at=_at(20, 8))
    assert first_run(schedule, NOW) == _at(20, 8)


def test_first_run_of_a_recurring_job_whose_window_ended_is_none():
    schedule = Schedule(cron=EVERY_5_MIN, ends_at=_at(14, 0))
    assert first_run(schedule, NOW) is None


def test_first_run_of_a_recurring_job_that_used_up_its_runs_is_none():
    schedule = Schedule(cron=EVERY_5_MIN, max_runs=2)
    assert first_run(schedule, NOW, runs=2) is None
    assert first_run(schedule, NOW, runs=1) == _at(15, 12, 5)


# run_after


def test_run_after_coalesces_missed_slots_into_the_next_slot_after_now():
    schedule = Schedule(cron=EVERY_5_MIN)
    # The 09:00 slot ran at 12:02 after downtime: the next run is 12:05, not 09:05.
    assert run_after(schedule, _at(15, 9), _at(15, 12, 2)) == _at(15, 12, 5)


def test_run_after_a_slot_served_on_time_is_the_following_slot():
    schedule = Schedule(cron=EVERY_5_MIN)
    assert run_after(schedule, _at(15, 12), _at(15, 12, 0, 3)) == _at(15, 12, 5)


def test_run_after_never_goes_back_before_the_slot_served():
    # A clock slightly behind the slot must not give the same slot again.
    schedule = Schedule(cron=EVERY_5_MIN)
    assert run_after(schedule, _at(15, 12), _at(15, 11, 59, 59)) == _at(15, 12, 5)


def test_run_after_respects_ends_at():
    schedule = Schedule(cron=EVERY_5_MIN, ends_at=_at(15, 12, 4))
    assert run_after(schedule, _at(15, 12), _at(15, 12, 1)) is None


def test_run_after_the_last_slot_inside_the_window_is_none():
    schedule = Schedule(cron=EVERY_5_MIN, ends_at=_at(15, 12, 5))
    assert run_after(schedule, _at(15, 12, 5), _at(15, 12, 5, 1)) is None


def test_run_after_counts_the_slot_just_served_towards_max_runs():
    schedule = Schedule(cron=EVERY_5_MIN, max_runs=3)
    assert run_after(schedule, _at(15, 12), _at(15, 12, 1), runs=2) == _at(15, 12, 5)
    assert run_after(schedule, _at(15, 12), _at(15, 12, 1), runs=3) is None


def test_run_after_a_one_off_slot_ends_the_job():
    schedule = Schedule(execute_at=_at(15, 12))
    assert run_after(schedule, _at(15, 12), _at(15, 12, 1)) is None


def test_run_after_a_one_off_moved_later_while_running_keeps_the_new_time():
    schedule = Schedule(execute_at=_at(20, 8))
    assert run_after(schedule, _at(15, 12), _at(15, 12, 1)) == _at(20, 8)


# upcoming


def test_upcoming_lists_next_run_first_then_the_following_slots():
    schedule = Schedule(cron=HOURLY)
    assert upcoming(schedule, _at(15, 13), 3, NOW) == [_at(15, 13), _at(15, 14), _at(15, 15)]


def test_upcoming_keeps_a_next_run_that_is_not_a_slot_of_the_cron():
    # next_run may be an overdue slot or a resumed one: it is listed as given.
    schedule = Schedule(cron=HOURLY)
    assert upcoming(schedule, _at(15, 12, 30), 2, NOW) == [_at(15, 12, 30), _at(15, 13)]


def test_upcoming_stops_at_count():
    schedule = Schedule(cron=EVERY_5_MIN)
    assert len(upcoming(schedule, _at(15, 12, 5), 5, NOW)) == 5
    assert upcoming(schedule, _at(15, 12, 5), 1, NOW) == [_at(15, 12, 5)]


def test_upcoming_with_count_zero_is_empty():
    assert upcoming(Schedule(cron=EVERY_5_MIN), _at(15, 12, 5), 0, NOW) == []


def test_upcoming_stops_at_the_end_of_the_window():
    schedule = Schedule(cron=HOURLY, ends_at=_at(15, 15))
    assert upcoming(schedule, _at(15, 13), 10, NOW) == [_at(15, 13), _at(15, 14), _at(15, 15)]


def test_upcoming_stops_at_max_runs():
    schedule = Schedule(cron=HOURLY, max_runs=3)
    assert upcoming(schedule, _at(15, 13), 10, NOW) == [_at(15, 13), _at(15, 14), _at(15, 15)]


def test_upcoming_counts_the_runs_already_served_towards_max_runs():
    schedule = Schedule(cron=HOURLY, max_runs=3)
    assert upcoming(schedule, _at(15, 13), 10, NOW, runs=2) == [_at(15, 13)]


def test_upcoming_of_an_overdue_job_continues_from_now():
    schedule = Schedule(cron="0 * * * *")
    overdue = NOW - timedelta(days=3)
    assert upcoming(schedule, overdue, 3, NOW) == [overdue, _at(15, 13), _at(15, 14)]


def test_upcoming_of_a_one_off_job_is_its_execute_at_alone():
    schedule = Schedule(execute_at=_at(20, 8))
    assert upcoming(schedule, _at(20, 8), 5, NOW) == [_at(20, 8)]


def test_upcoming_without_a_next_run_is_empty():
    assert upcoming(Schedule(execute_at=_at(20, 8)), None, 5, NOW) == []
    assert upcoming(Schedule(cron=HOURLY), None, 5, NOW) == []


def test_upcoming_from_first_run_respects_starts_at_and_ends_at_together():
    schedule = Schedule(cron=HOURLY, starts_at=_at(16, 9), ends_at=_at(16, 11, 30))
    assert upcoming(schedule, first_run(schedule, NOW), 10, NOW) == [
        _at(16, 9),
        _at(16, 10),
        _at(16, 11),
    ]


# lag_exceeds


def test_lag_never_exceeds_an_absent_grace():
    assert lag_exceeds(_at(15, 12), _at(15, 12) + timedelta(days=30), None) is False


def test_lag_within_grace_does_not_exceed_it():
    assert lag_exceeds(_at(15, 12), _at(15, 12, 0, 10), 30.0) is False


def test_lag_exactly_equal_to_grace_does_not_exceed_it():
    assert lag_exceeds(_at(15, 12), _at(15, 12, 0, 30), 30.0) is False


def test_lag_strictly_longer_than_grace_exceeds_it():
    assert lag_exceeds(_at(15, 12), _at(15, 12, 0, 30, 1), 30.0) is True


def test_any_lag_exceeds_a_zero_grace():
    assert lag_exceeds(_at(15, 12), _at(15, 12, micro=1), 0.0) is True
    assert lag_exceeds(_at(15, 12), _at(15, 12), 0.0) is False


@pytest.mark.parametrize("grace", [0.0, 30.0])
def test_a_start_before_its_slot_never_exceeds_grace(grace):
    assert lag_exceeds(_at(15, 12), _at(15, 11, 59), grace) is False

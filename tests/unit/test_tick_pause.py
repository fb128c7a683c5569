"""How long the tick waits between claims (app.tick.pause_after)."""

import uuid
from datetime import UTC, datetime

import pytest

from app.claims import Claim, Claimed
from app.claims.tick import pause_after

INTERVAL = 10.0


def claimed(count: int, free: int, next_due_in: float | None = None) -> Claimed:
    made = [Claim(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)) for _ in range(count)]
    return Claimed(made, free, next_due_in)


def test_a_claim_cut_short_by_capacity_is_followed_after_a_short_gathering_pause():
    assert 0 < pause_after(claimed(5, 5, next_due_in=3.0), INTERVAL, 0) <= 0.05
    assert pause_after(claimed(5, 5, next_due_in=3.0), 0.02, 0) == 0.02


def test_with_nothing_more_due_the_tick_sleeps_until_the_next_slot():
    assert pause_after(claimed(2, 5, next_due_in=3.0), INTERVAL, 0) == pytest.approx(3.0, abs=0.01)


def test_the_interval_bounds_the_sleep():
    assert pause_after(claimed(0, 5, next_due_in=3600.0), INTERVAL, 0) == INTERVAL
    assert pause_after(claimed(0, 5, next_due_in=None), INTERVAL, 0) == INTERVAL


def test_with_no_capacity_the_tick_looks_again_soon_then_less_often():
    waits = [pause_after(claimed(0, 0, next_due_in=1.0), INTERVAL, n) for n in range(12)]
    assert waits[0] < 0.05
    assert waits == sorted(waits)
    assert waits[-1] == INTERVAL

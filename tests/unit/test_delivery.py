"""What a delivery carries: actors.delivery.Delivery.headers."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

from actors.delivery import Delivery

JOB_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
DELIVERY_ID = uuid.UUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
SLOT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _delivery(scheduled_for=SLOT, attempt=2):
    return Delivery(
        job_id=JOB_ID, delivery_id=DELIVERY_ID, scheduled_for=scheduled_for, attempt=attempt
    )


def test_headers_are_the_four_scheduler_headers():
    assert set(_delivery().headers()) == {
        "X-Scheduler-Job-Id",
        "X-Scheduler-Delivery-Id",
        "X-Scheduler-Scheduled-For",
        "X-Scheduler-Attempt",
    }


def test_headers_carry_job_id_delivery_id_and_attempt_as_strings():
    headers = _delivery(attempt=3).headers()
    assert headers["X-Scheduler-Job-Id"] == str(JOB_ID)
    assert headers["X-Scheduler-Delivery-Id"] == str(DELIVERY_ID)
    assert headers["X-Scheduler-Attempt"] == "3"
    assert all(isinstance(value, str) for value in headers.values())


def test_scheduled_for_header_is_rfc3339_in_utc():
    assert _delivery().headers()["X-Scheduler-Scheduled-For"] == "2026-01-15T12:00:00+00:00"


def test_scheduled_for_header_converts_another_offset_to_utc():
    berlin_winter = timezone(timedelta(hours=1))
    slot = datetime(2026, 1, 15, 13, 0, tzinfo=berlin_winter)
    shown = _delivery(scheduled_for=slot).headers()["X-Scheduler-Scheduled-For"]
    assert shown == "2026-01-15T12:00:00+00:00"
    parsed = datetime.fromisoformat(shown)
    assert parsed.utcoffset() == timedelta(0)
    assert parsed == slot

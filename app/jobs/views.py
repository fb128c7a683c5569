"""Rows as the API shows them, where the API is not the only one to show them: an
execution is also the heart of a callback's payload (app/callbacks.py)."""

from datetime import UTC, datetime

from app.jobs.models import Execution


def timestamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def execution(row: Execution) -> dict:
    return {
        "id": row.id,
        "job_id": str(row.job_id),
        "delivery_id": str(row.delivery_id),
        "scheduled_for": timestamp(row.scheduled_for),
        "manual": row.manual,
        "start_time": timestamp(row.start_time),
        "end_time": timestamp(row.end_time),
        "success": row.status == "SUCCESSFUL",
        "status": row.status,
        "attempts": row.attempts,
        "error_message": row.error_message,
        "status_code": row.status_code,
        "response_excerpt": row.response_excerpt,
        "lag_ms": row.lag_ms,
        "duration_ms": row.duration_ms,
        "error_kind": row.error_kind,
        "error_detail": row.error_detail,
        "redrive_of": row.redrive_of,
        "job_version": row.job_version,
    }

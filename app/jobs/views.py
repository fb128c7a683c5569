"""Rows as the API shows them, where the API is not the only one to show them: an
execution is also the heart of a callback's payload (app/callbacks.py)."""

from datetime import UTC, datetime

from app.jobs.models import Execution
from app.secrets.redaction import redact_amqp, redact_http


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


# A job's own fields as the audit log shows them (app/audit.py); its run state
# (next_run, runs, failures) changes by itself and is not the client's change.
_DEFINITION = (
    "name",
    "type",
    "status",
    "execute_at",
    "cron_schedule",
    "timezone",
    "starts_at",
    "ends_at",
    "max_runs",
    "jitter",
    "overlap_policy",
    "max_concurrent",
    "flow_key",
    "misfire_grace",
    "retry_policy",
    "timeout",
    "tags",
    "pause_after_failures",
    "http_job",
    "amqp_job",
    "on_failure",
    "on_success",
)


def definition(row) -> dict:
    """The job's definition as its row keeps it: secrets stand as "***" there,
    times in RFC 3339, durations in seconds."""
    shown = {}
    for name in _DEFINITION:
        value = getattr(row, name)
        shown[name] = timestamp(value) if isinstance(value, datetime) else value
    shown["tags"] = list(row.tags or [])
    # Rows written before secrets were sealed may still hold some in clear.
    if row.http_job is not None:
        shown["http_job"] = redact_http(row.http_job)
    if row.amqp_job is not None:
        shown["amqp_job"] = redact_amqp(row.amqp_job)
    return shown

"""Jobs and executions as the API shows them, secrets redacted."""

from datetime import UTC, datetime

from app.models import Execution, Job
from app.redaction import redact_amqp, redact_http


def timestamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def job(row: Job) -> dict:
    shown = {
        "id": str(row.id),
        "type": row.type,
        "status": row.status,
        "execute_at": timestamp(row.execute_at),
        "cron_schedule": row.cron_schedule,
        "timezone": row.timezone,
        "tags": list(row.tags or []),
        "next_run": timestamp(row.next_run),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }
    # As in the reference, only the payload of the job's type is present.
    if row.http_job is not None:
        shown["http_job"] = redact_http(row.http_job)
    if row.amqp_job is not None:
        shown["amqp_job"] = redact_amqp(row.amqp_job)
    return shown


def execution(row: Execution) -> dict:
    return {
        "id": row.id,
        "job_id": str(row.job_id),
        "delivery_id": str(row.delivery_id),
        "scheduled_for": timestamp(row.scheduled_for),
        "start_time": timestamp(row.start_time),
        "end_time": timestamp(row.end_time),
        "success": row.status == "SUCCESSFUL",
        "status": row.status,
        "attempts": row.attempts,
        "error_message": row.error_message,
        "http_status": row.http_status,
        "response_body": row.response_body,
    }

"""Jobs and executions as the API shows them, secrets redacted."""

from datetime import UTC, datetime

from app.jobs.models import DeadLetter, Execution, Job
from app.jobs.store import schedule_of
from app.jobs.views import timestamp
from app.secrets.redaction import CALLBACKS, redact_amqp, redact_http, split_callback
from app.timing.cron_words import describe
from app.timing.durations import format_duration
from app.timing.retry import policy_from_json
from app.timing.schedule import upcoming, zone

# How many fire times a job shows in next_runs.
NEXT_RUNS = 5


def duration(seconds: float | None) -> str | None:
    return format_duration(seconds) if seconds is not None else None


def job(row: Job, last: Execution | None) -> dict:
    """The job; `last` is its newest execution, if it has one."""
    policy = policy_from_json(row.retry_policy)
    shown = {
        "id": str(row.id),
        "name": row.name,
        "version": row.version,
        "type": row.type,
        "status": row.status,
        "execute_at": timestamp(row.execute_at),
        "cron_schedule": row.cron_schedule,
        "timezone": row.timezone,
        "schedule_text": describe(schedule_of(row)),
        "starts_at": timestamp(row.starts_at),
        "ends_at": timestamp(row.ends_at),
        "max_runs": row.max_runs,
        "jitter": duration(row.jitter),
        "overlap_policy": row.overlap_policy,
        "max_concurrent": row.max_concurrent,
        "flow_key": row.flow_key,
        "runs": row.runs,
        "misfire_grace": duration(row.misfire_grace),
        "retry_policy": {
            "max_attempts": policy.max_attempts,
            "min_backoff": format_duration(policy.min_backoff),
            "max_backoff": format_duration(policy.max_backoff),
        },
        "timeout": duration(row.timeout),
        "tags": list(row.tags or []),
        "next_run": timestamp(row.next_run),
        "next_runs": next_runs(row),
        "last_execution": outcome(last),
        "run_requested_at": timestamp(row.run_requested_at),
        "pause_after_failures": row.pause_after_failures,
        "consecutive_failures": row.consecutive_failures,
        "paused_reason": row.paused_reason,
        **{name: callback(getattr(row, name)) for name in CALLBACKS},
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }
    # As in the reference, only the payload of the job's type is present.
    if row.http_job is not None:
        shown["http_job"] = redact_http(row.http_job)
    if row.amqp_job is not None:
        shown["amqp_job"] = redact_amqp(row.amqp_job)
    return shown


def callback(stored: dict | None) -> dict | None:
    return None if stored is None else split_callback("callback", stored)[0]


def next_runs(row: Job) -> list[str]:
    """The coming fire times in the job's own zone; none while it is paused."""
    if row.status != "RUNNING":
        return []
    slot = row.next_slot or row.next_run
    fires = upcoming(schedule_of(row), slot, NEXT_RUNS, datetime.now(UTC), row.runs, row.id)
    return fire_times(fires, row.timezone)


def fire_times(instants: list[datetime], timezone: str) -> list[str]:
    tz = zone(timezone)
    return [instant.astimezone(tz).isoformat() for instant in instants]


def outcome(row: Execution | None) -> dict | None:
    """How an execution ended, in short: what a job list shows of its latest one."""
    if row is None:
        return None
    return {
        "status": row.status,
        "end_time": timestamp(row.end_time),
        "status_code": row.status_code,
    }


def dead_letter(row: DeadLetter) -> dict:
    return {
        "id": row.id,
        "job_id": str(row.job_id),
        "execution_id": row.execution_id,
        "delivery_id": str(row.delivery_id),
        "scheduled_for": timestamp(row.scheduled_for),
        "failed_at": timestamp(row.failed_at),
        "attempts": row.attempts,
        "status_code": row.status_code,
        "error_kind": row.error_kind,
        "error_message": row.error_message,
        "error_detail": row.error_detail,
        "request": row.request,
        "redrive_of": row.redrive_of,
        "redrive_requested_at": timestamp(row.redrive_requested_at),
        "redriven_at": timestamp(row.redriven_at),
        "redrive_execution_id": row.redrive_execution_id,
    }

"""Callbacks: telling a job's `on_failure` / `on_success` what happened
(docs/design.md, "Failures: dead letters, redrive, callbacks, pauses").

An outbox. The statement that records an execution (FINISH_MANY, or a pause it
causes) writes a row per callback to send, so a callback is never lost with a
worker. Senders (actors/callbacks.py) lease due rows for a while (`locked_until`,
with a fresh `lock_token`), send them, and finish each only under its token; a
sender that dies lets its lease lapse and another sends the row again. So a
callback is delivered at least once, and retried with backoff up to ATTEMPTS
times. Callbacks never touch the job's claim, runs or next slot.

This module holds the outbox's SQL and the pure parts: the payload, the
delivery id, the backoff.
"""

import uuid
from dataclasses import dataclass

from app.jobs.models import Execution
from app.jobs.views import execution as shown_execution
from app.jobs.views import timestamp

ATTEMPTS = 5
# Seconds before attempts 2..5: about a minute from the first to the last.
BACKOFF = (4.0, 8.0, 16.0, 32.0)
EVENTS = ("execution.failed", "execution.succeeded", "job.paused")
_NAMESPACE = uuid.UUID("5f0b7a0e-6c55-4d8e-9b0a-4f3c2d1e0a9b")


@dataclass(frozen=True)
class Leased:
    """A callback a sender holds until `lock_token` is finished or its lease lapses."""

    id: int
    lock_token: uuid.UUID
    job_id: uuid.UUID
    execution_id: int | None
    dead_letter_id: int | None
    event: str
    attempt: int  # this one's number, from 1


def backoff(attempt: int) -> float | None:
    """Seconds before the attempt after failed attempt `attempt`; None: no more."""
    return BACKOFF[attempt - 1] if attempt < ATTEMPTS else None


def delivery_id(leased: Leased) -> uuid.UUID:
    """The callback's X-Scheduler-Delivery-Id: derived from its execution and
    event (a paused job's from the job and the row), the same on every attempt."""
    subject = (
        f"execution/{leased.execution_id}"
        if leased.execution_id is not None
        else f"job/{leased.job_id}/{leased.id}"
    )
    return uuid.uuid5(_NAMESPACE, f"{subject}/{leased.event}")


def payload(
    event: str,
    job_id: uuid.UUID,
    tags: list[str],
    execution: dict | None,
    dead_letter_id: int | None = None,
    paused_reason: str | None = None,
) -> dict:
    """The JSON a callback POSTs: the event, the job, and the execution as the API
    shows it (for job.paused, the one whose failure paused the job)."""
    body = {"event": event, "job_id": str(job_id), "tags": tags, "execution": execution}
    if event == "execution.failed":
        body["dead_letter_id"] = dead_letter_id
    if event == "job.paused":
        body["paused_reason"] = paused_reason
    return body


# Lease up to `limit` due callbacks, oldest due first, skipping rows another
# sender is leasing; each attempt counts as it starts.
LEASE_DUE = """
UPDATE callbacks AS c
SET locked_until = now() + make_interval(secs => %(lease_seconds)s),
    lock_token = gen_random_uuid(),
    attempts = c.attempts + 1
WHERE c.id IN (
    SELECT id FROM callbacks
    WHERE status = 'PENDING' AND next_attempt_at <= now()
      AND (locked_until IS NULL OR locked_until <= now())
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING c.id, c.lock_token, c.job_id, c.execution_id, c.dead_letter_id, c.event, c.attempts
"""

# The outcome of an attempt, only under the lease that made it: delivered, given
# up, or due again after `retry_in` seconds.
FINISH_IF_LEASED = """
UPDATE callbacks
SET status = %(status)s, status_code = %(status_code)s, last_error = %(error)s,
    next_attempt_at = now() + make_interval(secs => COALESCE(%(retry_in)s, 0)),
    delivered_at = CASE WHEN %(status)s = 'DELIVERED' THEN now() END,
    locked_until = NULL, lock_token = NULL
WHERE id = %(id)s AND lock_token = %(token)s
"""

# What a callback needs that its row does not keep: the job's callback and secrets
# as they are now, and the execution to show (the job's latest for a row that
# names none).
_JOB = """
SELECT tags, on_failure, on_success, secrets, paused_reason FROM jobs WHERE id = %(job_id)s
"""
_EXECUTION = """
SELECT * FROM executions
WHERE id = COALESCE(%(execution_id)s, (
    SELECT id FROM executions WHERE job_id = %(job_id)s ORDER BY start_time DESC, id DESC LIMIT 1
))
"""


def lease_due(db, lease_seconds: float, limit: int) -> list[Leased]:
    params = {"lease_seconds": lease_seconds, "limit": limit}
    with db.connection_context():
        rows = db.execute_sql(LEASE_DUE, params).fetchall()
    return [Leased(*row) for row in rows]


def finish(
    db,
    leased: Leased,
    delivered: bool,
    status_code: int | None = None,
    error: str | None = None,
    final: bool = False,
) -> bool:
    """Record an attempt's outcome (`final`: a failure no attempt would change);
    False when the lease had lapsed (another sender has the callback now)."""
    retry_in = None if delivered or final else backoff(leased.attempt)
    status = "DELIVERED" if delivered else ("PENDING" if retry_in is not None else "FAILED")
    params = {
        "id": leased.id,
        "token": leased.lock_token,
        "status": status,
        "status_code": status_code,
        "error": error,
        "retry_in": retry_in,
    }
    with db.connection_context():
        return db.execute_sql(FINISH_IF_LEASED, params).rowcount == 1


@dataclass(frozen=True)
class ToSend:
    """A leased callback with what sending it needs, read as the job is now."""

    callback: dict  # {"url", "headers"}, "***" for its secrets
    secrets: bytes | None  # the job's sealed secrets
    body: dict


def to_send(db, leased: Leased) -> ToSend | None:
    """What the outbox row does not keep: the job's callback and secrets as they
    are now, and the execution to show. None when there is nothing to send: the
    job's callback for the event was removed since (a deleted job takes the row
    with it)."""
    params = {"job_id": leased.job_id, "execution_id": leased.execution_id}
    with db.connection_context():
        job = db.execute_sql(_JOB, params).fetchone()
        cursor = db.execute_sql(_EXECUTION, params)
        found = cursor.fetchone()
        columns = [column.name for column in cursor.description]
    if job is None:
        return None
    tags, on_failure, on_success, secrets, paused_reason = job
    callback = on_success if leased.event == "execution.succeeded" else on_failure
    if callback is None:
        return None
    # An unbound model only to be shown as the API shows it: workers bind none.
    execution = Execution(**dict(zip(columns, found, strict=True))) if found else None
    body = payload(
        leased.event,
        leased.job_id,
        list(tags or []),
        shown_execution(execution) if execution is not None else None,
        leased.dead_letter_id,
        paused_reason,
    )
    return ToSend(callback, bytes(secrets) if secrets is not None else None, body)


def of_execution(db, execution_id: int) -> dict | None:
    """How the execution's callback went, as GET /v1/executions/{id} shows it."""
    statement = """
    SELECT event, status, attempts, status_code, last_error, delivered_at, next_attempt_at
    FROM callbacks WHERE execution_id = %(id)s ORDER BY id DESC LIMIT 1
    """
    with db.connection_context():
        row = db.execute_sql(statement, {"id": execution_id}).fetchone()
    if row is None:
        return None
    event, status, attempts, status_code, error, delivered_at, next_at = row
    return {
        "event": event,
        "status": status,
        "attempts": attempts,
        "status_code": status_code,
        "last_error": error,
        "delivered_at": timestamp(delivered_at),
        "next_attempt_at": timestamp(next_at) if status == "PENDING" else None,
    }

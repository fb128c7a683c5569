"""Claim, lease, finish and release: the claim protocol over a peewee database.

Every call borrows a pooled connection for its statements only. Every change
after the claim is fenced by the lock token; a stale caller is told so (a False,
a None, a smaller set) and never changes a job another claimer holds.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app import queries
from app.schedule import Schedule, run_after


@dataclass(frozen=True)
class Claim:
    """One claimed slot of one job, as carried by a run message.

    `manual`: the slot is a run requested through the API (run now), which leaves
    the job's schedule as it is.
    """

    job_id: uuid.UUID
    token: uuid.UUID
    scheduled_for: datetime
    manual: bool = False


@dataclass(frozen=True)
class Definition:
    """What to run and how, read under the claim when an attempt starts."""

    type: str
    http_job: dict | None
    amqp_job: dict | None
    retry_policy: dict | None = None
    timeout: float | None = None  # seconds per attempt; None: the configured default
    misfire_grace: float | None = None  # seconds a slot may start late; None: any
    secrets: bytes | None = None  # sealed; the payloads hold "***" in their place


@dataclass(frozen=True)
class Outcome:
    """How one execution of a slot ended, to be recorded."""

    delivery_id: uuid.UUID
    start_time: datetime  # of the first attempt
    end_time: datetime
    status: str  # SUCCESSFUL, FAILED or SKIPPED
    attempts: int
    error_message: str | None = None
    status_code: int | None = None
    response_excerpt: str | None = None


def claim_due(db, owner: str, max_jobs: int, lock_seconds: float) -> list[Claim]:
    """Claim due jobs for `owner`, keeping its unfinished claims within `max_jobs`."""
    params = {"owner": owner, "max_jobs": max_jobs, "lock_seconds": lock_seconds}
    with db.connection_context(), db.atomic():
        rows = db.execute_sql(queries.CLAIM_DUE, params).fetchall()
    return [Claim(*row) for row in rows]


def lease(db, claim: Claim, lock_seconds: float) -> Definition | None:
    """Renew `claim` for `lock_seconds` and read its job; None if the claim is stale."""
    params = {"job_id": claim.job_id, "token": claim.token, "lock_seconds": lock_seconds}
    with db.connection_context():
        row = db.execute_sql(queries.LEASE, params).fetchone()
    return Definition(*row) if row else None


def extend_leases(db, claims: Iterable[Claim], lock_seconds: float) -> set[uuid.UUID]:
    """Renew many claims at once; the job ids whose claim is still held."""
    claims = list(claims)
    if not claims:
        return set()
    params = {
        "job_ids": [c.job_id for c in claims],
        "tokens": [c.token for c in claims],
        "lock_seconds": lock_seconds,
    }
    with db.connection_context():
        rows = db.execute_sql(queries.EXTEND_LEASES, params).fetchall()
    return {row[0] for row in rows}


def finish(db, claim: Claim, outcome: Outcome) -> bool:
    """Record `outcome` and, if `claim` still holds, move its job to the next run.

    One transaction: the execution is recorded even when the claim went stale (the
    delivery happened), but only the holder advances and releases the job, using
    the job's definition as it is now. False when stale or the job was deleted.
    """
    with db.connection_context(), db.atomic():
        row = db.execute_sql(queries.LOCK_FOR_FINISH, {"job_id": claim.job_id}).fetchone()
        if row is None:
            return False
        execute_at, cron, timezone, starts_at, ends_at, max_runs, runs, now = row
        db.execute_sql(queries.RECORD_EXECUTION, _record(claim, outcome))
        served = int(not claim.manual and outcome.status != "SKIPPED")
        schedule = Schedule(execute_at, cron, timezone, starts_at, ends_at, max_runs)
        cursor = db.execute_sql(
            queries.ADVANCE,
            {
                "job_id": claim.job_id,
                "token": claim.token,
                "manual": claim.manual,
                "served": served,
                "next_run": run_after(schedule, claim.scheduled_for, now, runs + served),
            },
        )
        return cursor.rowcount == 1


def _record(claim: Claim, outcome: Outcome) -> dict:
    return {
        "job_id": claim.job_id,
        "delivery_id": outcome.delivery_id,
        "scheduled_for": claim.scheduled_for,
        "manual": claim.manual,
        "start_time": outcome.start_time,
        "end_time": outcome.end_time,
        "status": outcome.status,
        "attempts": outcome.attempts,
        "error_message": outcome.error_message,
        "status_code": outcome.status_code,
        "response_excerpt": outcome.response_excerpt,
        "lag_ms": _millis(outcome.start_time - claim.scheduled_for),
        "duration_ms": _millis(outcome.end_time - outcome.start_time),
    }


def _millis(delta) -> int:
    return round(delta.total_seconds() * 1000)


def release(db, claims: Iterable[Claim]) -> None:
    """Give claims back unrun, so that the next tick claims them again."""
    claims = list(claims)
    if not claims:
        return
    params = {"job_ids": [c.job_id for c in claims], "tokens": [c.token for c in claims]}
    with db.connection_context():
        db.execute_sql(queries.RELEASE, params)

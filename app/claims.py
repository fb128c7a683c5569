"""Claim, lease, finish and release: the claim protocol over a peewee database.

Every call borrows a pooled connection for its statements only. Every change
after the claim is fenced by the lock token; a stale caller is told so (a False,
a None, a smaller set) and never changes a job another claimer holds.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

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
class Basis:
    """A job's schedule and the slots it has served, as read when an attempt
    started: what the finish computes the next run from, if they still hold."""

    schedule: Schedule
    runs: int


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
    basis: Basis | None = None


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


@dataclass(frozen=True)
class Finishing:
    """One execution to finish; with no basis, the next run is computed from the
    job as it is when finishing. The attempt key (of the attempt that started it)
    makes a finish tried again record nothing more."""

    claim: Claim
    outcome: Outcome
    basis: Basis | None = None
    attempt_key: uuid.UUID | None = None


@dataclass(frozen=True)
class Claimed:
    """What one claim found: the claims made, the capacity left for them, and the
    seconds until the next future slot (None: no job has one)."""

    claims: list[Claim]
    free: int
    next_due_in: float | None


def claim_due(db, owner: str, max_jobs: int, lock_seconds: float) -> Claimed:
    """Claim due jobs for `owner`, keeping its unfinished claims within `max_jobs`."""
    params = {"owner": owner, "max_jobs": max_jobs, "lock_seconds": lock_seconds}
    with db.connection_context():
        rows = db.execute_sql(queries.CLAIM_DUE, params).fetchall()
    [(*_, free, next_due_in)] = [row for row in rows if row[0] is None]
    return Claimed([Claim(*row[:4]) for row in rows if row[0] is not None], free, next_due_in)


def lease(db, claim: Claim, lease_seconds: float) -> Definition | None:
    """`lease_all` of one claim, renewed only."""
    return lease_all(db, [(claim, None)], lease_seconds)[0]


def lease_all(
    db, held: Sequence[tuple[Claim, uuid.UUID | None]], lease_seconds: float
) -> list[Definition | None]:
    """Renew each claim for `lease_seconds` and read its job, in one statement.

    A claim given with an attempt key starts that attempt, unless another attempt
    holds the claim; None for a claim that is stale or held by another attempt.
    """
    if not held:
        return []
    params = {
        "job_ids": [claim.job_id for claim, _ in held],
        "tokens": [claim.token for claim, _ in held],
        "keys": [key for _, key in held],
        "lock_seconds": lease_seconds,
    }
    with db.connection_context():
        rows = db.execute_sql(queries.LEASE, params).fetchall()
    leased = {(job_id, token): _definition(row) for job_id, token, *row in rows}
    return [leased.get((claim.job_id, claim.token)) for claim, _ in held]


def hold_for_retry(db, claim: Claim, attempt_key: uuid.UUID, seconds: float) -> bool:
    """Keep `claim` for `seconds` more and end its attempt, so that a retry can
    start; False if the claim or the attempt is no longer held."""
    params = {
        "job_id": claim.job_id,
        "token": claim.token,
        "key": attempt_key,
        "lock_seconds": seconds,
    }
    with db.connection_context():
        return db.execute_sql(queries.HOLD_FOR_RETRY, params).rowcount == 1


def _definition(row) -> Definition:
    *definition, execute_at, cron, timezone, starts_at, ends_at, max_runs, runs = row
    schedule = Schedule(execute_at, cron, timezone, starts_at, ends_at, max_runs)
    return Definition(*definition, basis=Basis(schedule, runs))


def extend_leases(db, held: Iterable[Claim], lease_seconds: float) -> set[uuid.UUID]:
    """Renew many claims at once; the job ids whose claim is still held."""
    held = list(held)
    leased = lease_all(db, [(claim, None) for claim in held], lease_seconds)
    return {c.job_id for c, definition in zip(held, leased, strict=True) if definition}


def finish(db, claim: Claim, outcome: Outcome, basis: Basis | None = None, **kwargs) -> bool:
    """`finish_all` of one execution."""
    return finish_all(db, [Finishing(claim, outcome, basis)], **kwargs)[0]


def finish_all(
    db, batch: Sequence[Finishing], now: datetime | None = None, wake_within: float = 0.0
) -> list[bool]:
    """Record each outcome and, where its claim still holds, move the job to its next run.

    The execution is recorded even when the claim went stale (the delivery
    happened), but only the holder advances and releases the job, by the job's
    schedule as it is now. One statement for the whole batch when each basis still
    holds; one more transaction for each finish whose basis does not. Ticks are
    woken if a job is now due within `wake_within` seconds. For each finish: False
    when its claim was stale or its job deleted.
    """
    now = now or datetime.now(UTC)
    with db.connection_context():
        rows = db.execute_sql(queries.FINISH, _batch(batch, now, wake_within)).fetchall()
    advanced = {(job_id, token) for job_id, token in rows}
    return [
        (f.claim.job_id, f.claim.token) in advanced or _advance_as_it_is(db, f, wake_within)
        for f in batch
    ]


def _advance_as_it_is(db, finishing: Finishing, wake_within: float) -> bool:
    with db.connection_context(), db.atomic():
        row = db.execute_sql(queries.LOCK_FOR_FINISH, {"job_id": finishing.claim.job_id}).fetchone()
        if row is None:
            return False
        execute_at, cron, timezone, starts_at, ends_at, max_runs, runs, now = row
        basis = Basis(Schedule(execute_at, cron, timezone, starts_at, ends_at, max_runs), runs)
        params = _batch([replace(finishing, basis=basis)], now, wake_within)
        return bool(db.execute_sql(queries.ADVANCE, params).fetchall())


def _batch(batch: Sequence[Finishing], now: datetime, wake_within: float) -> dict:
    """FINISH's parameters."""
    return {
        "finished": json.dumps([_row(f, now) for f in batch], default=str),
        "job_ids": [f.claim.job_id for f in batch],
        "wake_within": wake_within,
    }


def _row(finishing: Finishing, now: datetime) -> dict:
    claim, outcome, basis = finishing.claim, finishing.outcome, finishing.basis
    served = int(not claim.manual and outcome.status != "SKIPPED")
    schedule = basis.schedule if basis else Schedule()
    return {
        "job_id": claim.job_id,
        "token": claim.token,
        "delivery_id": outcome.delivery_id,
        "scheduled_for": claim.scheduled_for,
        "manual": claim.manual,
        "start_time": outcome.start_time,
        "end_time": outcome.end_time,
        "status": outcome.status,
        "attempts": outcome.attempts,
        "error_message": _storable(outcome.error_message),
        "status_code": outcome.status_code,
        "response_excerpt": _storable(outcome.response_excerpt),
        "lag_ms": _millis(outcome.start_time - claim.scheduled_for),
        "duration_ms": _millis(outcome.end_time - outcome.start_time),
        "attempt_key": finishing.attempt_key,
        "next_run": run_after(schedule, claim.scheduled_for, now, basis.runs + served)
        if basis
        else None,
        "served": served,
        "execute_at": schedule.execute_at,
        "cron_schedule": schedule.cron,
        "timezone": schedule.timezone,
        "starts_at": schedule.starts_at,
        "ends_at": schedule.ends_at,
        "max_runs": schedule.max_runs,
        "runs": basis.runs if basis else None,  # null matches no job: no basis to check
    }


def _storable(text: str | None) -> str | None:
    """`text` without NUL, which PostgreSQL text cannot hold (a target may answer
    with any bytes, and a record that cannot be written would retry forever)."""
    return text.replace("\x00", "\ufffd") if text else text


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

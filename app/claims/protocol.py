"""Claim, start, renew, hold for retry, finish and release: the claim protocol over
a peewee database (docs/design.md, "The claim lifecycle").

Every call borrows a pooled connection for its statements only. Every change
after the claim is fenced by the claim's token; a stale caller is told so (a
False, a None, a smaller set) and never changes a job another claimer holds.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime

from app.claims import statements
from app.claims.values import Basis, Claim, Claimed, Definition, Finishing, Outcome
from app.timing.schedule import (
    Schedule,
    after_overlap,
    came_during,
    delivery_id,
    planned,
    run_after,
)


def claim_due(db, owner: str, max_jobs: int, lock_seconds: float, ahead: float = 0.0) -> Claimed:
    """Claim jobs without a flow key due within `ahead` seconds for `owner`,
    keeping its unfinished claims within `max_jobs`; says whether any flow key
    exists (`claim_flows` then claims the jobs with one)."""
    params = {"owner": owner, "max_jobs": max_jobs, "lock_seconds": lock_seconds, "ahead": ahead}
    with db.connection_context():
        rows = db.execute_sql(statements.CLAIM_DUE, params).fetchall()
    [(*_, free, next_due_in, flows, runs_expired)] = [row for row in rows if row[0] is None]
    claims = [Claim(*row[:7]) for row in rows if row[0] is not None]
    return Claimed(claims, free, next_due_in, flows, runs_expired)


def claim_flows(db, owner: str, free: int, lock_seconds: float, ahead: float = 0.0) -> Claimed:
    """Claim up to `free` jobs with a flow key due within `ahead` seconds for
    `owner`, as far as their keys' limits allow; `next_due_in` is the seconds
    until a key held back by its rate may start again or the next slot of such a
    job comes, whichever is first (None: neither)."""
    params = {"owner": owner, "free": free, "lock_seconds": lock_seconds, "ahead": ahead}
    with db.connection_context(), db.atomic():
        keys = [key for (key,) in db.execute_sql(statements.LOCK_FLOWS_DUE, params)]
        rows = db.execute_sql(statements.CLAIM_DUE_FLOWS, {**params, "keys": keys}).fetchall()
    [(*_, wait)] = [row for row in rows if row[0] is None]
    return Claimed([Claim(*row[:7]) for row in rows if row[0] is not None], free, wait)


def claim_expired_runs(db, owner: str, free: int, lock_seconds: float) -> Claimed:
    """Claim again up to `free` runs whose holder is gone, for `owner`."""
    params = {"owner": owner, "free": free, "lock_seconds": lock_seconds}
    with db.connection_context():
        rows = db.execute_sql(statements.CLAIM_EXPIRED_RUNS, params).fetchall()
    return Claimed([Claim(*row, detached=True) for row in rows], free, None)


def detach(
    db, claim: Claim, attempt_key: uuid.UUID, definition: Definition, lock_seconds: float
) -> Claim | int:
    """Let an execution of a job whose overlap policy is 'allow' run beside the
    job's next ones: move the job on and give its claim back, and hold the
    execution by a run of its own. The run's claim; or, not detached, the count
    of the job's runs (at its max_concurrent, the slot is to be skipped; below
    it, the claim was stale or the schedule changed: the execution runs under
    the job's claim, as under any other policy)."""
    now = datetime.now(UTC)
    started = Outcome(uuid.uuid4(), now, now, "STARTED", 0)
    params = _batch([Finishing(claim, started, definition.basis, attempt_key)], now, 0.0)
    params.update(fire_at=claim.fire_at, lock_seconds=lock_seconds)
    with db.connection_context():
        token, runs = db.execute_sql(statements.DETACH_IF_HELD, params).fetchone()
    return runs if token is None else replace(claim, token=token, detached=True)


def start_flow_attempt(db, key: str) -> float:
    """Seconds a retry of a claim with flow key `key` must wait for the key's rate;
    0.0 when it may start now, and is then counted."""
    with db.connection_context():
        row = db.execute_sql(statements.START_FLOW_ATTEMPT, {"key": key}).fetchone()
    return 0.0 if row is None else max(row[0], 0.0)


def start_attempt(
    db, claim: Claim, attempt_key: uuid.UUID, lock_seconds: float
) -> Definition | None:
    """`start_attempts` of one claim."""
    return start_attempts(db, [(claim, attempt_key)], lock_seconds)[0]


def start_attempts(
    db, attempts: Sequence[tuple[Claim, uuid.UUID]], lock_seconds: float
) -> list[Definition | None]:
    """Start each attempt (a claim and the attempt's key): renew the claim for
    `lock_seconds` and read its job, in one statement.

    None for a claim that is stale, or held by another attempt (a copy of a
    message whose first consumer may still be running it).
    """
    if not attempts:
        return []
    started = {}
    for detached, part in _by_holder(attempts, lambda attempt: attempt[0]):
        statement = _STATEMENTS["start"][detached]
        params = _held([claim for claim, _ in part], lock_seconds)
        params["keys"] = [key for _, key in part]
        with db.connection_context():
            rows = db.execute_sql(statement, params).fetchall()
        started.update({(job_id, token): _definition(row) for job_id, token, *row in rows})
    return [started.get((claim.job_id, claim.token)) for claim, _ in attempts]


_STATEMENTS = {  # of the job's claim, and of a run's
    "start": (statements.START_ATTEMPTS_IF_HELD, statements.START_RUNS_IF_HELD),
    "renew": (statements.RENEW_IF_HELD, statements.RENEW_RUNS_IF_HELD),
    "hold": (statements.HOLD_FOR_RETRY_IF_HELD, statements.HOLD_RUN_FOR_RETRY_IF_HELD),
    "finish": (statements.FINISH_MANY, statements.FINISH_RUNS),
    "release": (statements.RELEASE_IF_HELD, statements.RELEASE_RUNS_IF_HELD),
}


def _by_holder(items: Iterable, claim_of=lambda claim: claim) -> list[tuple[bool, list]]:
    """`items` parted by what holds their claims: (False, those of the job's
    claim), (True, those of a run's), each there only if not empty."""
    parts: dict[bool, list] = {}
    for item in items:
        parts.setdefault(claim_of(item).detached, []).append(item)
    return list(parts.items())


def hold_for_retry(db, claim: Claim, attempt_key: uuid.UUID, seconds: float) -> bool:
    """Keep `claim` for `seconds` more and end its attempt, so that a retry can
    start; False if the claim or the attempt is no longer held."""
    params = {
        "job_id": claim.job_id,
        "token": claim.token,
        "key": attempt_key,
        "lock_seconds": seconds,
    }
    statement = _STATEMENTS["hold"][claim.detached]
    with db.connection_context():
        return db.execute_sql(statement, params).rowcount == 1


# A started row ends with the schedule's columns, in Schedule's order, then runs.
_SCHEDULE_COLUMNS = len(fields(Schedule))


def _definition(row) -> Definition:
    *definition, runs = row
    schedule = Schedule(*definition[-_SCHEDULE_COLUMNS:])
    return Definition(*definition[:-_SCHEDULE_COLUMNS], basis=Basis(schedule, runs))


def renew(db, held: Iterable[Claim], lock_seconds: float) -> set[uuid.UUID]:
    """Renew many claims for `lock_seconds`, in one statement (two with runs'
    claims among them); the job ids whose claim is still held."""
    kept = set()
    for detached, part in _by_holder(held):
        params = _held(part, lock_seconds)
        with db.connection_context():
            rows = db.execute_sql(_STATEMENTS["renew"][detached], params).fetchall()
        kept.update(job_id for (job_id,) in rows)
    return kept


def finish(db, claim: Claim, outcome: Outcome, basis: Basis | None = None, **kwargs) -> bool:
    """`finish_many` of one execution."""
    return finish_many(db, [Finishing(claim, outcome, basis)], **kwargs)[0]


def finish_many(
    db, batch: Sequence[Finishing], now: datetime | None = None, wake_within: float = 0.0
) -> list[bool]:
    """Record each outcome and, where its claim still holds, move the job to its next run.

    The execution is recorded even when the claim went stale (the delivery
    happened), but only the holder advances and releases the job, by the job's
    schedule as it is now. One statement for the whole batch when each basis still
    holds; one more transaction for each finish whose basis does not. A run's
    finish ends the run (its job moved on when it started). Ticks are woken if a
    job is now due within `wake_within` seconds. For each finish: False when its
    claim was stale or its job deleted.
    """
    now = now or datetime.now(UTC)
    ended = set()
    for detached, part in _by_holder(batch, lambda finishing: finishing.claim):
        params = _batch(part, now, wake_within)
        with db.connection_context():
            rows = db.execute_sql(_STATEMENTS["finish"][detached], params).fetchall()
        ended.update((job_id, token) for job_id, token in rows)
    return [
        (f.claim.job_id, f.claim.token) in ended
        or (not f.claim.detached and _advance_as_it_is(db, f, wake_within))
        for f in batch
    ]


def _advance_as_it_is(db, finishing: Finishing, wake_within: float) -> bool:
    with db.connection_context(), db.atomic():
        params = {"job_id": finishing.claim.job_id}
        row = db.execute_sql(statements.SCHEDULE_FOR_UPDATE, params).fetchone()
        if row is None:
            return False
        *schedule, runs, now = row
        basis = Basis(Schedule(*schedule), runs)
        params = _batch([replace(finishing, basis=basis)], now, wake_within)
        return bool(db.execute_sql(statements.ADVANCE_IF_HELD, params).fetchall())


def _batch(batch: Sequence[Finishing], now: datetime, wake_within: float) -> dict:
    """FINISH_MANY's parameters."""
    return {
        "finished": json.dumps([_row(f, now) for f in batch], default=str),
        "job_ids": [f.claim.job_id for f in batch],
        "wake_within": wake_within,
    }


def _row(finishing: Finishing, now: datetime) -> dict:
    claim, outcome, basis = finishing.claim, finishing.outcome, finishing.basis
    served = int(not claim.manual and outcome.status != "SKIPPED")
    schedule = basis.schedule if basis else Schedule()
    following = basis and run_after(schedule, claim.scheduled_for, now, basis.runs + served)
    came = []
    if basis and served:  # a scheduled slot that ran: which slots came meanwhile
        start = max(claim.scheduled_for, outcome.start_time)
        came = came_during(schedule, start, outcome.end_time, basis.runs + served)
    following, skipped = after_overlap(schedule, came, following)
    next_run, next_slot = planned(schedule, claim.job_id, following)
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
        # A redrive starts long after its slot, by an operator's choice: not lateness.
        "lag_ms": None
        if claim.redrive_of is not None
        else _millis(outcome.start_time - claim.fires),
        "duration_ms": _millis(outcome.end_time - outcome.start_time),
        # A finish without one is recorded as it comes (its dead letter joins on it).
        "attempt_key": finishing.attempt_key or uuid.uuid4(),
        "error_kind": outcome.error_kind,
        "error_detail": _storable(outcome.error_detail),
        "request": outcome.request,
        "redrive_of": claim.redrive_of,
        "callback": finishing.callback,
        "job_version": finishing.job_version,
        "next_run": next_run,
        "next_slot": next_slot,
        "served": served,
        "execute_at": schedule.execute_at,
        "cron_schedule": schedule.cron,
        "timezone": schedule.timezone,
        "starts_at": schedule.starts_at,
        "ends_at": schedule.ends_at,
        "max_runs": schedule.max_runs,
        "jitter": schedule.jitter,
        "overlap": schedule.overlap,
        "runs": basis.runs if basis else None,  # null matches no job: no basis to check
        "skipped": [
            {"slot": slot, "delivery_id": delivery_id(claim.job_id, slot)} for slot in skipped
        ]
        or None,
    }


def _storable(text: str | None) -> str | None:
    """`text` without NUL, which PostgreSQL text cannot hold (a target may answer
    with any bytes, and a record that cannot be written would retry forever)."""
    return text.replace("\x00", "\ufffd") if text else text


def _millis(delta) -> int:
    return round(delta.total_seconds() * 1000)


def release(db, claims: Iterable[Claim]) -> None:
    """Give claims back unrun, so that the next tick claims them again."""
    for detached, part in _by_holder(claims):
        with db.connection_context():
            db.execute_sql(_STATEMENTS["release"][detached], _held(part))


def _held(claims: Sequence[Claim], lock_seconds: float | None = None) -> dict:
    """The parameters naming held claims: their job ids (also locked in id order)
    and tokens, and how long to hold them."""
    return {
        "job_ids": [c.job_id for c in claims],
        "tokens": [c.token for c in claims],
        "lock_seconds": lock_seconds,
    }

"""Dead letters: the FAILED executions kept to act on, and their redrive
(docs/design.md, "Failures: dead letters, redrive, callbacks, pauses").

The claim protocol writes them (FINISH_MANY records a dead letter with each
FAILED execution, and marks one redriven) and runs redrives (CLAIM_DUE takes a
job's oldest pending redrive); this module reads them, asks for redrives and
deletes them. A redrive is asked for as a run now is: the dead letter is marked
pending and the job requested (`run_requested_at`), and the tick claims it.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import audit
from app.audit import Actor, Entry
from app.db.wakeup import WAKE
from app.errors import Conflict, InvalidJob, JobNotFound
from app.jobs.models import DeadLetter, Job
from app.jobs.spec import parse_timestamp, parse_uuid

MAX_IDS = 1000


@dataclass(frozen=True)
class Selector:
    """Which dead letters a bulk action takes: by id, or by job and failure time."""

    ids: tuple[int, ...] = ()
    job_id: uuid.UUID | None = None
    since: datetime | None = None  # failed at or after
    until: datetime | None = None  # failed before


def parse_selector(body: Any) -> Selector:
    """The selector of a bulk redrive or delete: `ids`, or any of `job_id`, `from`,
    `to`; at least one, so that nothing acts on every dead letter by accident."""
    if not isinstance(body, dict):
        raise InvalidJob("request body must be a JSON object")
    ids = body.get("ids")
    if ids is not None:
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids
        ):
            raise InvalidJob("ids must be an array of dead letter ids")
        if len(ids) > MAX_IDS:
            raise InvalidJob(f"ids: at most {MAX_IDS} at once")
    selector = Selector(
        tuple(ids or ()),
        parse_uuid(body.get("job_id"), "job_id"),
        parse_timestamp(body.get("from"), "from"),
        parse_timestamp(body.get("to"), "to"),
    )
    if not ids and selector == Selector(ids=selector.ids):
        raise InvalidJob("give ids, or at least one of job_id, from and to")
    return selector


def list_dead_letters(
    limit: int,
    job_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
) -> list[DeadLetter]:
    """Newest first; `after`: only those older than that dead letter (keyset paging)."""
    query = DeadLetter.select()
    if job_id is not None:
        query = query.where(DeadLetter.job == job_id)
    if since is not None:
        query = query.where(DeadLetter.failed_at >= since)
    if until is not None:
        query = query.where(DeadLetter.failed_at < until)
    if after is not None:
        query = query.where(DeadLetter.id < after)
    return list(query.order_by(DeadLetter.id.desc()).limit(limit))


def get_dead_letter(dead_letter_id: int) -> DeadLetter:
    found = DeadLetter.get_or_none(DeadLetter.id == dead_letter_id)
    if found is None:
        raise JobNotFound(f"dead letter {dead_letter_id} not found")
    return found


def redrive(db, dead_letter_id: int, now: datetime, by: Actor) -> DeadLetter:
    """Ask for the dead letter's delivery to run again: refused while its job is
    executing (as a run now is; not with overlap policy 'allow') and once a
    redrive succeeded; asking again while one is pending changes nothing."""
    job_id = get_dead_letter(dead_letter_id).job_id
    with db.atomic():
        # Jobs before dead letters, as the finish locks them.
        job = Job.select().where(Job.id == job_id).for_update().get_or_none()
        dead = DeadLetter.select().where(DeadLetter.id == dead_letter_id).for_update().get_or_none()
        if job is None or dead is None:
            raise JobNotFound(f"dead letter {dead_letter_id} not found")
        if dead.redriven_at is not None:
            raise Conflict(
                f"dead letter {dead_letter_id} was redriven successfully "
                f"(execution {dead.redrive_execution_id})"
            )
        if dead.redrive_requested_at is not None:
            return dead
        if job.busy(now):
            raise Conflict(f"job {job_id} is executing; try again when it has finished")
        db.execute_sql(_REQUEST, {"ids": [dead_letter_id], "now": now})
        db.execute_sql(WAKE)
        audit.record(db, by, now, _redriven(job_id, [dead_letter_id]))
    return get_dead_letter(dead_letter_id)


def _redriven(job_id: uuid.UUID, ids: list[int]) -> Entry:
    return Entry("redrive", job_id, changes={"dead_letter_ids": ids})


def _where(selector: Selector) -> tuple[str, dict]:
    """The WHERE clause (over dead_letters AS d) and parameters of a selector."""
    clauses, params = [], {}
    if selector.ids:
        clauses.append("d.id = ANY(%(ids)s::bigint[])")
        params["ids"] = list(selector.ids)
    if selector.job_id is not None:
        clauses.append("d.job_id = %(job_id)s")
        params["job_id"] = selector.job_id
    if selector.since is not None:
        clauses.append("d.failed_at >= %(since)s")
        params["since"] = selector.since
    if selector.until is not None:
        clauses.append("d.failed_at < %(until)s")
        params["until"] = selector.until
    return " AND ".join(clauses), params


# Mark dead letters pending a redrive, and their jobs requested, locking the jobs
# first in id order (as every statement that changes many jobs does). A job's
# run_requested_at stays its earliest request, so a run now asked before runs first.
_REQUEST = """
WITH chosen AS (
    SELECT d.id, d.job_id FROM dead_letters AS d
    WHERE d.id = ANY(%(ids)s::bigint[])
), locked AS (
    SELECT id FROM jobs WHERE id IN (SELECT job_id FROM chosen) ORDER BY id FOR NO KEY UPDATE
), marked AS (
    UPDATE dead_letters AS d SET redrive_requested_at = %(now)s
    WHERE d.id IN (SELECT id FROM chosen) AND d.job_id IN (SELECT id FROM locked)
      AND d.redrive_requested_at IS NULL AND d.redriven_at IS NULL
    RETURNING d.id, d.job_id
), requested AS (
    UPDATE jobs SET run_requested_at = COALESCE(run_requested_at, %(now)s)
    WHERE id IN (SELECT job_id FROM marked)
)
SELECT job_id, array_agg(id ORDER BY id) FROM marked GROUP BY job_id
"""


def redrive_many(db, selector: Selector, now: datetime, by: Actor) -> int:
    """Ask for a redrive of every dead letter the selector takes that is neither
    redriven nor pending; how many. Those of a job executing run after it."""
    where, params = _where(selector)
    with db.atomic():
        chosen = f"SELECT d.id FROM dead_letters AS d WHERE {where} ORDER BY d.id"
        ids = [row[0] for row in db.execute_sql(chosen, params).fetchall()]
        if not ids:
            return 0
        marked = db.execute_sql(_REQUEST, {"ids": ids, "now": now}).fetchall()
        db.execute_sql(WAKE)
        audit.record(db, by, now, *(_redriven(job_id, ids) for job_id, ids in marked))
    return sum(len(ids) for _, ids in marked)


def delete(db, dead_letter_id: int, now: datetime, by: Actor) -> None:
    """Delete one, unless its redrive is pending (the job is requested for it)."""
    dead = get_dead_letter(dead_letter_id)
    if dead.redrive_requested_at is not None:
        raise Conflict(f"dead letter {dead_letter_id} has a redrive pending; delete it once run")
    delete_many(db, Selector(ids=(dead_letter_id,)), now, by)


# Delete what a selector takes but those with a redrive pending; the ids by job.
_DELETE = """
WITH gone AS (
    DELETE FROM dead_letters AS d WHERE {where} AND d.redrive_requested_at IS NULL
    RETURNING d.id, d.job_id
)
SELECT job_id, array_agg(id ORDER BY id) FROM gone GROUP BY job_id
"""


def delete_many(db, selector: Selector, now: datetime, by: Actor) -> int:
    """Delete what the selector takes but those with a redrive pending; how many."""
    where, params = _where(selector)
    with db.atomic():
        gone = db.execute_sql(_DELETE.format(where=where), params).fetchall()
        entries = (
            Entry("dead_letter_delete", job_id, changes={"dead_letter_ids": ids})
            for job_id, ids in gone
        )
        audit.record(db, by, now, *entries)
    return sum(len(ids) for _, ids in gone)


def pending_redrives(job_id: uuid.UUID) -> bool:
    return (
        DeadLetter.select()
        .where((DeadLetter.job == job_id) & DeadLetter.redrive_requested_at.is_null(False))
        .exists()
    )

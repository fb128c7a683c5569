"""Rows of the jobs and executions tables read and changed behind the API's back, as
time passing or a worker would, and the outcomes a worker records."""

import uuid
from datetime import UTC, datetime

from app.claims import Claim, Outcome
from app.jobs.models import Execution, Job
from app.timing.schedule import delivery_id

LOCK = 60.0  # seconds a claim of these tests lasts


def stored(db, job_id: uuid.UUID | str) -> Job:
    with db.connection_context():
        return Job.get_by_id(uuid.UUID(str(job_id)))


def set_row(db, job_id: uuid.UUID | str, **fields) -> None:
    with db.connection_context():
        Job.update(**fields).where(Job.id == uuid.UUID(str(job_id))).execute()


def executions(db, job_id: uuid.UUID | str) -> list[Execution]:
    """The job's executions, oldest first."""
    with db.connection_context():
        query = Execution.select().where(Execution.job == uuid.UUID(str(job_id)))
        return list(query.order_by(Execution.id))


def outcome(claim: Claim, status: str = "SUCCESSFUL", attempts: int = 1) -> Outcome:
    """An execution of `claim` that ended now, as the worker records it."""
    now = datetime.now(UTC)
    return Outcome(delivery_id(claim.job_id, claim.scheduled_for), now, now, status, attempts)

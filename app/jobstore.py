"""The API's reads and writes of jobs and executions."""

import uuid
from datetime import datetime

from app.errors import JobNotFound
from app.jobspec import JobSpec, apply_update, parse_create
from app.models import Execution, Job
from app.schedule import Schedule, first_run


def spec_of(job: Job) -> JobSpec:
    return JobSpec(
        type=job.type,
        schedule=Schedule(execute_at=job.execute_at, cron=job.cron_schedule, timezone=job.timezone),
        http_job=job.http_job,
        amqp_job=job.amqp_job,
        tags=list(job.tags or []),
    )


def create_job(db, body, now: datetime) -> Job:
    spec = parse_create(body, now)
    with db.atomic():
        return Job.create(
            id=uuid.uuid4(),
            type=spec.type,
            status="RUNNING",
            execute_at=spec.schedule.execute_at,
            cron_schedule=spec.schedule.cron,
            timezone=spec.schedule.timezone,
            http_job=spec.http_job,
            amqp_job=spec.amqp_job,
            tags=spec.tags,
            next_run=first_run(spec.schedule, now),
            created_at=now,
            updated_at=now,
        )


def get_job(job_id: uuid.UUID) -> Job:
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    return job


def list_jobs(limit: int, offset: int, tags: list[str]) -> list[Job]:
    query = Job.select()
    if tags:
        query = query.where(Job.tags.contains(*tags))
    return list(query.order_by(Job.created_at, Job.id).limit(limit).offset(offset))


def update_job(db, job_id: uuid.UUID, body, now: datetime) -> Job:
    """Apply a partial update; next_run follows a changed schedule at once.

    A run in flight is not disturbed: it finishes under the definition it
    started with, and its finish computes the next run from this new definition.
    """
    with db.atomic():
        job = Job.select().where(Job.id == job_id).for_update().get_or_none()
        if job is None:
            raise JobNotFound(f"job {job_id} not found")
        before = spec_of(job)
        spec = apply_update(before, body, now)
        job.type = spec.type
        job.http_job = spec.http_job
        job.amqp_job = spec.amqp_job
        job.tags = spec.tags
        if spec.schedule != before.schedule:
            job.execute_at = spec.schedule.execute_at
            job.cron_schedule = spec.schedule.cron
            job.timezone = spec.schedule.timezone
            job.next_run = first_run(spec.schedule, now)
        job.updated_at = now
        job.save()
        return job


def delete_job(job_id: uuid.UUID) -> None:
    if Job.delete().where(Job.id == job_id).execute() == 0:
        raise JobNotFound(f"job {job_id} not found")


def list_executions(
    job_id: uuid.UUID, failed_only: bool, limit: int, offset: int
) -> list[Execution]:
    get_job(job_id)
    query = Execution.select().where(Execution.job == job_id)
    if failed_only:
        query = query.where(Execution.status == "FAILED")
    order = (Execution.start_time.desc(), Execution.id.desc())
    return list(query.order_by(*order).limit(limit).offset(offset))
